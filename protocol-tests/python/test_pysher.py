"""Pysher (protocol 6) as the WebSocket client: handshake, private and presence subscriptions
signed by Pysher itself or by pusher-http-python, and client events
(spec §1.4, §1.8, §2.4–2.8, §3.2, §4)."""

import json
import re

from conftest import APP2_KEY, APP2_SECRET, APP_SECRET, unique


def test_pysher_connects_with_protocol_6_and_gets_a_handshake(connect):
    sub = connect()

    assert "protocol=6" in sub.client.url
    frame = sub.frames[0]
    assert frame["event"] == "pusher:connection_established"
    handshake = json.loads(frame["data"])
    assert re.fullmatch(r"\d+\.\d+", handshake["socket_id"])
    assert handshake["activity_timeout"] == 120
    assert sub.socket_id == handshake["socket_id"]


def test_pysher_ping_is_answered_with_pong(connect):
    # Pysher pings as soon as the socket opens ({"event":"pusher:ping","data":""}).
    sub = connect()

    sub.wait_for(lambda f: f.get("event") == "pusher:pong", "pusher:pong")


def test_private_channel_subscription_signed_by_pysher_with_the_secret(api, connect):
    channel = unique("private-py-secret")
    sub = connect(secret=APP_SECRET)
    sub.subscribe(channel)

    api.trigger(channel, "py-private", "secret stuff")

    assert sub.wait_event(channel, "py-private")["data"] == "secret stuff"


def test_private_channel_subscription_with_auth_from_pusher_authenticate(api, connect):
    channel = unique("private-py-authenticate")
    sub = connect()

    sub.subscribe(channel, auth=api.authenticate(channel=channel, socket_id=sub.socket_id)["auth"])

    assert api.channel_info(channel, ["subscription_count"]) == {"occupied": True, "subscription_count": 1}


def test_private_channel_subscription_through_an_auth_endpoint(connect, auth_endpoint):
    channel = unique("private-py-endpoint")
    sub = connect(auth_endpoint=auth_endpoint.url_for({}))

    sub.subscribe(channel)

    assert {"channel_name": channel, "socket_id": sub.socket_id} in auth_endpoint.requests


def test_private_channel_signed_with_a_wrong_secret_is_refused_and_the_connection_stays_usable(api, connect):
    channel = unique("private-py-forged")
    sub = connect(secret="not-the-secret")
    start = sub.mark()
    sub.client.subscribe(channel)

    outcome = sub.subscription_outcome(channel, start)

    assert outcome["event"] in ("pusher:error", "pusher:subscription_error"), outcome
    assert api.channel_info(channel) == {"occupied": False}
    public = unique("py-after-refusal")
    sub.subscribe(public)  # same socket, still open


def test_presence_subscription_signed_by_pysher_with_the_secret(connect):
    channel = unique("presence-py-secret")
    first = connect(secret=APP_SECRET, user_data={"user_id": "41", "user_info": {"name": "Kim"}})
    first.subscribe(channel)
    second = connect(secret=APP_SECRET, user_data={"user_id": "42", "user_info": {"name": "Lee"}})
    second.subscribe(channel)

    added = first.wait_event(channel, "pusher_internal:member_added")

    assert json.loads(added["data"]) == {"user_id": "42", "user_info": {"name": "Lee"}}
    presence = json.loads(second.wait_event(channel, "pusher_internal:subscription_succeeded")["data"])["presence"]
    assert presence["count"] == 2
    assert presence["hash"] == {"41": {"name": "Kim"}, "42": {"name": "Lee"}}


def test_client_event_is_relayed_to_other_subscribers_but_not_the_sender(api, connect):
    channel = unique("private-py-client")
    sender = connect(secret=APP_SECRET)
    sender_channel = sender.subscribe(channel)
    receiver = connect(secret=APP_SECRET)
    receiver.subscribe(channel)

    sender_channel.trigger("client-typing", {"x": 1, "text": "ü"})

    relayed = receiver.wait_event(channel, "client-typing")
    assert isinstance(relayed["data"], str)
    assert json.loads(relayed["data"]) == {"x": 1, "text": "ü"}
    api.trigger(channel, "py-marker", "after")
    sender.wait_event(channel, "py-marker")
    assert sender.events(channel, "client-typing") == []


def test_client_event_on_presence_carries_the_sender_user_id(connect):
    channel = unique("presence-py-client")
    sender = connect(secret=APP_SECRET, user_data={"user_id": "77", "user_info": {}})
    sender_channel = sender.subscribe(channel)
    receiver = connect(secret=APP_SECRET, user_data={"user_id": "78", "user_info": {}})
    receiver.subscribe(channel)

    sender_channel.trigger("client-hello", {"hi": True})

    relayed = receiver.wait_event(channel, "client-hello")
    assert relayed["user_id"] == "77"
    assert json.loads(relayed["data"]) == {"hi": True}


def test_client_events_are_refused_when_the_app_disables_them(api2, connect):
    channel = unique("private-py-no-client-events")
    sender = connect(key=APP2_KEY, secret=APP2_SECRET)
    sender_channel = sender.subscribe(channel)
    receiver = connect(key=APP2_KEY, secret=APP2_SECRET)
    receiver.subscribe(channel)

    sender_channel.trigger("client-blocked", {"x": 1})

    error = sender.wait_event(None, "pusher:error")
    assert error["data"]["code"] is None
    api2.trigger(channel, "py-marker", "after")
    receiver.wait_event(channel, "py-marker")
    assert receiver.events(channel, "client-blocked") == []
