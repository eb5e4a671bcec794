"""Hostile traffic against a receiver in a process of its own: forged sessions, oversized messages."""

from __future__ import annotations

import collections
import multiprocessing as mp
import socket
import time

import numpy as np
import pytest

import procs
from edgespeed.transport import security
from edgespeed.transport.link import Sender

N = 300


def _endpoint() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{s.getsockname()[1]}"


def _start(target, *args, **kw):
    ctx = mp.get_context("spawn")
    p = ctx.Process(target=target, args=args, kwargs=kw, daemon=True)
    p.start()
    return p


@pytest.mark.parametrize("keys", [False, True], ids=["insecure", "keys"])
def test_a_third_party_never_makes_a_real_packet_written_twice(tmp_path, keys, capsys):
    ctx = mp.get_context("spawn")
    ep, out = _endpoint(), tmp_path / "sink.txt"
    stop, q, fq = ctx.Event(), ctx.Queue(), ctx.Queue()
    rx_curve = tx_curve = forger_curve = allow = None
    if keys:
        rx_pub, rx_sec = security.load(security.generate("rx", tmp_path)[1], secret=True)
        tx_pub, tx_sec = security.load(security.generate("tx", tmp_path)[1], secret=True)
        ev_pub, ev_sec = security.load(security.generate("eve", tmp_path)[1], secret=True)
        rx_curve, allow = (rx_pub, rx_sec), [tx_pub]
        tx_curve, forger_curve = (tx_pub, tx_sec, rx_pub), (ev_pub, ev_sec, rx_pub)
    rx = _start(procs.receive, ep, "l", str(out), stop, q, curve=rx_curve, allow=allow)
    assert q.get(timeout=30) == "ready"
    forger = _start(procs.forge, ep, "l", stop, fq, curve=forger_curve)
    try:
        tx = Sender("l", ep, heartbeat_s=0.1, timeout_s=1.0, curve=tx_curve)
        for i in range(N):
            tx.send(np.array([i]), time.time_ns(), i)
            time.sleep(0.002)  # (the forger gets its turns in between)
        assert tx.close(linger_s=20)
    finally:
        stop.set()
    report, forged_sent = q.get(timeout=30), fq.get(timeout=30)
    rx.join(10)
    forger.join(10)
    lines = [line.split() for line in out.read_text().splitlines()]
    real = [int(v) for _, _, v in lines if int(v) >= 0]
    forged = sum(1 for _, _, v in lines if int(v) < 0)
    assert collections.Counter(real).most_common(1)[0][1] == 1  # no real packet written twice
    assert sorted(real) == list(range(N)) and real == sorted(real)
    assert forged_sent > 50
    if keys:
        assert forged == 0 and report["sessions"] == 1
    else:  # the forger's sessions are its own: its packets get in (that is what `insecure` means)
        assert forged > 0 and report["sessions"] > 1
    with capsys.disabled():
        print(f"\n[isolation {'keys' if keys else 'insecure'}] forged sent {forged_sent}, reached the sink {forged}, "
              f"real {len(real)} (duplicates {len(real) - len(set(real))})")


@pytest.mark.parametrize("sizes, max_mb", [
    pytest.param([1 << 30], None, id="1GiB-default-cap"),
    pytest.param([200_000_000] * 8, None, id="8x200MB-default-cap"),
])
def test_oversized_messages_are_refused_before_they_are_buffered(tmp_path, sizes, max_mb, capsys):
    ctx = mp.get_context("spawn")
    ep, out = _endpoint(), tmp_path / "sink.txt"
    stop, q, fq = ctx.Event(), ctx.Queue(), ctx.Queue()
    rx = _start(procs.receive, ep, "l", str(out), stop, q, max_bytes=max_mb and max_mb << 20, lazy_s=0.0)
    assert q.get(timeout=30) == "ready"
    tx = Sender("l", ep, heartbeat_s=0.1, timeout_s=1.0)
    flood = None
    try:
        for i in range(N):
            if i == 20:
                flood = _start(procs.flood, ep, sizes, fq)
            tx.send(np.array([i]), time.time_ns(), i)
            time.sleep(0.01)  # the real peer keeps delivering while the flood is on (about 3 s)
        assert tx.close(linger_s=20)
    finally:
        stop.set()
    report = q.get(timeout=30)
    assert fq.get(timeout=30) == "sent"
    rx.join(10)
    flood.join(10)
    real = [int(line.split()[2]) for line in out.read_text().splitlines()]
    assert real == list(range(N))
    assert report["peak_rss_mb"] < 400, report
    with capsys.disabled():
        print(f"\n[limits {len(sizes)}x{sizes[0]} B, cap {max_mb or 64} MiB] receiver peak RSS {report['peak_rss_mb']:.0f} MB")
