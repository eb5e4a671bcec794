"""sink.mqtt against a real mosquitto broker started here on 127.0.0.1: plain, with a password,
with TLS, and restarted mid-run with QoS 1 (nothing buffered is lost)."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from mosquitto import Broker, free_port

import edgespeed


@pytest.fixture
def broker(tmp_path: Path) -> Any:
    b = Broker(tmp_path)
    yield b
    b.stop()


class Subscriber:
    """A durable QoS 1 subscriber collecting JSON messages."""

    def __init__(self, port: int, topic: str, *, tls_ca: Path | None = None, auth: tuple[str, str] | None = None) -> None:
        self.got: list[tuple[str, dict[str, Any]]] = []
        self.ready = threading.Event()
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"sub-{port}", clean_session=False)
        c.reconnect_delay_set(0.1, 0.5)  # type: ignore[arg-type]
        if tls_ca:
            c.tls_set(ca_certs=str(tls_ca))
        if auth:
            c.username_pw_set(*auth)
        c.on_connect = lambda cl, *_: (cl.subscribe(topic, qos=1), self.ready.set())
        c.on_message = lambda _c, _u, m: self.got.append((m.topic, json.loads(m.payload)))
        c.connect("127.0.0.1", port)
        c.loop_start()
        self.client = c
        assert self.ready.wait(10)
        time.sleep(0.2)  # the SUBACK

    def wait(self, n: int, timeout: float = 30) -> None:
        end = time.monotonic() + timeout
        while len({m["seq"] for _, m in self.got}) < n and time.monotonic() < end:
            time.sleep(0.05)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def graph(port: int, count: int, period_s: float, **params: Any) -> edgespeed.Graph:
    g = edgespeed.Graph("mqtt")
    src = g.add("test.array_source", id="src", count=count, shape=[3], period_s=period_s)
    g.add("sink.mqtt", id="pub", data=src.out, host="127.0.0.1", port=port, backoff_min_s=0.1, backoff_max_s=0.5, **params)
    return g


def test_each_packet_is_one_json_message_on_the_expanded_topic(broker: Broker) -> None:
    sub = Subscriber(broker.port, "site/#")
    try:
        result = edgespeed.run(graph(broker.port, 20, 0.0, topic="site/{node}/{stream}", stream="door", qos=0))
        sub.wait(20)
    finally:
        sub.close()
    assert not result.failures
    assert len(sub.got) == 20
    topic, first = sub.got[0]
    assert topic == "site/pub/door"
    assert first["node"] == "pub" and first["stream"] == "door" and first["data"] == [0, 0, 0]
    assert [m["seq"] for _, m in sub.got] == list(range(20))
    assert result.report["nodes"]["pub"]["counters"]["published"] == 20


def test_an_oversize_message_is_counted_not_sent(broker: Broker) -> None:
    g = edgespeed.Graph("big")
    src = g.add("test.array_source", id="src", count=3, shape=[200, 200, 3])
    g.add("sink.mqtt", id="pub", data=src.out, port=broker.port, max_bytes=1024)
    result = edgespeed.run(g)
    assert result.report["nodes"]["pub"]["counters"]["oversize"] == 3


def test_a_broker_restart_mid_run_loses_nothing_with_qos_1(broker: Broker) -> None:
    sub = Subscriber(broker.port, "edgespeed/#")
    n = 80
    runner = threading.Thread(target=lambda: out.append(edgespeed.run(graph(broker.port, n, 0.05, qos=1))))
    out: list[Any] = []
    try:
        runner.start()
        time.sleep(1.0)
        broker.stop()  # packets keep coming: they wait in the sink's buffer
        time.sleep(1.2)
        broker.start()  # same port, same persistent store
        runner.join(60)
        sub.wait(n)
    finally:
        sub.close()
    seqs = {m["seq"] for _, m in sub.got}
    assert seqs == set(range(n)), sorted(set(range(n)) - seqs)
    counters = out[0].report["nodes"]["pub"]["counters"]
    assert counters["dropped"] == 0 and counters["published"] == n and counters["connects"] >= 2


def test_a_full_buffer_drops_and_counts(tmp_path: Path) -> None:
    port = free_port()  # no broker at all: everything waits in the buffer of 5
    result = edgespeed.run(graph(port, 12, 0.0, qos=1, backlog=5, drain_s=0.5))
    counters = result.report["nodes"]["pub"]["counters"]
    assert counters["published"] == 0 and counters["dropped"] == 12  # 7 did not fit, 5 never delivered


def test_username_and_password(tmp_path: Path) -> None:
    pw = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(pw), "edge", "s3cret"], check=True, capture_output=True)
    b = Broker(tmp_path, f"allow_anonymous false\npassword_file {pw}")
    try:
        sub = Subscriber(b.port, "edgespeed/#", auth=("edge", "s3cret"))
        try:
            edgespeed.run(graph(b.port, 5, 0.0, username="edge", password="s3cret"))
            sub.wait(5)
        finally:
            sub.close()
        assert len({m["seq"] for _, m in sub.got}) == 5
        bad = edgespeed.run(graph(b.port, 3, 0.0, username="edge", password="wrong", drain_s=0.5))
        assert bad.report["nodes"]["pub"]["counters"]["connects"] == 0
        assert bad.report["nodes"]["pub"]["counters"]["published"] == 0
    finally:
        b.stop()


def test_tls(tmp_path: Path) -> None:
    def ssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=tmp_path)

    ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=test-ca")
    ssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    (tmp_path / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    ssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.crt",
        "-days", "2", "-extfile", "san.ext")
    b = Broker(tmp_path, f"allow_anonymous true\ncafile {tmp_path / 'ca.crt'}\ncertfile {tmp_path / 'server.crt'}\nkeyfile {tmp_path / 'server.key'}")
    try:
        sub = Subscriber(b.port, "edgespeed/#", tls_ca=tmp_path / "ca.crt")
        try:
            result = edgespeed.run(graph(b.port, 5, 0.0, tls=True, ca_file=str(tmp_path / "ca.crt")))
            sub.wait(5)
        finally:
            sub.close()
        assert not result.failures
        assert len({m["seq"] for _, m in sub.got}) == 5
    finally:
        b.stop()
