"""How herald authenticates pusher-http-python's signed requests (spec §5.2, §5.5, §7.3)."""

import hashlib
import time
import types

import pusher.errors
import pusher.http
import pytest

from conftest import APP2_KEY, APP2_SECRET, APP_ID, APP_KEY, APP_SECRET, unique

EMPTY_BODY_MD5 = hashlib.md5(b"").hexdigest()  # d41d8cd98f00b204e9800998ecf8427e


def test_get_requests_carry_and_sign_body_md5_of_the_empty_body(api, connect):
    channel = unique("py-md5")
    connect().subscribe(channel)
    client = api._pusher_client
    # The exact requests the library's GET helpers send (built, not yet sent).
    requests = [
        client.channels_info.make_request(None, []),
        client.channel_info.make_request(channel, ["subscription_count"]),
    ]
    for request in requests:
        assert request.method == "GET"
        assert request.body == b""
        assert request.query_params["body_md5"] == EMPTY_BODY_MD5

    listed, shown = (client.http.send_request(request) for request in requests)

    assert listed["channels"][channel] == {}
    assert shown == {"occupied": True, "subscription_count": 1}


def test_wrong_secret_is_refused_with_401(make_api):
    bad = make_api(APP_ID, APP_KEY, "not-the-secret")

    # pusher-http-python raises PusherBadAuth for exactly HTTP 401.
    with pytest.raises(pusher.errors.PusherBadAuth):
        bad.trigger(unique("py-bad-secret"), "py-event", "data")
    with pytest.raises(pusher.errors.PusherBadAuth):
        bad.channels_info()


def test_request_refused_for_a_wrong_secret_publishes_nothing(make_api, api, connect):
    channel = unique("py-bad-secret-silent")
    sub = connect()
    sub.subscribe(channel)

    with pytest.raises(pusher.errors.PusherBadAuth):
        make_api(APP_ID, APP_KEY, "not-the-secret").trigger(channel, "py-forged", "data")

    api.trigger(channel, "py-marker", "after")
    sub.wait_event(channel, "py-marker")
    assert sub.events(channel, "py-forged") == []


def test_credentials_of_another_app_are_refused_with_401(make_api):
    # App 1002's own key and secret, used on app 1001's URL.
    with pytest.raises(pusher.errors.PusherBadAuth):
        make_api(APP_ID, APP2_KEY, APP2_SECRET).trigger(unique("py-cross-app"), "py-event", "data")


def test_unknown_app_id_gives_404(make_api):
    # Any status but 200/202/400/401/403 becomes PusherBadStatus("<status>: <body>").
    with pytest.raises(pusher.errors.PusherBadStatus) as refused:
        make_api("9999", APP_KEY, APP_SECRET).trigger(unique("py-no-app"), "py-event", "data")
    assert str(refused.value).startswith("404:")


def test_timestamp_older_than_600_seconds_is_refused_with_401(api, monkeypatch):
    stale = time.time() - 700
    monkeypatch.setattr(pusher.http, "time", types.SimpleNamespace(time=lambda: stale))

    with pytest.raises(pusher.errors.PusherBadAuth):
        api.trigger(unique("py-stale"), "py-event", "data")


def test_events_stay_within_their_app(api, api2, connect):
    channel = unique("py-isolated")  # the same channel name in both apps
    in_app1 = connect()
    in_app1.subscribe(channel)
    in_app2 = connect(key=APP2_KEY)
    in_app2.subscribe(channel)

    api2.trigger(channel, "py-app2-only", "for app 1002")
    assert in_app2.wait_event(channel, "py-app2-only")["data"] == "for app 1002"

    api.trigger(channel, "py-marker", "for app 1001")
    in_app1.wait_event(channel, "py-marker")
    assert in_app1.events(channel, "py-app2-only") == []
