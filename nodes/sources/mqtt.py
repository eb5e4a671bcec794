"""Messages from an MQTT broker: commands or sensor readings into a graph."""

from __future__ import annotations

import json
import threading
from collections import deque
from typing import Any, Literal

from edgespeed import Node, Output, Param, Record

from ..sinks.mqtt import Broker


class MqttSource(Broker, Node):
    """Subscribe to `topics` and emit each message as `{topic, data, qos, retain}`.

    `format: json` parses the payload (a payload that is not JSON is counted as `bad_payload`
    and skipped, with a warning for the first few); `text` decodes UTF-8; `bytes` keeps it as
    is. The client connects in the background, reconnects with backoff and subscribes again on
    every connect. Messages wait in a bounded buffer of `backlog` between the client's network
    thread and the graph; when the graph is slower the oldest are dropped and counted
    (`dropped`): a command source wants the newest. With `persistent: true` (and a fixed
    `client_id`) the broker keeps QoS 1 messages for this client while it is away.

    Counters: `received`, `dropped`, `bad_payload`, `connects`, `subscribed` (acknowledged
    subscriptions, one per connect).

    Ports:
        messages (out): `{"topic": str, "data": ..., "qos": int, "retain": bool}`.

    Params:
        topics: topic filters to subscribe to (`+` and `#` wildcards allowed).
        qos: 0 or 1 (default 1).
        format: json, text or bytes (default json).
        client_id: the client's id (default edgespeed-<node id>).
        persistent: keep the session (and its QoS 1 queue) on the broker across reconnects
            (default false).
        backlog: messages held for the graph (default 1000).
        host, port, username, password, tls, ca_file, cert_file, key_file, backoff_min_s,
            backoff_max_s: the broker, as for `sink.mqtt`.

    Example:
        ```yaml
        - id: commands
          type: source.mqtt
          params: {host: broker.local, topics: ["site1/commands/#"], qos: 1}
        ```
    """

    kind = "source.mqtt"
    messages = Output(Record)
    topics: list[str] = Param(doc="topic filters to subscribe to")
    qos: Literal[0, 1] = Param(1, doc="0 at most once, 1 at least once")
    format: Literal["json", "text", "bytes"] = Param("json", doc="how to read the payload")
    client_id: str | None = Param(None, doc="client id (default edgespeed-<node id>)")
    persistent: bool = Param(False, doc="keep the session on the broker across reconnects")
    backlog: int = Param(1000, ge=1, doc="messages held for the graph; the oldest go when full")

    def setup(self) -> None:
        for name in ("received", "dropped", "bad_payload", "connects", "subscribed"):
            self.counters.setdefault(name, 0)  # keys made here: the client thread only updates
        self._queue: deque[dict[str, Any]] = deque()
        self._ready = threading.Condition()
        self._client = self.broker_client(self.client_id or f"edgespeed-{self.id}", clean_session=not self.persistent)
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe
        self.broker_start()

    def on_broker_connect(self, client: Any) -> None:
        client.subscribe([(t, self.qos) for t in self.topics])  # again on every connect

    def _on_subscribe(self, client: Any, userdata: Any, mid: Any, reasons: Any, props: Any) -> None:
        bad = [r for r in reasons if r.is_failure]
        if bad:
            self.log.warning("broker %s:%d refused a subscription of %s: %s", self.host, self.port, self.topics, bad[0])
        else:
            self.counters["subscribed"] += 1  # (messages published from now on reach us)

    def _on_message(self, client: Any, userdata: Any, m: Any) -> None:
        if self.format == "bytes":
            data: Any = bytes(m.payload)
        else:
            try:
                text = m.payload.decode()
                data = json.loads(text) if self.format == "json" else text
            except (UnicodeDecodeError, ValueError) as e:
                self.counters["bad_payload"] += 1
                if self.counters["bad_payload"] <= 5:
                    self.log.warning("message on %s is not %s (%s); skipped", m.topic, self.format, e)
                return
        with self._ready:
            if len(self._queue) >= self.backlog:
                self._queue.popleft()
                self.counters["dropped"] += 1
            self._queue.append({"topic": m.topic, "data": data, "qos": m.qos, "retain": bool(m.retain)})
            self.counters["received"] += 1
            self._ready.notify()

    def generate(self) -> Any:
        while not self.stopping:
            with self._ready:
                if not self._queue:
                    self._ready.wait(0.1)  # (a stop is seen within 0.1 s)
                    continue
                msg = self._queue.popleft()
            yield {"messages": msg}

    def teardown(self) -> None:
        self.broker_stop()
