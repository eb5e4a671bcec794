"""The scheduler end to end: a 10-node chain's throughput, and a video graph's steady state.

Targets:
- a 10-node pass-through chain moves >= 20,000 small packets/s from source to sink (the same
  10 calls as a plain sequential loop are measured in the same run: the ratio is reported);
- a 10,000-frame synthetic video -> resize -> null graph allocates only the buffers in flight
  (a few dozen, not one per frame), and its RSS is flat over the second half of the run.
"""

from __future__ import annotations

import gc
import threading
import time
from typing import Any

import numpy as np

import edgespeed.testing  # noqa: F401  (registers testing.list_source)
from edgespeed import Graph, Input, Node, Output
from edgespeed.graph.validate import check
from edgespeed.registry import default_registry
from edgespeed.runtime.scheduler import Run

CHAIN_NODES = 10
CHAIN_PACKETS = 30_000
CHAIN_MIN_PPS = 20_000
FRAMES = 10_000
MAX_POOL_BUFFERS = 64  # in flight: 1.5 x 32 ring slots and a few in hand, never one per frame
MAX_RSS_SLOPE_MB_PER_1000 = 1.0


@default_registry().register
class PassThrough(Node):
    """Emits its input unchanged: the chain measures the engine, not the node."""

    kind = "bench.pass_through"
    data = Input()
    out = Output()

    def process(self, data: Any) -> dict[str, Any]:
        return {"out": data}


def _chain(n: int) -> Graph:
    g = Graph("chain")
    prev = g.add("testing.list_source", id="src", items=list(range(n)))
    for i in range(CHAIN_NODES):
        prev = g.add("bench.pass_through", id=f"p{i}", data=prev.out)
    g.add("sink.null", id="sink", data=prev.out)
    return g


def _sequential_loop(n: int) -> float:
    """The same 10 process() calls per item as a plain loop; returns packets/s."""
    nodes = [PassThrough(f"p{i}") for i in range(CHAIN_NODES)]
    t0 = time.perf_counter()
    for item in range(n):
        for node in nodes:
            item = node.process(data=item)["out"]
    return n / (time.perf_counter() - t0)


def test_chain_throughput(benchmark: Any, figures: dict[str, Any]) -> None:
    graphs = iter([_chain(CHAIN_PACKETS) for _ in range(3)])  # built outside the timing
    result = benchmark.pedantic(lambda: next(graphs).run(), rounds=3, iterations=1)
    pps = CHAIN_PACKETS / benchmark.stats.stats.median
    loop_pps = _sequential_loop(CHAIN_PACKETS)
    figures.update(chain_pps=round(pps), chain_loop_pps=round(loop_pps), chain_loop_vs_chain=round(loop_pps / pps, 1))

    assert result.ok and result.report["nodes"]["sink"]["in"] == CHAIN_PACKETS
    assert pps >= CHAIN_MIN_PPS, f"{pps:,.0f} packets/s through {CHAIN_NODES} nodes < {CHAIN_MIN_PPS:,}"


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def _pool_mb(run: Run) -> float:
    """MB of frame buffers the pools have allocated (bounded: at most what is in flight)."""
    frame, small = run.nodes["cam"].buffer_allocations().get("frame", 0), run.nodes["small"].buffer_allocations().get("out", 0)
    return (frame * 640 * 480 * 3 + small * 320 * 240 * 3) / 2**20


def _run_sampling(run: Run, every_s: float = 0.02) -> tuple[Any, list[tuple[int, float]]]:
    """Run to the end while a thread samples (frames produced, RSS MB less the pools' buffers).

    The pools may still grow a few buffers late in a run (a consumer descheduled for a moment
    lets more frames be in flight): that growth is bounded by the rings and is not a leak, so
    the slope is taken of what RSS holds beyond the pools.
    """
    samples: list[tuple[int, float]] = []
    done = threading.Event()

    def sample() -> None:
        while not done.wait(every_s):
            samples.append((run.stats["cam"].packets_out, _rss_mb() - _pool_mb(run)))

    sampler = threading.Thread(target=sample, daemon=True)
    run.start()
    sampler.start()
    try:
        return run.wait(), samples
    finally:
        done.set()
        sampler.join()


def test_video_steady_state(benchmark: Any, figures: dict[str, Any]) -> None:
    g = Graph("steady")
    cam = g.add("video.synthetic", id="cam", width=640, height=480, frames=FRAMES, realtime=False)
    small = g.add("image.resize", id="small", image=cam.frame, width=320, height=240)
    g.add("sink.null", id="out", data=small.out)
    run = Run(check(g.build()))
    gc.collect()  # earlier tests' garbage must not be freed mid-run: it would bend the RSS slope
    result, samples = benchmark.pedantic(_run_sampling, args=(run,), rounds=1, iterations=1)
    frame_allocs = run.nodes["cam"].buffer_allocations()["frame"]
    out_allocs = run.nodes["small"].buffer_allocations()["out"]
    late = [(n, mb) for n, mb in samples if n >= FRAMES // 2]
    slope = float(np.polyfit([n for n, _ in late], [mb for _, mb in late], 1)[0]) * 1000
    figures.update(steady_fps=round(FRAMES / benchmark.stats.stats.median), steady_frame_allocations=frame_allocs,
                   steady_resize_allocations=out_allocs, steady_rss_mb=round(late[-1][1], 1),
                   steady_rss_slope_mb_per_1000=round(slope, 3), steady_rss_samples=len(late))

    assert result.ok and result.report["nodes"]["out"]["in"] == FRAMES
    assert frame_allocs <= MAX_POOL_BUFFERS and out_allocs <= MAX_POOL_BUFFERS, (frame_allocs, out_allocs)
    assert len(late) >= 5, "too few RSS samples in the second half"
    assert slope < MAX_RSS_SLOPE_MB_PER_1000, f"RSS grows {slope:.2f} MB per 1000 frames"
