"""source.mqtt against a real mosquitto broker on 127.0.0.1: messages in order with their
topics, JSON / text / bytes payloads, a bad payload counted and skipped, and the broker
restarting mid-run (the source reconnects and subscribes again)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from mosquitto import Broker

import edgespeed
from edgespeed.graph import load_text
from edgespeed.graph.validate import check
from edgespeed.runtime.scheduler import Run
from edgespeed.testing import ListSink


@pytest.fixture
def broker(tmp_path: Path) -> Any:
    b = Broker(tmp_path)
    yield b
    b.stop()


def publish(port: int, messages: list[tuple[str, bytes]], qos: int = 1) -> None:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{time.monotonic_ns()}")
    c.connect("127.0.0.1", port)
    c.loop_start()
    try:
        for topic, payload in messages:
            c.publish(topic, payload, qos=qos).wait_for_publish(5)
    finally:
        c.disconnect()
        c.loop_stop()


def start(port: int, **params: Any) -> tuple[Run, None, None]:
    g = edgespeed.Graph("mqtt_in")
    src = g.add("source.mqtt", id="cmd", host="127.0.0.1", port=port, backoff_min_s=0.1, backoff_max_s=0.5, **params)
    g.add("testing.list_sink", id="sink", data=src.messages)
    run = Run(check(load_text(g.to_yaml())))
    run.start()
    subscribed(run, 1)  # a message published before the broker acknowledged the subscription is not ours
    return run, None, None


def subscribed(run: Run, n: int) -> None:
    wait_for(lambda: run.snapshot()["nodes"]["cmd"].get("counters", {}).get("subscribed", 0) >= n)


def wait_for(cond: Any, timeout_s: float = 10) -> None:
    end = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.05)


def test_messages_arrive_in_order_with_their_topics(broker: Broker) -> None:
    run, _, _ = start(broker.port, topics=["site/+/cmd"], qos=1)
    try:
        publish(broker.port, [(f"site/{i % 2}/cmd", json.dumps({"n": i}).encode()) for i in range(20)]
                + [("site/0/other", b"{}")])  # not subscribed
        wait_for(lambda: len(ListSink.collected.get("sink", [])) >= 20)
    finally:
        run.stop()
        result = run.wait(10)
    msgs = ListSink.collected["sink"]
    assert [m["data"]["n"] for m in msgs] == list(range(20))
    assert [m["topic"] for m in msgs[:2]] == ["site/0/cmd", "site/1/cmd"] and msgs[0]["qos"] == 1
    assert result.ok and result.report["nodes"]["cmd"]["counters"]["received"] == 20


@pytest.mark.parametrize("fmt, payload, want", [("text", "héllo".encode(), "héllo"), ("bytes", b"\x00\xff", b"\x00\xff")])
def test_text_and_bytes_payloads(broker: Broker, fmt: str, payload: bytes, want: Any) -> None:
    run, _, _ = start(broker.port, topics=["t"], format=fmt)
    try:
        publish(broker.port, [("t", payload)])
        wait_for(lambda: len(ListSink.collected.get("sink", [])) >= 1)
    finally:
        run.stop()
        run.wait(10)
    assert ListSink.collected["sink"][0]["data"] == want


def test_a_payload_that_is_not_json_is_counted_and_skipped(broker: Broker) -> None:
    run, _, _ = start(broker.port, topics=["t"])
    try:
        publish(broker.port, [("t", b"not json"), ("t", b"[1, 2]")])
        wait_for(lambda: len(ListSink.collected.get("sink", [])) >= 1)
        time.sleep(0.2)
    finally:
        run.stop()
        result = run.wait(10)
    assert [m["data"] for m in ListSink.collected["sink"]] == [[1, 2]]
    assert result.report["nodes"]["cmd"]["counters"]["bad_payload"] == 1


def test_the_source_reconnects_and_subscribes_again_after_the_broker_restarts(broker: Broker) -> None:
    run, _, _ = start(broker.port, topics=["t"])
    try:
        publish(broker.port, [("t", b"1")])
        wait_for(lambda: len(ListSink.collected.get("sink", [])) >= 1)
        broker.stop()
        time.sleep(1.0)
        broker.start()
        subscribed(run, 2)  # reconnected and subscribed again
        publish(broker.port, [("t", b"2")])
        wait_for(lambda: len(ListSink.collected["sink"]) >= 2)
    finally:
        run.stop()
        result = run.wait(10)
    assert result.ok
    assert result.report["nodes"]["cmd"]["counters"]["connects"] >= 2
    assert [m["data"] for m in ListSink.collected["sink"]] == [1, 2]
