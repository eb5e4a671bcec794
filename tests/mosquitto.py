"""A real mosquitto broker for the MQTT tests, on 127.0.0.1 with a config of its own."""

from __future__ import annotations

import getpass
import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Broker:
    """A mosquitto on 127.0.0.1:port with a config of its own, persistent so a restart keeps
    the subscriber's session (its QoS 1 queue)."""

    def __init__(self, tmp: Path, extra: str = "") -> None:
        self.port = free_port()
        self.tmp = tmp
        (tmp / "db").mkdir(exist_ok=True)
        self.conf = tmp / "mosquitto.conf"
        self.conf.write_text(f"user {getpass.getuser()}\npersistence true\npersistence_location {tmp / 'db'}/\n"
                             f"listener {self.port} 127.0.0.1\n{extra or 'allow_anonymous true'}\n")
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(["mosquitto", "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.monotonic() + 10
        while time.monotonic() < end:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("mosquitto did not start")

    def stop(self) -> None:
        assert self.proc is not None
        self.proc.terminate()
        self.proc.wait(10)
