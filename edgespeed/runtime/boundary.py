"""Cutting a graph at process boundaries (`isolate:`): the parent's part, each process group's
part, and a channel for every edge between them, with a `runtime.shm_out` on the writing side and
a `runtime.shm_in` on the reading side (`process.py` runs them; `fuse.py` folds them into their
neighbours' threads). The edge's queue and policy hold on both sides.

What it cuts comes from the run's plan (`graph.plan`): each node's process group, each channel's
shared memory, and the queue and policy of the rings on either side of it, so `edgespeed plan`
shows the processes and channels a run makes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from ..graph.plan import Plan, group_of, shm_cap
from ..graph.spec import GraphSpec, InputSpec, NodeSpec

_WRITER, _READER = "runtime.shm_out", "runtime.shm_in"


@dataclass
class Crossing:
    """An edge that crosses a process boundary."""

    channel: int
    label: str
    writer: str | None  # group name, None for the parent
    reader: str | None
    cap_bytes: int


@dataclass
class Split:
    """The parent's graph, each group's graph, and the channels between them."""

    parent: GraphSpec
    groups: dict[str, GraphSpec]
    members: dict[str, list[str]]
    crossings: list[Crossing] = field(default_factory=list)


def fresh_ids(spec: GraphSpec) -> Any:
    """A function giving node ids the graph does not use yet: `shm_in_0`, else `shm_in_0_2`..."""
    taken = {n.id for n in spec.nodes}

    def fresh(base: str) -> str:
        name, i = base, 1
        while name in taken:
            i += 1
            name = f"{base}_{i}"
        taken.add(name)
        return name

    return fresh


def edge_name(producer: NodeSpec, consumer: NodeSpec, port: str, inp: InputSpec) -> str:
    """The graph's own edge that an edge of a rewritten spec carries: a boundary end stands in
    for the far end of it (its `edge` param), so the report, metrics and errors name
    `cam/frame -> det.image` wherever a process or device boundary cuts it."""
    return producer.params.get("edge") or consumer.params.get("edge") or f"{inp.source} -> {consumer.id}.{port}"


def split(spec: GraphSpec, planned: Plan | None = None) -> Split:
    """Cut `spec` at process boundaries (see the module docstring). With the run's plan, each
    channel's two rings take the queue and policy the plan gives its edge: also what the
    consumer's input port declares, which the writer's side (a `runtime.shm_out` port) would
    not know."""
    placed = planned.nodes if planned is not None else {}
    # the plan's process groups (the nodes it does not know, a device's link ends, run in the main process)
    where = {n.id: placed[n.id].process if n.id in placed else group_of(n) for n in spec.nodes}
    edges = {f"{e.source} -> {e.target}": e for e in planned.edges} if planned is not None else {}
    by_id = {n.id: n for n in spec.nodes}
    fresh = fresh_ids(spec)
    nodes: dict[str | None, list[NodeSpec]] = {g: [] for g in set(where.values()) | {None}}
    crossings: list[Crossing] = []

    for n in spec.nodes:
        mine = where[n.id]
        inputs: dict[str, InputSpec] = {}
        for port, inp in n.inputs.items():
            theirs = where[inp.node]
            if theirs == mine:
                inputs[port] = inp
                continue
            k = len(crossings)
            label = edge_name(by_id[inp.node], n, port, inp)
            e = edges.get(label)
            cap = e.shm_cap_bytes if e is not None and e.shm_cap_bytes else shm_cap(n, by_id[inp.node])
            crossings.append(Crossing(k, label, theirs, mine, cap))
            if e is not None:  # (an explicit queue only where the plan's is exact: no byte bound)
                inp = replace(inp, queue=e.capacity if e.max_bytes is None else None, policy=e.policy)
            out_id, in_id = fresh(f"shm_out_{k}"), fresh(f"shm_in_{k}")
            lossy = (inp.policy or "block") != "block"
            nodes[theirs].append(NodeSpec(out_id, _WRITER, {"channel": k, "edge": label, "lossy": lossy},
                                          {"data": replace(inp, port="data")}))
            nodes[mine].append(NodeSpec(in_id, _READER, {"channel": k, "edge": label}))
            # the edge's queue and policy hold at the reading end too: a `latest` edge drops
            # there, where the backlog is (the writer's ring is drained as fast as it fills)
            inputs[port] = InputSpec(port, in_id, "out", queue=inp.queue, policy=inp.policy, loc=inp.loc)
        nodes[mine].append(replace(n, inputs=inputs, isolate=None))
    members = {g: [n.id for n in spec.nodes if where[n.id] == g] for g in nodes if g is not None}
    parent = replace(spec, nodes=tuple(nodes[None]))
    groups = {g: replace(spec, name=f"{spec.name}:{g}", nodes=tuple(nodes[g])) for g in nodes if g is not None}
    return Split(parent, groups, members, crossings)
