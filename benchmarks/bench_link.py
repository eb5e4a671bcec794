"""Device links (`transport.link`) against raw pyzmq, over tcp loopback, in the same run.

- Throughput: 1920x1080x3 uint8 frames from this process to a consumer process (spawned, as
  a device would be; `perf_counter_ns` is CLOCK_MONOTONIC, one clock for both). The baseline is a
  raw PUSH/PULL loop sending `[small header, frame]` with `copy=False` and receiving into
  `np.frombuffer`. The link sends the same frames through `Sender.send` (msgpack header, credit
  window, acknowledgements) to a `Receiver` whose consumer acknowledges each frame when done.
  Best of 5 alternating rounds of 400 frames each.
- One-way latency of a 64-byte array: the producer stamps `perf_counter_ns` into the payload
  and the consumer process subtracts it on arrival; sends are paced 1 ms apart
  so each one finds an idle consumer. p50 of 400 after 50 warm-up; best of 5 alternating rounds.
- Reliable against realtime mode on the same 1080p frames.

Like with like: the same payload (the same array object, sent without a copy), the same
processes (a spawned consumer), the same loopback TCP, the same warm-up and rounds. The one
difference is the socket pattern: the baseline is PUSH/PULL, ZeroMQ's lightest (no routing-id
frame, no replies), while the link is DEALER/ROUTER with its header, acknowledgements (one per
packet, from the consumer) and heartbeats; the baseline is the stricter one. On this 2-core box
each process has its ZeroMQ I/O thread too, so single rounds swing by 30% or more: the best of
several alternating rounds is what compares.

Targets (asserted): link throughput >= 90% of raw; 64 B latency <= 1.3x raw; reliable costs
<= 15% throughput against realtime.
"""

from __future__ import annotations

import multiprocessing as mp
import socket
import time
from typing import Any

import numpy as np
import zmq

from edgespeed.transport.link import Receiver, Sender

FRAME = (1080, 1920, 3)
N_FRAMES = 400
N_LAT, WARMUP = 400, 50
ROUNDS = 5


def _ep() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{s.getsockname()[1]}"


def _consumer(kind: str, ep: str, n: int, what: str, out: Any) -> None:
    """In a process of its own: receive `n` messages; report arrival times or latencies."""
    marks: list[int] = []
    if kind == "raw":
        pull = zmq.Context.instance().socket(zmq.PULL)
        pull.rcvhwm = 8
        pull.bind(ep)
        out.put("ready")
        for _ in range(n):
            parts = pull.recv_multipart(copy=False)
            a = np.frombuffer(parts[1].buffer, np.uint8 if what == "fps" else np.int64)
            marks.append(time.perf_counter_ns() - (int(a[0]) if what == "lat" else 0))
        pull.close(linger=0)
    else:
        rx = Receiver("bench", ep, mode=kind)
        out.put("ready")
        while not rx.ended:
            for m in rx.recv(5):
                marks.append(time.perf_counter_ns() - (int(m.value.reshape(-1)[0]) if what == "lat" else 0))
                rx.complete(m.seq, rx.epoch)
        rx.close()
    out.put(marks)


def _run(kind: str, what: str, n: int, payload: Any) -> list[int]:
    """Start a consumer process, send `n` messages, return its marks and our start time."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    ep = _ep()
    proc = ctx.Process(target=_consumer, args=(kind, ep, n, what, q))
    proc.start()
    assert q.get(timeout=30) == "ready"
    if kind == "raw":
        push = zmq.Context.instance().socket(zmq.PUSH)
        push.sndhwm = 8
        push.connect(ep)
        time.sleep(0.2)  # connected
        send = lambda i, v: push.send_multipart([i.to_bytes(8, "little"), v], copy=False)
    else:
        tx = Sender("bench", ep, mode=kind, queue=n)
        while not tx.welcomed:
            tx.pump(5)
        send = lambda i, v: tx.send(v, i, i)
    t0 = time.perf_counter_ns()
    for i in range(n):
        if what == "lat":
            payload = np.zeros(8, np.int64)  # 64 bytes, stamped as late as possible
            payload[0] = time.perf_counter_ns()
            send(i, payload)
            time.sleep(0.001)
            if kind != "raw":
                tx.pump(0)
        else:
            send(i, payload)
    if kind == "raw":
        marks = q.get(timeout=60)
        push.close(linger=0)
    else:
        tx.close(linger_s=30)  # (realtime sends never wait: close() sends what is still queued)
        marks = q.get(timeout=60)
        assert tx.counters["dropped"] == 0
    proc.join(10)
    return [t0, *marks]


def _fps(kind: str, frame: np.ndarray) -> float:
    t0, *marks = _run(kind, "fps", N_FRAMES, frame)
    return N_FRAMES / ((marks[-1] - t0) / 1e9)


def _latency_us(kind: str) -> float:
    _, *lat = _run(kind, "lat", N_LAT + WARMUP, None)
    return float(np.median(lat[WARMUP:])) / 1000


def _measure(figures: dict[str, Any]) -> dict[str, float]:
    frame = np.random.default_rng(0).integers(0, 255, FRAME, np.uint8)
    best = {"raw": 0.0, "reliable": 0.0, "realtime": 0.0}
    for _ in range(ROUNDS):
        for kind, fps in best.items():
            best[kind] = max(fps, _fps(kind, frame))
    lat_raw = lat_link = float("inf")
    for _ in range(ROUNDS):  # alternating, best of several: the box is shared, and noise only adds
        lat_raw = min(lat_raw, _latency_us("raw"))
        lat_link = min(lat_link, _latency_us("reliable"))
    out = {
        "link_1080p_raw_fps": round(best["raw"], 1),
        "link_1080p_reliable_fps": round(best["reliable"], 1),
        "link_1080p_realtime_fps": round(best["realtime"], 1),
        "link_1080p_vs_raw": round(best["reliable"] / best["raw"], 3),
        "link_reliable_vs_realtime": round(best["reliable"] / best["realtime"], 3),
        "link_64B_raw_us": round(lat_raw, 1),
        "link_64B_link_us": round(lat_link, 1),
        "link_64B_vs_raw": round(lat_link / lat_raw, 3),
    }
    figures.update(out)
    return out


def test_link_against_raw_pyzmq(benchmark: Any, figures: dict[str, Any]) -> None:
    got = benchmark.pedantic(_measure, args=(figures,), rounds=1, iterations=1)
    print(got)
    assert got["link_1080p_vs_raw"] >= 0.90
    assert got["link_64B_vs_raw"] <= 1.3
    assert got["link_reliable_vs_realtime"] >= 0.85
