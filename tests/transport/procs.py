"""Processes for the link tests that need several: a receiver that writes what it delivers, a forger."""

from __future__ import annotations

import os
import time
from typing import Any


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM), MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc/self/status")


def receive(ep: str, link: str, out_path: str, stop: Any, q: Any, curve: Any = None, allow: Any = None,
            max_bytes: int | None = None, lazy_s: float = 0.02) -> None:
    """A reliable receiver writing `session seq value` per packet it delivers, completing each
    `lazy_s` after delivery (so packets delivered but not acknowledged are always about)."""
    from edgespeed.transport import security
    from edgespeed.transport.link import Receiver

    kw = {"max_bytes": max_bytes} if max_bytes else {}
    rx = Receiver(link, ep, heartbeat_s=0.1, timeout_s=1.0, curve=curve, **kw)
    if curve is not None:
        security.allow(link, allow)
    q.put("ready")
    pending: list[tuple[float, int, int]] = []
    with open(out_path, "w") as f:
        while not stop.is_set():
            for m in rx.recv(5):
                f.write(f"{rx.session} {m.seq} {int(m.value[0])}\n")
                f.flush()  # written: a duplicate later would show
                pending.append((time.monotonic() + lazy_s, m.seq, rx.epoch))
            now = time.monotonic()
            while pending and pending[0][0] <= now:
                _, seq, epoch = pending.pop(0)
                rx.complete(seq, epoch)
    q.put({"peak_rss_mb": peak_rss_mb(), **rx.counters, "sessions": len(rx.peers)})
    rx.sock.close(linger=0)


def forge(ep: str, link: str, stop: Any, q: Any, curve: Any = None) -> None:
    """A third party: new sessions saying hello from 0 and sending packets of value -1, again and again."""
    import numpy as np
    import zmq

    from edgespeed.transport import wire

    ctx = zmq.Context.instance()
    sent = 0
    while not stop.is_set():
        s = ctx.socket(zmq.DEALER)
        s.linger = 0
        s.routing_id = os.urandom(8).hex().encode()
        if curve is not None:
            s.curve_publickey, s.curve_secretkey, s.curve_serverkey = curve
        s.connect(ep)
        for _ in range(5):  # (never blocking: a refused handshake leaves nowhere to send)
            msgs = [wire.control("hello", link, sid=s.routing_id.decode(), base=0)]
            msgs += [wire.encode(link, seq, 0, 0, np.array([-1])) for seq in range(3)]
            for m in msgs:
                try:
                    s.send_multipart(m, zmq.NOBLOCK)
                except zmq.Again:
                    pass
            sent += 3
            time.sleep(0.01)
        s.close()
    q.put(sent)


def flood(ep: str, sizes: list[int], q: Any) -> None:
    """Send one message of each size on a connection of its own, all at once (from lazily
    mapped zero pages, so this process does not hold them either)."""
    import mmap

    import zmq

    ctx = zmq.Context.instance()
    socks = []
    for size in sizes:
        s = ctx.socket(zmq.DEALER)
        s.linger = 0
        s.sndhwm = 0
        s.connect(ep)
        s.send_multipart([b"\x80", memoryview(mmap.mmap(-1, size))], copy=False)
        socks.append(s)
    q.put("sent")
    time.sleep(3)  # (the transfers finish or are refused)
    for s in socks:
        s.close()
