"""The runtime: it executes a Plan (`graph/plan.py`) and owns everything that moves packets.

```
scheduler.py  Run: builds one Worker per node and one Ring per edge from the plan, starts,
              stops, drains, reports (the `--report` JSON)
worker.py     one node's life: setup, the data loop (input matching: sync any/latest/timestamp),
              pacing sources from media time, teardown, on_error
context.py    RunContext: what a runtime-aware node gets from its run (stop, abort, clock, downstream)
packet.py     the envelope (seq, ts, pts, origin) and read-only sharing of values
ring.py       the in-process carrier: a bounded ring per edge (block, latest, drop_oldest)
matching.py   how a node with several inputs picks what goes into one call (its `sync`)
pool.py       output buffers reused once every consumer let go (`Node.buffer`)
shm.py        the cross-process carrier: shared-memory slot channels (shm_reader.py: the
              reading end)
fuse.py       a channel's ends run in their neighbours' threads, no forwarding threads;
              feed.py the consumer reading its channel itself (and its deadline)
boundary.py   the graph cut at process boundaries, a channel per edge between processes
process.py    isolated nodes in child processes (`isolate:`), child.py the child's side,
              sweep.py removing segments of killed runs
devices.py    one device's part of a graph, linked to the others over ZeroMQ (`--device`)
linkends.py   what both link ends share; replicas.py a node replicated on several devices
```
The runtime imports `graph`, `transport` and `metrics`; none of them imports the runtime at
module level (`tests/test_layout.py` keeps the whole package free of import circles).
"""
