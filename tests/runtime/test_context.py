"""RunContext: what the runtime's own nodes get from the run, typed, instead of attributes
attached to node instances."""

from __future__ import annotations

import gc

from edgespeed.graph import load_text
from edgespeed.graph.validate import check
from edgespeed.node import Node
from edgespeed.runtime.context import RunContext
from edgespeed.runtime.scheduler import Run

CHAIN = """
name: ctx
nodes:
  - {id: src, type: testing.list_source, params: {items: [1, 2, 3, 4, 5]}}
  - {id: mid, type: test.pass, inputs: {data: src/out}}
  - {id: a, type: testing.list_sink, inputs: {data: mid/out}}
  - {id: b, type: testing.list_sink, inputs: {data: src/out}}
"""


def test_a_detached_context_has_nothing_downstream_and_is_never_aborted() -> None:
    ctx = Node().ctx
    assert ctx.detached and ctx.after("x") == [] and ctx.consumers("x") == [] and ctx.worker("x") is None
    assert not ctx.aborted.is_set() and not ctx.stopping.is_set() and ctx.now_ns() >= 0


def test_the_context_sees_the_runs_workers_downstream_in_order() -> None:
    run = Run(check(load_text(CHAIN)))
    ctx = RunContext(run.stopping, run.aborted, lambda: run)
    assert ctx.consumers("src") == ["mid", "b"]
    assert [w.node.id for w in ctx.after("src")] == ["mid", "b", "a"]
    assert ctx.producer("a", "data") is run.workers["mid"] and ctx.worker("zz") is None
    run.abort()
    assert ctx.aborted.is_set() and ctx.stopping.is_set()


def test_no_node_gets_attributes_attached_and_a_finished_run_is_freed() -> None:
    import weakref

    run = Run(check(load_text(CHAIN)))
    for node in run.nodes.values():
        assert not {"_abort", "_edgespeed_run", "_stop", "_run_report"} & set(vars(node))
        assert node.ctx.run() is run  # every node, through Node.bind_run
    run.start()
    assert run.wait(30).ok
    ref = weakref.ref(run)
    del run
    gc.collect()
    assert ref() is None


def test_the_runtimes_own_nodes_are_bound_to_their_run() -> None:
    text = CHAIN.replace("type: test.pass,", "type: \"testnodes:Passthrough\", isolate: process,")
    run = Run(check(load_text(text)))
    bound = [n for n in run.nodes.values() if type(n).kind.startswith("runtime.")]
    assert bound and all(n.ctx.run() is run and n.ctx.aborted is run.aborted for n in bound)  # the shm boundary's ends
    run.start()
    assert run.wait(60).ok
    assert run.snapshot()["nodes"]["a"]["in"] == 5
