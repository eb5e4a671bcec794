"""`edgespeed graph GRAPH -o FILE`: draw a graph; the format follows the extension."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..graph import render
from .validate import load_checked

FORMATS = (".svg", ".png", ".dot", ".mmd")


def cmd_graph(args: argparse.Namespace) -> int:
    """Validate `args.graph` and write its picture to `args.output`.

    Args:
        args: `graph` (a path or a built-in graph name) and `output` (.svg, .png, .dot or .mmd).

    Returns:
        0 once written; 2 for an unsupported extension.

    Raises:
        GraphErrors: the graph is invalid (the CLI prints each error and exits 2).
    """
    out = Path(args.output)
    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        what = f"unsupported format {suffix!r}" if suffix else f"{args.output!r} has no extension"
        print(f"error: {what}; use .svg, .png, .dot or .mmd", file=sys.stderr)
        return 2
    resolved = load_checked(args.graph)
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".png":
        render.to_png(resolved, out)
    else:
        writers = {".svg": render.to_svg, ".dot": render.to_dot, ".mmd": render.to_mermaid}
        out.write_text(writers[suffix](resolved), encoding="utf-8")
    print(f"wrote {out}")
    return 0
