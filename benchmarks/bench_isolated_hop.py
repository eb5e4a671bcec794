"""One hop into an isolated process, as a user builds it: a paced source -> a node with
`isolate: process`, against raw pyzmq PUSH/PULL over `ipc://` in the same run.

The engine's figure is the one-way latency seen by the isolated sink (`bench_nodes:Latencies`:
its arrival wall clock minus the source's stamp, taken when the source yields), for `COUNT`
packets at `RATE_HZ`, the first `WARMUP` left out; the source starts `START_S` after the run,
when the child is up. The baseline is `bench_hop.ZmqLink` (PUSH here, PULL in a spawned child,
`[header, frame]` with `copy=False`), paced at the same rate, one-way from a perf_counter stamp.

Targets (p50, this run): 64 B <= raw pyzmq ipc; a 1920x1080x3 frame (written by the source
into its pooled buffer, which is the channel's shared-memory slot) <= 0.25x raw pyzmq ipc.
Both also over an edge with `policy: latest` (queue 1, as a live preview or a detector that
wants the newest frame), written by the producer's thread as the lossless edge is
(`fuse.LossyCarrier`), but through a ring on either side of the channel, where it drops: the
1080p target holds, and 64 B <= 1.5x raw pyzmq ipc (a lock, a queue and a look at the channel
more per side: 40-70 us on a 2-core box whose raw pyzmq p50 moves from 300 to 480 us between
runs). A latest edge may drop a packet that finds the previous one still queued; at least 90%
must arrive.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # the isolated sink's child imports `bench_nodes` through it
    sys.path.insert(0, str(HERE))

from bench_hop import _ACK, ZmqLink

from edgespeed.graph import load_text
from edgespeed.graph.validate import check
from edgespeed.runtime.scheduler import Run
from edgespeed.runtime.shm import cleanup_segments

RATE_HZ = 100.0
COUNT = 320
WARMUP = 20
START_S = 2.0
SHAPES = {"64B": [64], "1080p": [1080, 1920, 3]}
TARGET = {"64B": 1.0, "1080p": 0.25}
TARGET_LATEST = {"64B": 1.5, "1080p": 0.25}


def _engine(shape: list[int], policy: str = "block") -> np.ndarray:
    edge = "src/out" if policy == "block" else f"{{from: src/out, queue: 1, policy: {policy}}}"
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "lat.txt"
        text = f"""
nodes:
  - {{id: src, type: "bench_nodes:Ticks", params: {{count: {COUNT}, rate_hz: {RATE_HZ}, shape: {shape}, start_after_s: {START_S}}}}}
  - {{id: sink, type: "bench_nodes:Latencies", isolate: process, params: {{path: "{out}"}}, inputs: {{data: {edge}}}}}
"""
        run = Run(check(load_text(text)), drain_timeout_s=30)
        run.start()
        result = run.wait(60)
        assert result.ok, result.failures
        lat = np.array([float(v) for v in out.read_text().split()])
    least = COUNT if policy == "block" else int(0.9 * COUNT)
    assert len(lat) >= least, f"{len(lat)} of {COUNT} packets reached the isolated sink"
    assert cleanup_segments() == [], "shared-memory segments left behind"
    return lat[WARMUP:]


def _pyzmq(shape: list[int]) -> np.ndarray:
    link = ZmqLink("ipc")
    try:
        lat = []
        due = time.perf_counter()
        for seq in range(COUNT):
            due += 1.0 / RATE_HZ
            time.sleep(max(0.0, due - time.perf_counter()))
            link.send(seq, tuple(shape))
            assert link.ack.poll(20), "no acknowledgement from the pyzmq consumer"
            ns, ok = _ACK.unpack(link.ack.recv_bytes())
            assert ok
            lat.append(ns / 1000)
        return np.array(lat[WARMUP:])
    finally:
        link.close()


@pytest.mark.parametrize("policy", ["block", "latest"])
@pytest.mark.parametrize("payload", list(SHAPES))
def test_isolated_hop_vs_pyzmq(benchmark: Any, figures: dict[str, Any], payload: str, policy: str) -> None:
    def both() -> tuple[float, float]:
        eng = float(np.percentile(_engine(SHAPES[payload], policy), 50))
        raw = float(np.percentile(_pyzmq(SHAPES[payload]), 50))
        return eng, raw

    eng, raw = benchmark.pedantic(both, rounds=1, iterations=1)
    ratio = eng / raw
    key = f"iso_hop_{payload}" if policy == "block" else f"iso_hop_{payload}_{policy}"
    figures[f"{key}_p50_us"] = round(eng, 1)
    figures[f"{key}_pyzmq_ipc_p50_us"] = round(raw, 1)
    figures[f"{key}_vs_pyzmq"] = round(ratio, 2)
    benchmark.extra_info.update(engine_p50_us=eng, pyzmq_ipc_p50_us=raw, ratio=ratio)
    target = (TARGET if policy == "block" else TARGET_LATEST)[payload]
    print(f"\n[isolated hop {payload}, {policy}] engine p50 {eng:.1f} us, raw pyzmq ipc p50 {raw:.1f} us: {ratio:.2f}x "
          f"(target <= {target}x)")
    assert ratio <= target, f"{payload}, {policy}: isolated hop p50 {eng:.1f} us is {ratio:.2f}x raw pyzmq ipc ({raw:.1f} us)"
