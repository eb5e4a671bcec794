"""CurveZMQ on links: keypairs, the peers a device accepts, and the warning for plain text.

- `edgespeed keys generate NAME` writes `NAME.key` (the public key, safe to copy to peers) and
  `NAME.key_secret` (stays on the device), in ZeroMQ's certificate format.
- A device with `keys: keys/gateway` in the graph encrypts every link into it: it serves CURVE
  with `keys/gateway.key_secret`, and senders authenticate with their own device keys.
- Who may connect is an allowlist of public keys checked by a ZAP handler (one thread per
  process, on ZeroMQ's well-known inproc address): by default the devices that have edges into
  this one; `allow:` on the device names others (device names or `.key` files). Any other key is
  refused before a single message gets through, and each refusal is logged and counted.
- A link bound to a non-loopback address without keys logs a warning when it opens.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from pathlib import Path
from typing import Any

from ..errors import EdgeSpeedError

log = logging.getLogger("edgespeed.link")
ZAP_ENDPOINT = "inproc://zeromq.zap.01"

_allow: dict[str, set[bytes]] = {}  # ZAP domain (one per link) -> Z85 public keys
refused: dict[str, int] = {}  # ZAP domain -> refusals so far
_lock = threading.Lock()
_thread: threading.Thread | None = None


class KeyFileError(EdgeSpeedError):
    """A key file is missing or unreadable."""


def generate(name: str, directory: str | Path = ".") -> tuple[Path, Path]:
    """Write a new keypair `NAME.key` / `NAME.key_secret` in `directory`; returns both paths."""
    import zmq.auth

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    public, secret = zmq.auth.create_certificates(str(d), name)
    Path(secret).chmod(0o600)
    return Path(public), Path(secret)


def load(path: str | Path, secret: bool = False) -> tuple[bytes, bytes | None]:
    """(public, secret) Z85 keys from a key file; `secret=True` requires the secret one."""
    import zmq.auth

    p = Path(path)
    if secret and p.suffix != ".key_secret":
        p = p.with_name(p.name + "_secret") if p.suffix == ".key" else p.with_name(p.name + ".key_secret")
    elif not secret and p.suffix not in (".key", ".key_secret"):
        p = p.with_name(p.name + ".key")
    try:
        public, sec = zmq.auth.load_certificate(str(p))
    except (OSError, ValueError) as e:
        raise KeyFileError(f"cannot read key file {str(p)!r}: {e}") from None
    if secret and not sec:
        raise KeyFileError(f"key file {str(p)!r} holds no secret key")
    return public, sec


def allow(domain: str, keys: list[bytes]) -> None:
    """Let the peers with these public keys connect to the link served under `domain`."""
    with _lock:
        _allow[domain] = set(keys)
        refused.setdefault(domain, 0)
    _start()


def _start() -> None:
    global _thread
    with _lock:
        if _thread is not None and _thread.is_alive():
            return
        import zmq

        sock: Any = zmq.Context.instance().socket(zmq.REP)
        sock.linger = 0
        sock.bind(ZAP_ENDPOINT)
        _thread = threading.Thread(target=_serve, args=(sock,), name="edgespeed:zap", daemon=True)
        _thread.start()


def _serve(sock: Any) -> None:
    """The ZAP handler: answer every authentication request from the allowlists."""
    import zmq
    import zmq.utils.z85  # (not imported by `import zmq`)

    while True:
        try:
            req = sock.recv_multipart()
        except zmq.ZMQError:  # the context is terminating
            return
        version, rid, domain, address, _identity, mechanism = req[:6]
        dom = domain.decode(errors="replace")
        ok, key = False, "-"
        if mechanism == b"CURVE" and len(req) > 6 and len(req[6]) == 32:
            key = zmq.utils.z85.encode(req[6]).decode()
            with _lock:
                ok = key.encode() in _allow.get(dom, set())
        if not ok:
            with _lock:
                refused[dom] = refused.get(dom, 0) + 1
            log.warning("link %s: refused a peer from %s with unknown key %s (mechanism %s)",
                        dom, address.decode(errors="replace") or "?", key, mechanism.decode(errors="replace"))
        status = [b"200", b"OK"] if ok else [b"400", b"unknown key"]
        sock.send_multipart([version, rid, *status, key.encode() if ok else b"", b""])


def is_loopback(endpoint: str) -> bool:
    """True for tcp://127.x, localhost and ::1 addresses, and for ipc:// and inproc://."""
    scheme, _, rest = endpoint.partition("://")
    if scheme != "tcp":
        return True
    host = rest.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # '*', an interface name or a host name: reachable from outside


def warn_plaintext(link: str, endpoint: str) -> bool:
    """Log a warning for a plain-text link listening beyond loopback; True if warned."""
    if is_loopback(endpoint):
        return False
    log.warning("link %s: listening on %s without encryption; anyone on the network can read and inject "
                "its data. Give the devices keys (edgespeed keys generate NAME) to use CurveZMQ", link, endpoint)
    return True
