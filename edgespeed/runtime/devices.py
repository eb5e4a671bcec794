"""One device's part of a graph: `edgespeed run g.yaml --device NAME`.

The graph is cut at device boundaries the way `process.split` cuts it at process boundaries:
every edge that crosses devices (crossing c, numbered in graph order) becomes a
`runtime.link_out` node `link_out_c` on the producing device (a sink that keeps the edge's
queue and policy, so `policy: latest` drops before anything crosses) and a `runtime.link_in`
node `link_in_c` on the consuming device (a relay source that keeps the original stamps; the
consumer's ring keeps the queue and policy too, so what the link's window had in flight is
dropped there rather than taken in turn),
talking ZeroMQ (`transport.link`). Without `--device` the same graph runs in one process and
the links are plain in-process edges.

Every link's settings come from the plan (`graph.plan.LinkPlan`): its addresses (the i-th edge
into a device, in graph order, is served on `endpoints[i]` or `endpoint`'s port + i, and bound
on `bind` by the same rule), its liveness (the receiving device's `timeout_s`) and its keys. Both
sides plan the same file, so they agree; `edgespeed plan --device NAME` prints them.

Acknowledgement: a `link_in` acknowledges a packet once every node downstream of it on this
device has finished with it (exactly, from the consumers' counters, when its consumers are
single-input sinks; otherwise when its downstream part of the graph has gone idle), and a
reliable `link_out` downstream has had it acknowledged by the next device. So a device killed
with -9 loses nothing that was acknowledged: the sender resends the rest. What a sink had
written when the kill came, before the acknowledgement left, comes again (at-least-once at a
crash; the link polls every 2 ms while packets are out, so that is at most one or two).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import replace
from typing import Any

from ..graph.plan import LinkPlan
from ..graph.plan import links as planned_links
from ..graph.spec import GraphSpec, InputSpec, NodeSpec
from ..graph.validate import placement
from ..node import Param
from ..registry import default_registry
from ..types import Stamped, StreamEnd
from .linkends import Downstream, ReceivingEnd, SendingEnd, Tags, receiver, sender_curve, tags
from .boundary import fresh_ids

log = logging.getLogger("edgespeed.link")


class LinkOut(SendingEnd):
    """(internal) Sends `data` to another device over a ZeroMQ link (`transport.link.Sender`)."""

    kind = "runtime.link_out"
    link: str = Param(doc="link id: the edge it carries")
    edge: str = Param("", doc="the graph's edge it carries, outside replicas: its rings' name (boundary.edge_name)")
    endpoint: str = Param(doc="where the receiving device listens")
    server_key: str = Param("", doc="the receiving device's public key file")
    tags_from: str = Param("", doc="replica side: the link whose packets' numbers the results carry back")
    _sender: Any = None  # set by setup()
    _tags: Tags | None = None

    def setup(self) -> None:
        from ..transport.compress import codec_for
        from ..transport.link import Sender

        curve = sender_curve(self.keys, self.server_key)
        self._sender = Sender(self.link, self.endpoint, mode=self.mode, window=self.window, queue=self.queue,
                              heartbeat_s=self.heartbeat_s, timeout_s=self.timeout_s, codec=codec_for(self.compress, self.quality),
                              curve=curve, counters=self.counters)
        # Between packets a helper thread keeps the link going (acknowledgements, credit,
        # heartbeats, queued realtime packets). ZeroMQ sockets may change threads behind a lock.
        self._lock = threading.Lock()
        self._idle = threading.Event()
        self._pumper = threading.Thread(target=self._pump, name=f"edgespeed:{self.id}:link", daemon=True)
        self._pumper.start()

        self._tags = tags(self.ctx, self.tags_from) if self.tags_from else None
        self._handled = 0  # packets process() has finished (the replica side's flush reads it)

    def _pump(self) -> None:
        while not self._idle.wait(0.005):
            with self._lock:
                if self._tags is not None:
                    self._flush_skipped()
                self._sender.pump(0)

    def process(self, data: Any = None, **unused: Any) -> None:
        from ..transport.wire import WireError

        env = self.engine_packet
        abort = self.ctx.aborted
        try:
            with self._lock:
                meta = None
                if self._tags is not None:  # a replica's result: carry its packet's number back
                    meta = self._tags.match(env.ts_ns, self._skip)
                    if meta is None:
                        self.count("extra")  # a second result for one packet: the merge keeps the first
                        return
                    if env.stream is not None:
                        meta = {**meta, "s": env.stream}
                elif env.stream is not None:  # (a multi-stream source's packet: its stream goes along)
                    meta = {"s": env.stream}
                self._sender.send(data, env.ts_ns, env.pts_ns, abort=abort, meta=meta)
        except WireError as e:
            raise ValueError(f"edge {self.link} crosses devices: {e}") from None
        finally:
            self._handled += 1

    def end_stream(self, stream: str) -> None:
        """Pass the end of a stream on to the next device, with the id of the source that ended
        it (from the end's packet, `engine_packet`): a packet with no value. Not on a replica's
        link: its results go back to a merge, whose consumers see no stream ends. A `realtime`
        link's queue never drops it (it drops the data around it), as the rings do; one in flight
        when the peer is lost is lost with what else was in flight."""
        env = self.engine_packet
        if self._tags is not None or env is None:
            return
        with self._lock:
            self._sender.send(None, env.ts_ns, env.pts_ns, abort=self.ctx.aborted,
                              meta={"s": stream, "end": getattr(env.value, "source", None) or ""}, keep=True)

    def _skip(self, ts_ns: int, meta: dict[str, int]) -> None:
        """Tell the merge that a packet gave no result (a filter), so it does not wait for one."""
        self._sender.send(None, ts_ns, 0, abort=self.ctx.aborted, meta={**meta, "skip": 1})
        self.count("skipped")

    def _flush_skipped(self) -> None:
        """Packets the replicated node has finished without a result, once all it emitted is sent."""
        tags = self._tags
        me, producer = self.ctx.worker(self.id), self.ctx.producer(self.id, "data")
        if me is None or producer is None or tags is None or not tags.entries:
            return
        finished = producer.stats.process.n  # (read first: its results are in the ring by then)
        (ring,) = me.inputs.values()
        if self._handled >= ring.puts - ring.dropped:
            tags.skip_before(finished, self._skip)

    def unacked(self) -> int:
        sender = self._sender
        if sender is None or not sender.reliable:
            return 0
        tags = self._tags  # a replica's packets whose skip is not sent yet
        return len(sender.unacked) + (len(tags.entries) if tags is not None else 0)

    def teardown(self) -> None:
        self._idle.set()
        self._pumper.join()
        eos = {}
        if self._tags is not None:
            self._tags.skip_before(None, self._skip)  # the node is done: the rest gave no result
            if self._tags.total is not None:
                eos["g"] = self._tags.total
        self._sender.close(abort=self.ctx.aborted, **eos)


class LinkIn(ReceivingEnd):
    """(internal) Receives packets from another device; ends at that side's end of stream."""

    kind = "runtime.link_in"
    link: str = Param(doc="link id: the edge it carries")
    edge: str = Param("", doc="the graph's edge it carries, outside replicas: its rings' name (boundary.edge_name)")
    bind: str = Param(doc="address to listen on")
    replica: bool = Param(False, doc="replica side: note each packet's number for the results' link")

    def setup(self) -> None:
        self._rx = receiver(self, self.link, self.bind, self.counters)
        self._emitted: deque[tuple[int, int]] = deque()  # (seq, epoch) handed downstream, not yet done
        self._n = 0  # packets handed downstream
        self._tracker: Downstream | None = None
        self._tags = tags(self.ctx, self.link) if self.replica else None

    def generate(self) -> Any:
        from ..transport import security

        rx = self._rx
        rx.resume = self._resume_points()
        session = ""
        while True:
            if self.stopping:  # the device is stopping: take nothing more, acknowledge what is done
                self._settle(2.0)
                return
            # while packets are out downstream, look often: an acknowledgement that waits is a
            # packet delivered again if this device dies before sending it
            batch = rx.recv(2 if self._emitted else 50)
            if batch:
                session = rx.session
            while batch:
                msg = batch.pop(0)
                ts, meta = msg.ts_ns, msg.meta
                if "end" in meta and self._tags is None:  # one stream of a multi-stream source ended
                    yield StreamEnd(str(meta.get("s", "")), str(meta["end"]) or None)
                    # acknowledged with the packet before it (acknowledgements are cumulative):
                    # an end has nothing for a sink to write
                    if self._emitted:
                        self._emitted[-1] = (msg.seq, rx.epoch)
                    else:
                        rx.complete(msg.seq, rx.epoch)
                    continue
                if self._tags is not None:
                    ts = self._tags.note(msg, self._n)
                stream = meta.get("s") if meta else None
                yield Stamped({"out": msg.value}, pts_ns=msg.pts_ns, ts_ns=ts, origin=(session, msg.seq),
                              stream=stream if type(stream) is str else None)
                self._emitted.append((msg.seq, rx.epoch))
                self._n += 1
                del msg  # let the frames go as soon as downstream is done with them
            self._progress()
            refused = security.refused.get(self.link, 0)
            if refused:
                self.counters["refused"] = refused
            if rx.ended and not self._emitted:
                if self._tags is not None:
                    self._tags.total = rx.eos_fields.get("g")
                return

    def _resume_points(self) -> dict[str, int]:
        """Where the sinks after this link left off before a restart: `{session: seq}` when every
        one of them reports the same sender session (`Node.resume_point`), else nothing."""
        workers = self.ctx.after(self.id)
        sinks = [w for w in workers if w.is_sink]
        if not sinks or any(isinstance(w.node, LinkOut) or len(w.inputs) != 1 for w in workers):
            return {}
        deadline = time.monotonic() + 30
        while any(w.stats.state in ("new", "setup") for w in sinks) and time.monotonic() < deadline:
            time.sleep(0.005)  # their setup reads back what they wrote
        maybe = [w.node.resume_point() for w in sinks]
        points = [p for p in maybe if p is not None]
        if len(points) != len(maybe) or len({p[0] for p in points}) != 1:
            return {}
        session, seq = points[0][0], min(p[1] for p in points)
        log.info("link %s: the sinks after it have everything up to #%d of session %s; resuming after it", self.link, seq, session)
        return {session: seq}

    def _settle(self, timeout_s: float) -> None:
        import time

        deadline = time.monotonic() + timeout_s
        while self._emitted and time.monotonic() < deadline:
            self._progress()
            time.sleep(0.01)
        self._rx.tick()

    def _progress(self) -> None:
        """Acknowledge the packets every downstream node has finished with."""
        if not self._emitted:
            return
        if self._tracker is None:
            self._tracker = Downstream(self.ctx, self.id)
        done = self._tracker.done(self._n)
        last = None
        while self._emitted and len(self._emitted) > self._n - done:
            last = self._emitted.popleft()
        if last is not None:
            self._rx.complete(*last)

    def teardown(self) -> None:
        self._rx.close()


for _cls in (LinkOut, LinkIn):
    default_registry().register(_cls)


# -- cutting the graph at device boundaries --------------------------------------------------------
def _link_opts(lp: LinkPlan, mode: str | None) -> dict[str, Any]:
    return {"mode": mode or "reliable", "timeout_s": lp.timeout_s, "heartbeat_s": lp.heartbeat_s}


def _server_key(lp: LinkPlan) -> str:
    return lp.receiver_keys + ".key" if lp.receiver_keys else ""


def split(spec: GraphSpec, device: str, wired: dict[tuple[str, str], tuple[LinkPlan, ...]] | None = None) -> GraphSpec:
    """The subgraph that `device` runs, with link nodes for every edge that crosses devices.

    A replicated node (`device: [a, b]`) runs on each of its devices; its input edge becomes a
    `runtime.replica_out` on the upstream device with a link to each replica, and its results
    come back over a link from each replica into one `runtime.replica_in` (see `replicas`).
    Every link's addresses, liveness and keys come from the plan (`wired`: `EdgePlan.links` by
    consumer and port; None: plan them here).

    Raises:
        KeyError: `device` is not declared.
    """
    from . import replicas  # noqa: F401 - registers the replica link nodes

    if device not in {d.name for d in spec.devices}:
        raise KeyError(device)
    where = placement(spec)
    if wired is None:
        wired = planned_links(spec, where)
    fresh = fresh_ids(spec)
    crossings = 0
    nodes: list[NodeSpec] = []
    merges: dict[str, str] = {}  # replicated node -> its replica_in here
    fed = {inp.node for n in spec.nodes for inp in n.inputs.values()}  # nodes whose results go somewhere

    for n in spec.nodes:
        mine = device in n.replicas if n.replicas else where[n.id] == device
        inputs: dict[str, InputSpec] = {}
        for port, inp in n.inputs.items():
            producer = spec.node(inp.node)
            if n.replicas:  # into a replicated node: a dispatcher here, a link into each replica
                links = wired.get((n.id, port), ())  # (planned where either end runs here)
                c, crossings = crossings, crossings + 1
                if where[inp.node] == device:
                    params = {**_link_opts(links[0], inp.mode), "links": [lp.name for lp in links],
                              "endpoints": [lp.connect for lp in links], "compress": inp.compress or "none",
                              "quality": inp.quality, "keys": links[0].sender_keys, "server_keys": [_server_key(lp) for lp in links]}
                    data = replace(inp, port="data", mode=None, compress=None, quality=None)
                    nodes.append(NodeSpec(fresh(f"replica_out_{c}"), "runtime.replica_out", params, {"data": data}))
                if mine:
                    lp = links[n.replicas.index(device)]
                    in_id = fresh(f"link_in_{c}")
                    params = {**_link_opts(lp, inp.mode), "link": lp.name, "bind": lp.bind, "keys": lp.receiver_keys,
                              "allow": list(lp.allow), "replica": n.id in fed}
                    nodes.append(NodeSpec(in_id, LinkIn.kind, params))
                    # the edge's queue and policy hold on each replica too: under `latest` a slow
                    # replica takes the newest of what its link's window brought (its skipped
                    # packets reach the merge as skips, by stamp order: `linkends.Tags`)
                    inputs[port] = InputSpec(port, in_id, "out", queue=inp.queue, policy=inp.policy, loc=inp.loc)
                continue
            if producer.replicas:  # results of a replicated node: a link from each replica, one merge
                if inp.node not in merges:
                    links = wired.get((n.id, port), ())
                    c, crossings = crossings, crossings + 1
                    (feed,) = producer.inputs.values()
                    if device in producer.replicas:
                        lp = links[producer.replicas.index(device)]
                        params = {**_link_opts(lp, inp.mode), "link": lp.name, "endpoint": lp.connect,
                                  "compress": inp.compress or "none", "quality": inp.quality, "keys": lp.sender_keys,
                                  "server_key": _server_key(lp), "tags_from": f"{feed.source} -> {producer.id}.{feed.port} @{device}"}
                        data = InputSpec("data", producer.id, inp.output)
                        nodes.append(NodeSpec(fresh(f"link_out_{c}"), LinkOut.kind, params, {"data": data}))
                    merges[inp.node] = fresh(f"replica_in_{c}")
                    if where[n.id] == device:
                        allow = list(dict.fromkeys(a for lp in links for a in lp.allow))  # (one merge socket per replica)
                        params = {**_link_opts(links[0], inp.mode), "links": [lp.name for lp in links], "binds": [lp.bind for lp in links],
                                  "keys": links[0].receiver_keys, "allow": allow}
                        nodes.append(NodeSpec(merges[inp.node], "runtime.replica_in", params))
                if mine:  # (the merge hands on into this node's ring: the edge's queue and policy)
                    inputs[port] = InputSpec(port, merges[inp.node], "out", queue=inp.queue, policy=inp.policy, loc=inp.loc)
                continue
            if where[inp.node] == where[n.id]:
                inputs[port] = inp
                continue
            c, crossings = crossings, crossings + 1  # the crossing's number in the whole graph
            if not mine and where[inp.node] != device:
                continue
            (lp,) = wired[(n.id, port)]
            opts = {**_link_opts(lp, inp.mode), "link": lp.name, "edge": f"{inp.source} -> {n.id}.{port}"}
            if mine:  # we receive
                in_id = fresh(f"link_in_{c}")
                nodes.append(NodeSpec(in_id, LinkIn.kind, {**opts, "bind": lp.bind, "keys": lp.receiver_keys, "allow": list(lp.allow)}))
                inputs[port] = InputSpec(port, in_id, "out", queue=inp.queue, policy=inp.policy, loc=inp.loc)  # (as over shm)
            else:  # we send
                params = {**opts, "endpoint": lp.connect, "compress": inp.compress or "none", "quality": inp.quality,
                          "keys": lp.sender_keys, "server_key": _server_key(lp)}
                data = replace(inp, port="data", mode=None, compress=None, quality=None)
                nodes.append(NodeSpec(fresh(f"link_out_{c}"), LinkOut.kind, params, {"data": data}))
        if mine:
            nodes.append(replace(n, inputs=inputs, device=None, replicas=()))
    return replace(spec, name=f"{spec.name}@{device}", nodes=tuple(nodes), devices=(), default_device=None)
