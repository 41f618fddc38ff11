"""extra_keys with the Python libraries: pusher-http-python signs API requests and channel
authorizations with the app's extra key and secret; Pysher connects with the extra key and
subscribes with them; a key paired with another key's secret is refused."""

import pusher.errors
import pytest

from conftest import APP_ID, APP_SECRET, Herald, unique

EXTRA_KEY, EXTRA_SECRET = "app-key-py-extra", "app-secret-py-extra"


@pytest.fixture(scope="module")
def herald(tmp_path_factory):
    server = Herald(tmp_path_factory.mktemp("herald-extra-keys"),
                    app1_extra=f'extra_keys = [{{ key = "{EXTRA_KEY}", secret = "{EXTRA_SECRET}" }}]')
    server.start()
    yield server
    server.stop()


def test_pysher_on_the_extra_key_gets_events_published_with_the_extra_pair(make_api, connect):
    extra = make_api(APP_ID, EXTRA_KEY, EXTRA_SECRET)
    channel = unique("private-py-extra")
    sub = connect(key=EXTRA_KEY, secret=EXTRA_SECRET)
    sub.subscribe(channel)

    extra.trigger(channel, "hello", "from the extra pair")

    assert sub.wait_event(channel, "hello")["data"] == "from the extra pair"


def test_the_extra_key_with_the_main_secret_is_refused_401(make_api):
    mixed = make_api(APP_ID, EXTRA_KEY, APP_SECRET)
    # pusher-http-python raises PusherBadAuth for exactly HTTP 401.
    with pytest.raises(pusher.errors.PusherBadAuth):
        mixed.trigger(unique("py-mixed"), "e", "x")
