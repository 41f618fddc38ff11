"""Shared fixtures: a real herald process per test module, the official server library
(pusher-http-python) pointed at it, Pysher WebSocket subscribers, and a small channel-auth
endpoint built on ``pusher.Pusher.authenticate``.

Every wait is bounded by WAIT seconds and fails the test on timeout.
"""

import json
import logging
import os
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pusher
import pysher
import pytest

HERE = Path(__file__).resolve().parent
# Everything here talks to 127.0.0.1; keep a proxy from the caller's environment out of the way.
_no_proxy = ",".join(filter(None, [os.environ.get("NO_PROXY", ""), "127.0.0.1", "localhost"]))
os.environ["NO_PROXY"] = os.environ["no_proxy"] = _no_proxy

WAIT = 5.0  # seconds to wait for any one expected frame
STARTUP_DEADLINE = 15.0

APP_ID, APP_KEY, APP_SECRET = "1001", "app-key", "app-secret"  # client_events = true
APP2_ID, APP2_KEY, APP2_SECRET = "1002", "app-key-2", "app-secret-2"  # client_events = false


def unique(prefix):
    """A channel name no other test uses, so tests sharing one server stay independent."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _herald_bin():
    path = Path(os.environ.get("HERALD_BIN", HERE / ".." / ".." / "target" / "debug" / "herald"))
    if not path.is_file():
        pytest.exit(f"herald binary not found at {path}: run `cargo build` first (or set HERALD_BIN)", returncode=2)
    return path


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CONFIG_TEMPLATE = """\
host = "127.0.0.1"
port = {port}
activity_timeout = 120
shutdown_grace_period = 1
log = "warn"

[[apps]]
id = "{app_id}"
key = "{app_key}"
secret = "{app_secret}"
client_events = true
{app1_extra}

[[apps]]
id = "{app2_id}"
key = "{app2_key}"
secret = "{app2_secret}"
client_events = false
"""


class Herald:
    """One running herald process."""

    def __init__(self, workdir, app1_extra=""):
        self.workdir = workdir
        self.app1_extra = app1_extra  # more TOML for app 1001 (e.g. [[apps.webhooks]] tables)
        self.port = None
        self.proc = None
        self.log_path = workdir / "herald.log"

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.port}"

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def start(self):
        binary = _herald_bin()
        # A stray HERALD_* variable in the caller's environment would override the test config.
        env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
        for attempt in range(3):  # the free port may be taken between probing and binding
            self.port = _free_port()
            config = self.workdir / "herald.toml"
            config.write_text(CONFIG_TEMPLATE.format(
                port=self.port, app_id=APP_ID, app_key=APP_KEY, app_secret=APP_SECRET,
                app2_id=APP2_ID, app2_key=APP2_KEY, app2_secret=APP2_SECRET, app1_extra=self.app1_extra))
            log = open(self.log_path, "wb")
            self.proc = subprocess.Popen([str(binary), "--config", str(config)],
                                         stdout=log, stderr=subprocess.STDOUT, env=env)
            log.close()
            if self._wait_up():
                return
            if self.proc.poll() is None:
                self.stop()
                pytest.fail(f"herald did not answer GET /up within {STARTUP_DEADLINE}s; log:\n{self.log()}")
            if "cannot listen" not in self.log() or attempt == 2:
                pytest.fail(f"herald exited with status {self.proc.returncode}; log:\n{self.log()}")

    def _wait_up(self):
        deadline = time.monotonic() + STARTUP_DEADLINE
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"{self.base_url}/up", timeout=0.5) as resp:
                    if resp.status == 200:
                        return True
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)  # polling interval for a readiness probe, not a wait for an event
        return False

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


@pytest.fixture(scope="module")
def herald(tmp_path_factory):
    server = Herald(tmp_path_factory.mktemp("herald"))
    server.start()
    yield server
    server.stop()


def _api(herald, app_id, key, secret):
    return pusher.Pusher(app_id=app_id, key=key, secret=secret, host="127.0.0.1", port=herald.port, ssl=False)


@pytest.fixture(scope="module")
def api(herald):
    """pusher-http-python client for app 1001."""
    return _api(herald, APP_ID, APP_KEY, APP_SECRET)


@pytest.fixture(scope="module")
def api2(herald):
    """pusher-http-python client for app 1002 (client events disabled)."""
    return _api(herald, APP2_ID, APP2_KEY, APP2_SECRET)


@pytest.fixture(scope="module")
def make_api(herald):
    """Builds a pusher-http-python client with arbitrary credentials against this server."""
    return lambda app_id, key, secret: _api(herald, app_id, key, secret)


class Subscriber:
    """A Pysher client plus a record of every frame the server sent it.

    Frames are recorded by wrapping Pysher's own message callback before it connects, so a frame
    is seen even if it arrives before Pysher has registered the channel object (Pysher sends
    ``pusher:subscribe`` before it stores the channel, so channel.bind() alone could miss a fast
    ``subscription_succeeded``). Pysher still parses, dispatches and answers every frame itself.
    """

    def __init__(self, port, key, **pysher_options):
        self.client = pysher.Pusher(key, custom_host="127.0.0.1", port=port, secure=False,
                                    log_level=logging.WARNING, **pysher_options)
        self.frames = []
        self._cond = threading.Condition()
        self.established = threading.Event()
        self.closed = threading.Event()
        self.close_code = None
        self.socket_id = None
        conn = self.client.connection
        original = conn._on_message

        def on_message(*args):
            frame = json.loads(args[-1])
            with self._cond:
                self.frames.append(frame)
                self._cond.notify_all()
            original(*args)

        original_close = conn._on_close

        def on_close(*args):  # websocket-client calls on_close(ws, close_status_code, close_msg)
            self.close_code = args[1] if len(args) >= 3 else None
            self.closed.set()
            original_close(*args)

        # Both are read by Connection._connect() when it creates the WebSocketApp.
        conn._on_message = on_message
        conn._on_close = on_close
        conn.bind("pusher:connection_established", lambda _data: self.established.set())

    def connect(self):
        self.client.connect()
        assert self.established.wait(WAIT), (
            f"Pysher got no pusher:connection_established within {WAIT}s; frames: {self.frames}")
        self.socket_id = self.client.connection.socket_id
        return self

    def wait_for(self, predicate, what, timeout=WAIT, start=0):
        """The first recorded frame from index `start` on matching `predicate`; fails after
        `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for frame in self.frames[start:]:
                    if predicate(frame):
                        return frame
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"timed out after {timeout}s waiting for {what}; frames seen: {self.frames}")
                self._cond.wait(remaining)

    def mark(self):
        """The index the next recorded frame will have."""
        with self._cond:
            return len(self.frames)

    def wait_event(self, channel, event, timeout=WAIT):
        return self.wait_for(lambda f: f.get("event") == event and f.get("channel") == channel,
                             f"{event!r} on {channel!r}", timeout)

    def events(self, channel, event):
        with self._cond:
            return [f for f in self.frames if f.get("event") == event and f.get("channel") == channel]

    def subscribe(self, channel, auth=None):
        """Pysher subscribes (signing private/presence itself when it has the secret or an auth
        endpoint); returns the Pysher channel once the server confirmed, fails on an error."""
        start = self.mark()
        ch = self.client.subscribe(channel, auth=auth)
        frame = self.subscription_outcome(channel, start)
        assert frame["event"] == "pusher_internal:subscription_succeeded", (
            f"subscribing to {channel!r} failed: {frame}")
        return ch

    def subscription_outcome(self, channel, start, timeout=WAIT):
        """The server's first answer, among frames from index `start`, to subscribing to
        `channel`: subscription_succeeded or pusher:subscription_error for that channel, or a
        pusher:error (which carries no channel)."""
        return self.wait_for(
            lambda f: (f.get("event") in ("pusher_internal:subscription_succeeded", "pusher:subscription_error")
                       and f.get("channel") == channel) or f.get("event") == "pusher:error",
            f"the answer to subscribing to {channel!r}", timeout, start)

    def close(self):
        # Pysher's disconnect closes the WebSocket synchronously (websocket-client sends the close
        # frame and waits for the server's), then joins its reader thread. That thread can sit in
        # websocket-client's select() for Pysher's 100 s ping_timeout after the socket is closed
        # under it, so the join is kept short; the thread is a daemon and holds no socket.
        self.client.disconnect(timeout=0.2)


@pytest.fixture
def connect(herald):
    """connect(key=APP_KEY, **pysher_options) -> a connected Subscriber; all closed at teardown."""
    made = []

    def _connect(key=APP_KEY, **pysher_options):
        sub = Subscriber(herald.port, key, **pysher_options)
        made.append(sub)
        return sub.connect()

    yield _connect
    for sub in made:
        sub.close()


class AuthEndpoint:
    """The app's channel-auth endpoint, as an app would write it with pusher-http-python.

    Pysher POSTs form fields ``socket_id`` and ``channel_name`` and uses the ``auth`` of the JSON
    answer. Each registered user gets its own URL; for presence channels the endpoint signs that
    user's data with ``Pusher.authenticate(custom_data=...)``.
    """

    def __init__(self, api):
        self.api = api
        self.users = {}
        self.requests = []  # every (socket_id, channel_name) the endpoint was asked to sign
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                form = urllib.parse.parse_qs(self.rfile.read(length).decode())
                token = self.path.rsplit("/", 1)[-1]
                channel, socket_id = form["channel_name"][0], form["socket_id"][0]
                endpoint.requests.append({"channel_name": channel, "socket_id": socket_id})
                if channel.startswith("presence-"):
                    answer = endpoint.api.authenticate(channel=channel, socket_id=socket_id,
                                                       custom_data=endpoint.users[token])
                else:
                    answer = endpoint.api.authenticate(channel=channel, socket_id=socket_id)
                body = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url_for(self, user_data):
        """An endpoint URL that authorizes as `user_data` (the same dict Pysher gets as user_data,
        so Pysher's channel_data and the signed string are the same JSON)."""
        token = uuid.uuid4().hex
        self.users[token] = user_data
        return f"http://127.0.0.1:{self.server.server_port}/auth/{token}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def auth_endpoint(api):
    endpoint = AuthEndpoint(api)
    yield endpoint
    endpoint.close()
