"""`edgespeed keys generate NAME`: a CurveZMQ keypair for a device's encrypted links."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path


def cmd_keys(args: argparse.Namespace) -> int:
    from ..transport.security import generate

    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", args.name):
        print(f"error: key name {args.name!r}: use letters, digits, '_', '.' and '-'", file=sys.stderr)
        return 2
    existing = [p for p in (Path(args.dir) / f"{args.name}.key", Path(args.dir) / f"{args.name}.key_secret") if p.exists()]
    if existing and not getattr(args, "force", False):
        # a new keypair locks out every peer that holds the old public key: never by accident
        print(f"error: {str(existing[0])!r} exists; use --force to replace the keypair (then copy the new "
              f"{args.name}.key to its peers)", file=sys.stderr)
        return 2
    public, secret = generate(args.name, args.dir)
    print(f"wrote {public} (public: copy it to the devices that talk to this one)")
    print(f"wrote {secret} (secret: keep it on this device only)")
    return 0
