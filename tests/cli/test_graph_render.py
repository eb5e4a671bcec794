"""`edgespeed graph GRAPH -o FILE` writes real pictures in every format, and refuses bad input with exit 2."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from edgespeed.cli import main
from edgespeed.graph import load
from edgespeed.graph.render import COLOURS, layout
from edgespeed.graph.validate import check

QUICKSTART = "graphs/quickstart.yaml"  # found in the checkout, or as the installed built-in graph
NODES = ("cam", "small", "log", "preview")
EDGES = (("cam", "small", "frame -> image"), ("small", "log", "out -> data"),
         ("cam", "preview", "frame -> data (latest/1)"))
SVG = "{http://www.w3.org/2000/svg}"


def _draw(tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str], graph: str = QUICKSTART) -> Path:
    out = tmp_path / "pictures" / name  # the parent folder does not exist yet
    assert main(["graph", graph, "-o", str(out)]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {out}"
    return out


def test_svg_is_well_formed_and_shows_every_node_and_edge(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = ET.parse(_draw(tmp_path, "g.svg", capsys)).getroot()
    assert root.tag == f"{SVG}svg" and float(root.get("width", 0)) > 300
    texts = [t.text for t in root.iter(f"{SVG}text")]
    groups = {g.get("id") for g in root.iter(f"{SVG}g")}
    for node in NODES:
        assert node in texts and f"node-{node}" in groups
    assert "video.synthetic" in texts and "sink.jsonl" in texts
    assert {label for _, _, label in EDGES} <= set(texts)
    assert len([p for p in root.iter(f"{SVG}path") if p.get("marker-end")]) == len(EDGES)
    fills = {r.get("fill") for r in root.iter(f"{SVG}rect")}
    assert {fill for fill, _ in COLOURS.values()} <= fills  # a source, plain nodes and sinks, each its colour


def test_png_is_a_drawing_of_the_graph(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import cv2

    img = cv2.imread(str(_draw(tmp_path, "g.png", capsys)))
    assert img is not None and img.ndim == 3
    h, w = img.shape[:2]
    assert 150 <= h <= 2000 and 400 <= w <= 4000 and w > h  # laid out left to right
    assert (img < 250).any(axis=2).mean() > 0.05  # not blank
    for fill, _ in COLOURS.values():  # each kind of node is filled with its own colour
        b, g, r = (int(fill[k:k + 2], 16) for k in (5, 3, 1))
        assert (np.abs(img.astype(int) - (b, g, r)).sum(axis=2) <= 6).sum() > 500, fill


def test_dot_has_every_node_and_edge(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = _draw(tmp_path, "g.dot", capsys).read_text()
    assert text.startswith('digraph "quickstart" {') and "rankdir=LR;" in text and text.rstrip().endswith("}")
    for node in NODES:
        assert re.search(rf'^  "{node}" \[label=<<b>{node}</b>', text, re.MULTILINE)
    for src, dst, label in EDGES:
        assert f'"{src}" -> "{dst}" [label="{label}"];' in text


def test_mermaid_has_every_node_and_edge(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = _draw(tmp_path, "g.mmd", capsys).read_text()
    assert text.startswith("flowchart LR\n")
    assert 'cam["<b>cam</b><br/>video.synthetic"]:::source' in text
    assert "preview[" in text and ":::sink" in text and "small[" in text and ":::node" in text
    for src, dst, label in EDGES:
        assert f'{src} -->|"{label}"| {dst}' in text


def test_unsupported_extension_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "g.xyz"
    assert main(["graph", QUICKSTART, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == "error: unsupported format '.xyz'; use .svg, .png, .dot or .mmd\n"
    assert not out.exists()


def test_invalid_graph_exits_2_with_one_line_per_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nnodes:\n  - {id: cam, type: video.synthetc}\n")
    out = tmp_path / "g.svg"
    assert main(["graph", str(bad), "-o", str(out)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{bad}:3:") and "video.synthetc" in lines[0]
    assert not out.exists()


def _big_graph(tmp_path: Path, chains: int = 12) -> Path:
    """About 100 nodes: sources fanning out to chains of resizes, joined again by pairs across columns."""
    lines = ["name: big", "nodes:"]
    for c in range(chains):
        lines.append(f"  - {{id: cam{c}, type: video.synthetic}}")
        prev = f"cam{c}/frame"
        for k in range(4):
            lines.append(f"  - {{id: r{c}_{k}, type: image.resize, params: {{width: 8, height: 8}}, "
                         f"inputs: {{image: {prev}}}}}")
            prev = f"r{c}_{k}/out"
        # `right` skips three columns: its wire must pass between the boxes there, not through them.
        lines.append(f"  - {{id: pair{c}, type: plugins_for_tests:Pair, inputs: {{left: {prev}, right: r{c}_0/out}}}}")
        lines.append(f"  - {{id: log{c}, type: sink.null, inputs: {{data: pair{c}/out}}}}")
        lines.append(f"  - {{id: peek{c}, type: sink.null, "
                     f"inputs: {{data: {{from: cam{c}/frame, queue: 1, policy: latest}}}}}}")
    path = tmp_path / "big.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_layout_of_a_big_graph_keeps_boxes_and_wires_apart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(Path(__file__).parents[1] / "graphs"))  # for plugins_for_tests:Pair
    lay = layout(check(load(_big_graph(tmp_path))))
    boxes = list(lay.boxes.values())
    assert len(boxes) == 96 and len(lay.wires) == 96
    for i, a in enumerate(boxes):
        assert a.x >= 0 and a.x + a.w <= lay.width and a.y >= 0 and a.y + a.h <= lay.height
        for b in boxes[i + 1:]:
            assert a.x + a.w <= b.x or b.x + b.w <= a.x or a.y + a.h <= b.y or b.y + b.h <= a.y, (a.id, b.id)
    for w in lay.wires:
        pts = w.points()
        assert all(x1 <= x2 + 1e-6 for (x1, _), (x2, _) in pairwise(pts))  # left to right, producer first
        for b in boxes:
            if b.id not in (w.edge.src, w.edge.dst):
                assert not any(b.x < x < b.x + b.w and b.y < y < b.y + b.h for x, y in pts), (w.edge, b.id)


def test_big_graph_draws_in_every_format(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    import cv2

    monkeypatch.syspath_prepend(str(Path(__file__).parents[1] / "graphs"))
    graph = str(_big_graph(tmp_path))
    root = ET.parse(_draw(tmp_path, "big.svg", capsys, graph)).getroot()
    assert len([g for g in root.iter(f"{SVG}g") if (g.get("id") or "").startswith("node-")]) == 96
    img = cv2.imread(str(_draw(tmp_path, "big.png", capsys, graph)))
    assert img is not None and img.shape[0] > 1000
    assert _draw(tmp_path, "big.dot", capsys, graph).read_text().count(" -> ") == 96 + 96  # edges + their labels
    assert _draw(tmp_path, "big.mmd", capsys, graph).read_text().count(" -->|") == 96
