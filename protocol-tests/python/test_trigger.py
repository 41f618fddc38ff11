"""pusher-http-python `trigger` / `trigger_batch` against herald, received by Pysher
(spec §5.3 trigger and batch_events, §5.4 delivery, §2.9 channel events, §7.3)."""

import json
import threading

import pusher.errors
import pytest

from conftest import WAIT, unique


def test_trigger_to_one_channel_reaches_subscriber_with_data_unchanged(api, connect):
    channel = unique("py-one")
    sub = connect()
    sub.subscribe(channel)
    data = json.dumps({"text": "héllo ✓ \"quoted\" \\ back", "n": [1, 2.5, None, True], "nested": {"a": {}}})

    assert api.trigger(channel, "py-event", data) == {}

    frame = sub.wait_event(channel, "py-event")
    assert frame["data"] == data


def test_trigger_with_a_dict_arrives_as_the_json_string_the_library_encoded(api, connect):
    channel = unique("py-dict")
    sub = connect()
    sub.subscribe(channel)
    payload = {"message": "hi", "count": 3}

    api.trigger(channel, "py-dict-event", payload)

    frame = sub.wait_event(channel, "py-dict-event")
    assert isinstance(frame["data"], str)
    assert json.loads(frame["data"]) == payload


def test_trigger_to_several_channels_reaches_every_subscriber(api, connect):
    one, two, three = unique("py-multi-1"), unique("py-multi-2"), unique("py-multi-3")
    a = connect()
    a.subscribe(one)
    b = connect()
    b.subscribe(two)
    b.subscribe(three)
    data = json.dumps({"to": "many"})

    assert api.trigger([one, two, three], "py-multi", data) == {}

    assert a.wait_event(one, "py-multi")["data"] == data
    assert b.wait_event(two, "py-multi")["data"] == data
    assert b.wait_event(three, "py-multi")["data"] == data


def test_trigger_with_socket_id_skips_that_connection_only(api, connect):
    channel = unique("py-exclude")
    excluded = connect()
    excluded.subscribe(channel)
    other = connect()
    other.subscribe(channel)

    api.trigger(channel, "py-excluded", "not for the sender", socket_id=excluded.socket_id)
    assert other.wait_event(channel, "py-excluded")["data"] == "not for the sender"

    # Events to one connection are delivered in order: once a later event has arrived, the
    # excluded one would already have arrived too.
    api.trigger(channel, "py-marker", "for everyone")
    excluded.wait_event(channel, "py-marker")
    assert excluded.events(channel, "py-excluded") == []


def test_pysher_receives_a_triggered_event_through_channel_bind(api, connect):
    channel = unique("py-bind")
    sub = connect()
    pysher_channel = sub.subscribe(channel)
    received = []
    arrived = threading.Event()

    def handler(data):
        received.append(data)
        arrived.set()

    pysher_channel.bind("py-bound", handler)

    api.trigger(channel, "py-bound", "hello pysher")

    assert arrived.wait(WAIT), f"Pysher's bound handler was not called within {WAIT}s; frames: {sub.frames}"
    assert received == ["hello pysher"]


def test_trigger_batch_delivers_every_event(api, connect):
    first, second = unique("py-batch-a"), unique("py-batch-b")
    sub = connect()
    sub.subscribe(first)
    sub.subscribe(second)
    batch = [
        {"channel": first if i % 2 == 0 else second, "name": f"py-batch-{i}", "data": json.dumps({"i": i})}
        for i in range(10)
    ]

    assert api.trigger_batch(batch) == {}

    for i in range(10):
        channel = first if i % 2 == 0 else second
        frame = sub.wait_event(channel, f"py-batch-{i}")
        assert json.loads(frame["data"]) == {"i": i}


def test_trigger_batch_of_eleven_events_is_refused_with_400(api, connect):
    channel = unique("py-batch-11")
    sub = connect()
    sub.subscribe(channel)
    batch = [{"channel": channel, "name": "py-too-many", "data": str(i)} for i in range(11)]

    # pusher-http-python raises PusherBadRequest for exactly HTTP 400 (pusher/http.py process_response).
    with pytest.raises(pusher.errors.PusherBadRequest):
        api.trigger_batch(batch)

    # Nothing of the refused batch was published: a later event arrives alone.
    api.trigger(channel, "py-after-refusal", "marker")
    sub.wait_event(channel, "py-after-refusal")
    assert sub.events(channel, "py-too-many") == []


def test_data_limit_counts_decoded_text_not_the_escapes_the_library_sent(api, connect):
    # pusher-http-python sends non-ASCII as \u escapes (json.dumps' ensure_ascii): 3,000 × 'é'
    # is 18,000 bytes of JSON on the wire but 6,000 bytes of text, within the 10 KB limit;
    # herald relays the escaped literal as sent and the subscriber decodes the same text.
    channel = unique("py-escaped-size")
    sub = connect()
    sub.subscribe(channel)
    within = "é" * 3000 + ' "quoted" \\ ✓'

    assert api.trigger(channel, "py-escaped", within) == {}
    assert sub.wait_event(channel, "py-escaped")["data"] == within

    # 5,200 × 'é' is 10,400 bytes of text: over the limit, however it was escaped.
    with pytest.raises(pusher.errors.PusherBadStatus) as refused:
        api.trigger(channel, "py-escaped-over", "é" * 5200)
    assert str(refused.value).startswith("413:")
