"""`edgespeed keys generate NAME`: a CurveZMQ keypair for a device's encrypted links."""

from __future__ import annotations

import argparse
import re
import sys


def cmd_keys(args: argparse.Namespace) -> int:
    from ..transport.security import generate

    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", args.name):
        print(f"error: key name {args.name!r}: use letters, digits, '_', '.' and '-'", file=sys.stderr)
        return 2
    public, secret = generate(args.name, args.dir)
    print(f"wrote {public} (public: copy it to the devices that talk to this one)")
    print(f"wrote {secret} (secret: keep it on this device only)")
    return 0
