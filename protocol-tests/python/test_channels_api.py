"""pusher-http-python channel queries against herald, with channels populated by Pysher
(spec §5.3 GET channels / channel / users, §2.8 presence semantics, §3.2 presence signatures).

Presence members authenticate through an app endpoint that answers with
``pusher.Pusher.authenticate(channel, socket_id, custom_data=...)``; Pysher sends the signature
it gets back together with its own ``channel_data``."""

import json

import pusher.errors
import pytest

from conftest import unique


def join_presence(connect, auth_endpoint, channel, user_id, name=None):
    """A Pysher client in `channel` as user `user_id`, authorized by the app's auth endpoint."""
    user_data = {"user_id": user_id, "user_info": {"name": name or f"user {user_id}"}}
    sub = connect(auth_endpoint=auth_endpoint.url_for(user_data), user_data=user_data)
    sub.subscribe(channel)
    return sub


def test_presence_subscription_through_an_authenticate_endpoint_lists_the_members(connect, auth_endpoint):
    channel = unique("presence-py-members")
    join_presence(connect, auth_endpoint, channel, "alice", "Alice")
    bob = join_presence(connect, auth_endpoint, channel, "bob", "Bob")

    frame = bob.wait_event(channel, "pusher_internal:subscription_succeeded")
    presence = json.loads(frame["data"])["presence"]
    assert sorted(presence["ids"]) == ["alice", "bob"]
    assert presence["hash"] == {"alice": {"name": "Alice"}, "bob": {"name": "Bob"}}
    assert presence["count"] == 2
    assert {"channel_name": channel, "socket_id": bob.socket_id} in auth_endpoint.requests


def test_channels_info_with_presence_prefix_reports_user_count_per_channel(api, connect, auth_endpoint):
    room_a, room_b = unique("presence-py-room-a"), unique("presence-py-room-b")
    public = unique("py-public-not-presence")
    join_presence(connect, auth_endpoint, room_a, "u1")
    join_presence(connect, auth_endpoint, room_a, "u2")
    join_presence(connect, auth_endpoint, room_b, "u3")
    connect().subscribe(public)

    result = api.channels_info(prefix_filter="presence-", attributes=["user_count"])

    channels = result["channels"]
    assert channels[room_a] == {"user_count": 2}
    assert channels[room_b] == {"user_count": 1}
    assert all(name.startswith("presence-") for name in channels)
    assert public not in channels


def test_channels_info_without_filter_lists_occupied_channels_only(api, connect):
    occupied = unique("py-occupied")
    connect().subscribe(occupied)
    empty = unique("py-never-subscribed")

    channels = api.channels_info()["channels"]

    assert channels[occupied] == {}
    assert empty not in channels


def test_channel_info_reports_occupied_and_subscription_count(api, connect):
    channel = unique("py-info")
    connect().subscribe(channel)
    connect().subscribe(channel)

    assert api.channel_info(channel, ["subscription_count"]) == {"occupied": True, "subscription_count": 2}


def test_channel_info_of_an_unoccupied_channel_is_not_occupied(api):
    assert api.channel_info(unique("py-empty"), ["subscription_count"]) == {"occupied": False, "subscription_count": 0}


def test_channel_info_of_a_presence_channel_reports_user_count(api, connect, auth_endpoint):
    channel = unique("presence-py-count")
    join_presence(connect, auth_endpoint, channel, "carol")
    join_presence(connect, auth_endpoint, channel, "dave")

    assert api.channel_info(channel, ["user_count"]) == {"occupied": True, "user_count": 2}


def test_user_count_counts_a_user_with_two_connections_once(api, connect, auth_endpoint):
    channel = unique("presence-py-twice")
    join_presence(connect, auth_endpoint, channel, "erin")
    join_presence(connect, auth_endpoint, channel, "erin")
    join_presence(connect, auth_endpoint, channel, "frank")

    info = api.channel_info(channel, ["user_count", "subscription_count"])

    assert info == {"occupied": True, "user_count": 2, "subscription_count": 3}


def test_users_info_lists_each_presence_member_once(api, connect, auth_endpoint):
    channel = unique("presence-py-users")
    for user in ("gina", "hank", "hank"):
        join_presence(connect, auth_endpoint, channel, user)

    users = api.users_info(channel)["users"]

    assert sorted(u["id"] for u in users) == ["gina", "hank"]
    assert all(set(u) == {"id"} for u in users)


def test_member_leaving_is_removed_from_users_info(api, connect, auth_endpoint):
    channel = unique("presence-py-leave")
    stays = join_presence(connect, auth_endpoint, channel, "ivy")
    leaves = join_presence(connect, auth_endpoint, channel, "jack")

    leaves.close()
    removed = stays.wait_event(channel, "pusher_internal:member_removed")

    assert json.loads(removed["data"]) == {"user_id": "jack"}
    assert api.users_info(channel) == {"users": [{"id": "ivy"}]}
    assert api.channel_info(channel, ["user_count"]) == {"occupied": True, "user_count": 1}


def test_users_info_of_a_non_presence_channel_is_refused_with_400(api, connect):
    channel = unique("py-not-presence")
    connect().subscribe(channel)

    with pytest.raises(pusher.errors.PusherBadRequest):
        api.users_info(channel)
