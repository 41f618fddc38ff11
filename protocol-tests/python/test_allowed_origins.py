"""allowed_origins with Pysher: websocket-client, under Pysher, sends the server's own address
as its Origin (http://127.0.0.1:PORT), which herald lets through as the server's own origin;
a foreign Origin gets pusher:error 4009 and close 4009."""

import json

import pytest
import websocket

from conftest import APP_KEY, WAIT, Herald, unique


@pytest.fixture(scope="module")
def herald(tmp_path_factory):
    server = Herald(tmp_path_factory.mktemp("herald-origins"),
                    app1_extra='allowed_origins = ["https://app.example.com"]')
    server.start()
    yield server
    server.stop()


def test_pysher_connects_and_receives_with_its_default_origin(api, connect):
    sub = connect()
    channel = unique("py-origins")
    sub.subscribe(channel)

    api.trigger(channel, "hello", "through the origin check")

    assert sub.wait_event(channel, "hello")["data"] == "through the origin check"


def test_a_foreign_origin_gets_4009(herald):
    ws = websocket.create_connection(f"ws://127.0.0.1:{herald.port}/app/{APP_KEY}?protocol=7",
                                     origin="https://evil.example", timeout=WAIT)
    try:
        frame = json.loads(ws.recv())
        assert frame["event"] == "pusher:error"
        assert frame["data"]["code"] == 4009
        opcode, payload = ws.recv_data(control_frame=True)
        assert opcode == websocket.ABNF.OPCODE_CLOSE
        assert int.from_bytes(payload[:2], "big") == 4009
    finally:
        ws.close()
