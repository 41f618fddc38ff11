"""herald's webhooks validated by the official Python library's ``validate_webhook``."""

import json
import queue
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pusher
import pytest

from conftest import APP_ID, APP_KEY, APP_SECRET, WAIT, Herald, Subscriber, _api, unique


class Receiver:
    """A real HTTP server recording every webhook request (headers and raw body)."""

    def __init__(self):
        self.requests = queue.Queue()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.requests.put((dict(self.headers.items()), body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def next(self, timeout=WAIT):
        try:
            return self.requests.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"no webhook arrived within {timeout}s")

    def next_about(self, channel, timeout=WAIT):
        """The next webhook whose body mentions `channel` (earlier tests' leaves may arrive)."""
        deadline = time.monotonic() + timeout
        while True:
            headers, body = self.next(max(0.01, deadline - time.monotonic()))
            if channel.encode() in body:
                return headers, body

    def stop(self):
        self.server.shutdown()


@pytest.fixture(scope="module")
def receiver():
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture(scope="module")
def hooked(tmp_path_factory, receiver):
    extra = f'[[apps.webhooks]]\nurl = "http://127.0.0.1:{receiver.port}/hook"\n'
    server = Herald(tmp_path_factory.mktemp("herald-webhooks"), app1_extra=extra)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def subscriber(hooked):
    sub = Subscriber(hooked.port, APP_KEY).connect()
    yield sub
    sub.client.disconnect(timeout=0.2)


def test_validate_webhook_accepts_herald_webhooks(hooked, receiver, subscriber):
    api = _api(hooked, APP_ID, APP_KEY, APP_SECRET)
    channel = unique("py-webhook")
    subscriber.subscribe(channel)
    headers, body = receiver.next_about(channel)
    # The library looks the headers up by these exact names.
    assert headers["X-Pusher-Key"] == APP_KEY
    assert headers["Content-Type"] == "application/json"
    webhook = api.validate_webhook(key=headers["X-Pusher-Key"], signature=headers["X-Pusher-Signature"], body=body.decode())
    assert webhook is not None, "validate_webhook refused herald's webhook"
    assert abs(webhook["time_ms"] - time.time() * 1000) < 60_000
    assert {"name": "channel_occupied", "channel": channel} in webhook["events"]


def test_validate_webhook_refuses_a_tampered_body(hooked, receiver, subscriber):
    api = _api(hooked, APP_ID, APP_KEY, APP_SECRET)
    channel = unique("py-tampered")
    subscriber.subscribe(channel)
    headers, body = receiver.next_about(channel)
    tampered = body.decode().replace(channel, channel + "x")
    assert api.validate_webhook(key=headers["X-Pusher-Key"], signature=headers["X-Pusher-Signature"], body=tampered) is None
    assert api.validate_webhook(key="other-key", signature=headers["X-Pusher-Signature"], body=body.decode()) is None
