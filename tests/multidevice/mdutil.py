"""Helpers for the multi-device tests: free ports, device processes, a recording TCP proxy."""

from __future__ import annotations

import json
import os
import random
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).parent


LINK_SPAN = 8
"""Ports each base reserves: a device's k-th link binds its endpoint's port + k."""


def free_ports(n: int) -> list[int]:
    """`n` base ports, each with the LINK_SPAN ports above it free too. They come from below the
    kernel's ephemeral range: a port the kernel handed out (bind to 0) sits among those it hands to
    outgoing connections, and one device's connect once took the port its peer's second link was
    about to bind (CI: Address already in use on endpoint + 1)."""
    span = Path("/proc/sys/net/ipv4/ip_local_port_range")
    low = int(span.read_text().split()[0]) if span.exists() else 32768
    rng = random.Random()
    ports: list[int] = []
    while len(ports) < n:
        base = rng.randrange(20000, low - LINK_SPAN)
        if any(abs(base - p) < LINK_SPAN for p in ports) or not _all_free(base, LINK_SPAN):
            continue
        ports.append(base)
    return ports


def _all_free(base: int, span: int) -> bool:
    for port in range(base, base + span):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))


_DEVICES: list[Device] = []  # (for the logs of a stuck test's devices; one test's few objects each)


class Device:
    """`python -m edgespeed run GRAPH --device NAME` in a process of its own."""

    def __init__(self, graph: Path, name: str, tmp: Path, *extra: str, prefix: list[str] | None = None) -> None:
        self.name, self.report, self.log = name, tmp / f"{name}.json", tmp / f"{name}.log"
        self.log_file = open(self.log, "ab")  # noqa: SIM115 - closed in wait() or kill()
        cmd = [sys.executable, "-m", "edgespeed", "run", str(graph), "--device", name, "-q", "--report", str(self.report), *extra]
        self.proc = subprocess.Popen([*(prefix or []), *cmd], env=env(), stdout=self.log_file, stderr=subprocess.STDOUT)
        _DEVICES.append(self)

    def wait(self, timeout: float = 60) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(self._stuck(timeout)) from None
        finally:
            self.log_file.close()

    def _stuck(self, timeout: float) -> str:
        """A device that did not end: its threads' stacks (SIGUSR1, see `edgespeed run`) and the
        logs of every device of its test, so a rare hang in CI says where it is."""
        self.proc.send_signal(signal.SIGUSR1)
        time.sleep(1.0)
        logs = "\n".join(f"--- {d.name} (exit {d.proc.poll()}):\n{d.text()}" for d in _DEVICES if d.log.parent == self.log.parent)
        return f"device {self.name} still running after {timeout} s\n{logs}"

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self.log_file.close()

    def counters(self, node: str) -> dict[str, int]:
        return json.loads(self.report.read_text())["nodes"][node].get("counters", {})

    def text(self) -> str:
        return self.log.read_text(errors="replace")


def stop_all(*devices: Device) -> None:
    for d in devices:
        if d.proc.poll() is None:
            d.proc.kill()
            d.proc.wait()


def numbers(path: Path) -> list[int]:
    if not path.exists():
        return []
    return [int(line.split()[0]) for line in path.read_text().splitlines() if line.strip()]


def wait_for(cond, timeout: float = 30, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True


class RecordingProxy(threading.Thread):
    """Relays TCP from `listen_port` to `target_port` on loopback and keeps every byte sent."""

    def __init__(self, listen_port: int, target_port: int) -> None:
        super().__init__(daemon=True)
        self.server = socket.create_server(("127.0.0.1", listen_port))
        self.target = target_port
        self.captured = bytearray()
        self.closing = False

    def run(self) -> None:
        while not self.closing:
            r, _, _ = select.select([self.server], [], [], 0.1)
            if r:
                try:
                    client, _ = self.server.accept()
                except OSError:  # closed between select and accept: the proxy is going away
                    return
                threading.Thread(target=self._pipe, args=(client,), daemon=True).start()

    def _pipe(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target))
        except OSError:
            client.close()
            return
        peers = {client: upstream, upstream: client}
        try:
            while not self.closing:
                r, _, _ = select.select(list(peers), [], [], 0.1)
                for s in r:
                    data = s.recv(1 << 16)
                    if not data:
                        return
                    if s is client:
                        self.captured += data
                    peers[s].sendall(data)
        except OSError:
            return
        finally:
            client.close()
            upstream.close()

    def close(self) -> None:
        self.closing = True
        self.server.close()
