"""User features driven by pusher-http-python: sign-in signed with `authenticate_user`,
`send_to_user` and `terminate_user_connections` (which posts to `/users/{id}/terminate_connections`,
without the `/apps/{id}` prefix) — spec §3.6, §3.8, §3.10, §5.2 table, §7.3.

Pysher has no sign-in API, so the `pusher:signin` frame is sent over Pysher's own connection."""

import json

from conftest import WAIT, unique


def sign_in(api, sub, user_id):
    """Signs `sub` in as `user_id` the way pusher-js does, with the library's user signature."""
    signed = api.authenticate_user(sub.socket_id, {"id": user_id, "user_info": {"name": user_id}})
    start = sub.mark()
    sub.client.connection.send_event("pusher:signin", {"auth": signed["auth"], "user_data": signed["user_data"]})
    frame = sub.wait_for(lambda f: f.get("event") in ("pusher:signin_success", "pusher:error"),
                         "the answer to pusher:signin", start=start)
    assert frame["event"] == "pusher:signin_success", frame
    return frame


def test_signin_signed_by_authenticate_user_succeeds(api, connect):
    user_id = unique("py-user")
    sub = connect()

    frame = sign_in(api, sub, user_id)

    data = frame["data"] if isinstance(frame["data"], dict) else json.loads(frame["data"])
    assert json.loads(data["user_data"])["id"] == user_id


def test_send_to_user_reaches_the_signed_in_connection(api, connect):
    user_id = unique("py-user")
    sub = connect()
    sign_in(api, sub, user_id)
    channel = f"#server-to-user-{user_id}"
    sub.subscribe(channel, auth="")  # what pusher-js sends after signin_success

    api.send_to_user(user_id, "py-direct", "just for you")

    assert sub.wait_event(channel, "py-direct")["data"] == "just for you"


def test_terminate_user_connections_closes_only_that_users_signed_in_connections(api, connect):
    user_id = unique("py-user")
    channel = unique("py-terminate")
    signed_in = connect()
    sign_in(api, signed_in, user_id)
    bystander = connect()
    bystander.subscribe(channel)

    assert api.terminate_user_connections(user_id) == {}

    assert signed_in.closed.wait(WAIT), f"the signed-in connection was not closed within {WAIT}s"
    api.trigger(channel, "py-still-here", "yes")
    assert bystander.wait_event(channel, "py-still-here")["data"] == "yes"
    assert not bystander.closed.is_set()
