"""`edgespeed plan GRAPH [--device NAME] [--json]`: what runs where, and over what."""

from __future__ import annotations

import argparse
import json
import sys

from ..graph.plan import EdgePlan, NodePlan, Plan, plan
from .validate import load_checked


def cmd_plan(args: argparse.Namespace) -> int:
    """Validate `args.graph`, place it, and print the plan.

    Args:
        args: `graph`, `device` (None: the whole graph in one process) and `json`.

    Returns:
        0 once printed; 2 for an undeclared device.

    Raises:
        GraphErrors: the graph is invalid (the CLI prints each error and exits 2).
    """
    resolved = load_checked(args.graph)
    try:
        p = plan(resolved, args.device)
    except KeyError:
        names = ", ".join(d.name for d in resolved.spec.devices) or "none declared"
        print(f"error: unknown device {args.device!r}; devices: {names}", file=sys.stderr)
        return 2
    print(json.dumps(p.to_dict(), indent=2) if args.json else to_text(p))
    return 0


def to_text(p: Plan) -> str:
    """The plan as a table of nodes, then one line per edge."""
    where = f"device {p.device!r}" if p.device else "one process (links become local edges; --device NAME for a device's part)"
    lines = [f"plan of {p.graph}: {where}", "", "nodes:"]
    width = max((len(n) for n in p.nodes), default=4)
    for n in p.nodes.values():
        lines.append(f"  {n.id:<{width}}  {n.type:<24} {_place(n)}")
    lines += ["", "edges:"]
    lines += [f"  {e.source} -> {e.target}  {_carrier(e)}" for e in p.edges]
    return "\n".join(lines)


def _place(n: NodePlan) -> str:
    parts = []
    if n.replicas:
        parts.append(f"devices {', '.join(n.replicas)}")
    elif n.device:
        parts.append(f"device {n.device}")
    parts.append(f"process {n.process}" if n.process else "main process")
    parts.append(n.executor)
    if n.cpus:
        parts.append(f"cpus {','.join(map(str, n.cpus))}")
    return ", ".join(parts)


def _carrier(e: EdgePlan) -> str:
    """`ring 32 block`, `shm 256 MiB`, `link reliable jpeg (camera -> gateway)`..., then a line
    per ZeroMQ link with its addresses."""
    text = f"{e.carrier} queue {e.capacity} {e.policy}"
    if e.shm_cap_bytes:
        text += f", {e.shm_cap_bytes >> 20} MiB shared"
    if e.mode:
        text += f", {e.mode}" + (f" {e.compress}" if e.compress and e.compress != "none" else "")
    if e.devices:
        text += f" ({e.devices[0]} -> {e.devices[1]})"
    if e.private:
        text += ", private"
    for lk in e.links if e.carrier != "ring" else ():  # where to open the firewall: the receiver binds
        text += (f"\n      link {lk.name!r}: {lk.sender} connects to {lk.connect}, {lk.receiver} binds {lk.bind}; "
                 f"{'CURVE-encrypted' if lk.encrypted else 'plain text'}, peer lost after {lk.timeout_s:g} s")
    return text
