"""Publish each packet as one JSON message to an MQTT broker."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np

from edgespeed import Input, MissingDependency, Node, Param


class Broker:
    """The broker params and client of `sink.mqtt` and `source.mqtt` (a mixin for a Node)."""

    host: str = Param("127.0.0.1", doc="broker host")
    port: int = Param(1883, ge=1, le=65535, doc="broker port")
    username: str | None = Param(None, doc="broker user name")
    password: str | None = Param(None, doc="broker password")
    tls: bool = Param(False, doc="connect with TLS")
    ca_file: Path | None = Param(None, doc="CA certificate of the broker")
    cert_file: Path | None = Param(None, doc="client certificate")
    key_file: Path | None = Param(None, doc="client key")
    backoff_min_s: float = Param(0.5, gt=0, doc="first reconnect delay")
    backoff_max_s: float = Param(30.0, gt=0, doc="longest reconnect delay")

    def broker_client(self: Any, client_id: str, clean_session: bool = True) -> Any:
        """A paho client with this node's credentials, TLS and backoff (not connected yet)."""
        try:
            import paho.mqtt.client as mqtt
            from paho.mqtt.enums import CallbackAPIVersion
        except ImportError as e:
            raise MissingDependency("paho-mqtt", "mqtt") from e
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean_session)
        c.reconnect_delay_set(self.backoff_min_s, self.backoff_max_s)
        if self.username is not None:
            c.username_pw_set(self.username, self.password)
        if self.tls:
            c.tls_set(ca_certs=_s(self.ca_file), certfile=_s(self.cert_file), keyfile=_s(self.key_file))
        c.on_connect = self._broker_connected
        c.on_disconnect = lambda *_: self.log.warning("broker %s:%d went away; reconnecting", self.host, self.port)
        self._broker = c
        return c

    def _broker_connected(self: Any, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            self.log.warning("broker %s:%d refused the connection: %s", self.host, self.port, reason)
            return
        self.counters["connects"] += 1
        self.on_broker_connect(client)

    def on_broker_connect(self, client: Any) -> None:
        """Called in the client's thread on each (re)connect."""

    def broker_start(self: Any, wait_s: float = 5.0) -> None:
        """Connect in the background; give a reachable broker its first connect before packets flow."""
        c = self._broker
        c.connect_async(self.host, self.port, keepalive=10)
        c.loop_start()
        end = time.monotonic() + wait_s
        while not c.is_connected() and time.monotonic() < end:
            time.sleep(0.02)

    def broker_stop(self: Any) -> None:
        self._broker.disconnect()
        self._broker.loop_stop()  # no more callbacks: the counters are ours again


class MqttSink(Broker, Node):
    """Publish each packet as one JSON message: `{node, stream, seq, ts_ns, pts_ns, data}`.

    Arrays are written as (nested) lists, dicts and lists as they are. A message larger than
    `max_bytes` is not sent and is counted as `oversize`. The client connects in the background
    and reconnects with exponential backoff; while the broker is away, up to `backlog` messages
    wait in order (QoS 1 only; with QoS 0 they are dropped and counted) and are sent once it is
    back, also those sent but not yet acknowledged when it went away. When the buffer is full, new messages are dropped and
    counted as `dropped`. At end-of-stream the sink waits up to `drain_s` for what is buffered.

    Counters: `published`, `dropped`, `oversize`, `connects`.

    Ports:
        data (in): anything JSON can hold, numpy arrays and scalars included.

    Params:
        host: the broker's host name or address (default 127.0.0.1).
        port: the broker's port (default 1883; 8883 is usual with TLS).
        topic: the topic; `{node}` is replaced by this node's id and `{stream}` by `stream`
            (default edgespeed/{node}).
        stream: the stream's name for the topic and the message (default main).
        qos: 0 (at most once) or 1 (at least once: nothing buffered is lost) (default 1).
        retain: ask the broker to keep the last message for new subscribers (default false).
        username, password: broker credentials (default none).
        tls: connect with TLS (default false); `ca_file` (the broker's CA; default the system's),
            `cert_file` and `key_file` (a client certificate, if the broker asks for one).
        backlog: messages kept while the broker is away or slow (default 10000).
        max_bytes: the largest message, in bytes (default 262144).
        backoff_min_s, backoff_max_s: the reconnect delay starts at the first and doubles up
            to the second, in seconds (defaults 0.5 and 30).
        drain_s: at end-of-stream, how long to wait for buffered messages, in seconds (default 10).

    Example:
        ```yaml
        - id: alerts
          type: sink.mqtt
          params: {host: broker.local, topic: "site1/{node}/{stream}", stream: door, qos: 1}
          inputs: {data: counter/events}
        ```
    """

    kind = "sink.mqtt"
    data = Input()
    topic: str = Param("edgespeed/{node}", doc="topic; {node} and {stream} are replaced")
    stream: str = Param("main", doc="stream name for the topic and message")
    qos: Literal[0, 1] = Param(1, doc="0 at most once, 1 at least once")
    retain: bool = Param(False, doc="broker keeps the last message")
    backlog: int = Param(10000, ge=1, doc="messages kept while the broker is away")
    max_bytes: int = Param(262144, ge=64, doc="largest message in bytes")
    drain_s: float = Param(10.0, ge=0, doc="end-of-stream wait for buffered messages")

    def setup(self) -> None:
        self._topic = self.topic.replace("{node}", self.id).replace("{stream}", self.stream)
        for name in ("published", "dropped", "oversize", "connects"):
            self.counters.setdefault(name, 0)  # keys made here: the client thread only updates
        c = self.broker_client(f"edgespeed-{self.id}-{id(self):x}")
        c.max_queued_messages_set(self.backlog)  # the client's own queue is the buffer: it resends on reconnect
        c.on_publish = self._on_publish
        import paho.mqtt.client as mqtt

        self._full, self._no_conn = mqtt.MQTT_ERR_QUEUE_SIZE, mqtt.MQTT_ERR_NO_CONN
        self._accepted = 0  # messages the client took; those not yet `published` are in its buffer
        self._client = c
        self.broker_start()

    def process(self, data: Any) -> None:
        env = self.envelope
        if isinstance(data, np.ndarray) and data.size * 2 > self.max_bytes:  # cannot fit: skip the tolist()
            self.count("oversize")
            return None
        msg = {"node": self.id, "stream": self.stream, "data": _plain(data)}
        if env is not None:
            msg.update(seq=env.seq, ts_ns=env.ts_ns, pts_ns=env.pts_ns)
        payload = json.dumps(msg, separators=(",", ":")).encode()
        if len(payload) > self.max_bytes:
            self.count("oversize")
            return None
        info = self._client.publish(self._topic, payload, qos=self.qos, retain=self.retain)
        if info.rc == self._full or (info.rc == self._no_conn and self.qos == 0):  # full, or QoS 0 with no broker
            self.count("dropped")
            return None
        self._accepted += 1
        return None

    def _on_publish(self, *_: Any) -> None:
        self.counters["published"] += 1  # written (QoS 0) or acknowledged (QoS 1); this thread only

    def teardown(self) -> None:
        end = time.monotonic() + self.drain_s
        while self.counters["published"] < self._accepted and time.monotonic() < end:
            time.sleep(0.02)
        self.broker_stop()
        if left := self._accepted - self.counters["published"]:
            self.log.warning("%d messages were not delivered to %s:%d within drain_s", left, self.host, self.port)
            self.count("dropped", left)


def _s(p: Path | None) -> str | None:
    return None if p is None else str(p)


def _plain(v: Any) -> Any:
    """`v` as plain JSON values: arrays as lists, non-finite floats as null."""
    if isinstance(v, np.ndarray):
        return _plain(v.tolist()) if v.dtype.kind == "f" else v.tolist()
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, np.generic):
        return _plain(v.item())
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    return str(v)
