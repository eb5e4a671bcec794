"""`edgespeed model bench`: latency percentiles and throughput of a model per execution
provider and intra-op thread count, on random inputs of the model's shapes or given ones.

Each (provider, threads) pair gets a session of its own, `warmup` untimed runs (first-call
allocation, TensorRT engine build), then `runs` timed runs (or as many as fit in
`duration_s`). Throughput is samples (batch items) per second of the timed runs.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from . import ModelInputError
from .common import Feed, file_feed, load_onnx, ort, random_feed, session
from .providers import provider_names


def bench_model(path: Path, *, providers: list[str] | None = None, threads: list[int] | None = None,
                inputs: Path | None = None, shapes: dict[str, tuple[int, ...]] | None = None, batch: int = 1,
                warmup: int = 3, runs: int = 50, duration_s: float | None = None) -> list[dict[str, Any]]:
    """One row per (provider, threads): p50/p99/mean latency in ms and samples per second.

    Providers default to every one installed (but Azure, a remote endpoint); one asked for
    but not installed gets a row saying so. Threads default to 1 and all cores.

    Raises:
        ModelInputError: a file that is not ONNX, an unknown provider name, bad inputs.
    """
    load_onnx(path, external=False)
    installed = ort().get_available_providers()
    try:
        wanted = provider_names(providers) if providers else [p for p in installed if p != "AzureExecutionProvider"]
    except ValueError as e:
        raise ModelInputError(str(e)) from None
    counts = threads or sorted({1, os.cpu_count() or 1})
    first = session(path)
    feed = file_feed(inputs, first) if inputs else random_feed(first, shapes=shapes, batch=batch)
    n = int(next(iter(feed.values())).shape[0]) if feed and next(iter(feed.values())).ndim else 1
    rows = []
    for prov in wanted:
        if prov not in installed:
            rows.append({"provider": prov, "threads": None, "error": "not installed in this onnxruntime"})
            continue
        for t in counts:
            rows.append({"provider": prov, "threads": t, **_time(session(path, [prov], threads=t), feed, n, warmup, runs, duration_s)})
    return rows


def _time(sess: Any, feed: Feed, batch: int, warmup: int, runs: int, duration_s: float | None) -> dict[str, Any]:
    from ..metrics.console import ProgressBar

    for _ in range(warmup):
        sess.run(None, feed)
    times: list[int] = []
    start = time.perf_counter()
    end = start + duration_s if duration_s else None
    with ProgressBar(f"{sess.get_providers()[0]}", duration_s or runs) as bar:  # on a terminal only
        while (len(times) < runs) if end is None else (time.perf_counter() < end or not times):
            t0 = time.perf_counter_ns()
            sess.run(None, feed)
            times.append(time.perf_counter_ns() - t0)
            bar.update(len(times) if end is None else time.perf_counter() - start)
    ms = np.array(times) / 1e6
    return {"taken": sess.get_providers()[0], "runs": len(times), "p50_ms": float(np.percentile(ms, 50)),
            "p99_ms": float(np.percentile(ms, 99)), "mean_ms": float(ms.mean()),
            "samples_per_s": float(batch * len(ms) / (ms.sum() / 1000))}


def format_rows(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'provider':<28} {'threads':>7} {'p50 ms':>9} {'p99 ms':>9} {'mean ms':>9} {'samples/s':>10}"]
    for r in rows:
        if "error" in r:
            lines.append(f"{r['provider']:<28} {'-':>7}  {r['error']}")
        else:
            lines.append(f"{r['provider']:<28} {r['threads']:>7} {r['p50_ms']:>9.3f} {r['p99_ms']:>9.3f} {r['mean_ms']:>9.3f} {r['samples_per_s']:>10.1f}")
    return "\n".join(lines)
