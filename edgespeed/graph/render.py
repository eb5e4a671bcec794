"""Pictures of a validated graph: Graphviz DOT, Mermaid, SVG and PNG.

DOT and Mermaid leave the layout to their own tools. SVG and PNG share one layout computed
here, layered left to right by topological generation, so neither needs a graphviz binary.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape, quoteattr

if TYPE_CHECKING:
    import numpy as np

    from .plan import EdgePlan, plan
from .plan import EdgePlan, plan
from .validate import Resolved

# (fill, stroke) per kind: a source has no inputs; a sink feeds no other node.
COLOURS = {"source": ("#d7f0d4", "#3f8f3a"), "node": ("#dbe6f7", "#4a6fa5"), "sink": ("#fbe3c8", "#c07020")}
EDGE_COLOUR, TEXT_COLOUR, FAINT_COLOUR = "#6b7280", "#111827", "#4b5563"
# Glyph widths (px) of sans-serif at 13px bold, 11px and 10px, estimated generously: no font metrics.
BOLD_W, TYPE_W, LABEL_W = 8.6, 6.8, 6.2
BOX_H, PORT_PITCH, SLOT_H, ROW_GAP, MIN_GAP, MARGIN, TITLE_H = 46.0, 14.0, 8.0, 26.0, 80.0, 20.0, 34.0


@dataclass(frozen=True)
class Edge:
    """One wire: `src/out_port` feeds `dst`'s input `in_port`; `label` says so, with the ring if set."""

    src: str
    out_port: str
    dst: str
    in_port: str
    label: str


@dataclass(frozen=True)
class Box:
    """A node's rounded box: top-left corner and size, in px."""

    id: str
    type: str
    kind: str
    x: float
    y: float
    w: float
    h: float


Point = tuple[float, float]
Hop = tuple[Point, Point, Point, Point]  # a cubic Bezier: start, control 1, control 2, end
Rect = tuple[float, float, float, float]
Sides = dict[str, tuple[list[str], list[str]]]  # id -> (its inputs or predecessors, its outputs or successors)


def _bezier(hop: Hop, t: float) -> Point:
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = hop
    a, b, c, d = (1 - t) ** 3, 3 * t * (1 - t) ** 2, 3 * t * t * (1 - t), t ** 3
    return a * x0 + b * x1 + c * x2 + d * x3, a * y0 + b * y1 + c * y2 + d * y3


@dataclass(frozen=True)
class Wire:
    """An edge placed: a chain of cubic hops from producer to consumer, and its label's centre."""

    edge: Edge
    hops: tuple[Hop, ...]
    label_at: Point = (0.0, 0.0)

    def points(self, n: int = 24) -> list[Point]:
        """Points along the whole path, `n` per hop, from start to end."""
        return [self.hops[0][0]] + [_bezier(h, i / n) for h in self.hops for i in range(1, n + 1)]


@dataclass(frozen=True)
class Layout:
    """Boxes and wires of a whole graph, ready to draw."""

    title: str
    width: float
    height: float
    boxes: dict[str, Box]
    wires: tuple[Wire, ...]


def edges(resolved: Resolved) -> list[Edge]:
    """Every edge of `resolved`, in declaration order of the consumers and their inputs."""
    out = []
    carriers = {e.target: _carrier(e) for e in plan(resolved).edges}
    for n in resolved.spec.nodes:
        decls = resolved.ports[n.id][0]
        for port, inp in resolved.inputs[n.id].items():
            queue, policy = inp.queue or decls[port].queue, inp.policy or decls[port].policy
            ring = f"{policy}/{queue}" if policy and queue else policy or (f"queue {queue}" if queue else "")
            label = f"{inp.output} -> {port}" + (f" ({ring})" if ring else "") + carriers[f"{n.id}.{port}"]
            out.append(Edge(inp.node, inp.output or "", n.id, port, label))
    return out


def _carrier(e: EdgePlan) -> str:
    """What carries an edge, where it is more than an in-process ring: ` [link realtime zstd]`,
    ` [shm]`, ` [link reliable, encrypted, private]` (nothing for a plain ring)."""
    parts = []
    if e.devices:
        parts.append(" ".join(["link", e.mode or "reliable", *([e.compress] if e.compress and e.compress != "none" else [])]))
    elif e.carrier != "ring":
        parts.append(e.carrier)
    if e.links and all(lk.encrypted for lk in e.links):
        parts.append("encrypted")
    if e.private:
        parts.append("private")
    return f" [{', '.join(parts)}]" if parts else ""


def clusters(resolved: Resolved) -> dict[str, dict[str, list[str]]]:
    """Node ids by device, then by process group (`""`: the main process); one device `""`
    when the graph declares none. A replicated node sits in its first device's cluster."""
    out: dict[str, dict[str, list[str]]] = {}
    for n in plan(resolved).nodes.values():
        dev = n.replicas[0] if n.replicas else n.device or ""
        out.setdefault(dev, {}).setdefault(n.process or "", []).append(n.id)
    return out


def kinds(resolved: Resolved) -> dict[str, str]:
    """Node id -> `source` (no inputs), `sink` (no other node reads it) or `node`."""
    read = {e.src for e in edges(resolved)}
    return {n.id: "source" if not resolved.inputs[n.id] else "node" if n.id in read else "sink"
            for n in resolved.spec.nodes}


def layout(resolved: Resolved) -> Layout:
    """Place every node in a column by topological generation and route every edge.

    An edge spanning several columns passes through a slot reserved for it in each column
    between, so it never crosses a box.

    Args:
        resolved: a validated graph.

    Returns:
        The layout shared by `to_svg` and `to_png`, in px with the origin at the top left.
    """
    es, kind = edges(resolved), kinds(resolved)
    ports = {n.id: ([p for p in resolved.ports[n.id][0] if p in resolved.inputs[n.id]],
                    [p for p in resolved.ports[n.id][1] if any(e.src == n.id and e.out_port == p for e in es)])
             for n in resolved.spec.nodes}  # the wired ports, in declaration order
    layers, via, links = _layers(resolved, es)
    sizes = {i: (0.0, SLOT_H) for layer in layers for i in layer}
    for n in resolved.spec.nodes:
        w = max(len(n.id) * BOLD_W, len(n.type) * TYPE_W, 60) + 24
        sizes[n.id] = (w, max(BOX_H, PORT_PITCH * (max(map(len, ports[n.id])) + 1)))
    col_of = {i: c for c, layer in enumerate(layers) for i in layer}
    # gaps[c]: the space left of column c, where the labels of the edges into it go
    gaps = [max([MIN_GAP] + [len(e.label) * LABEL_W + 36 for e in es if col_of[e.dst] == c])
            for c in range(len(layers))]
    rects, spans, width, height = _place(layers, sizes, gaps, links)
    boxes = {n.id: Box(n.id, n.type, kind[n.id], *rects[n.id]) for n in resolved.spec.nodes}
    wires = [_wire(e, ports, boxes, [(*spans[col_of[s]], rects[s][1] + SLOT_H / 2) for s in slots])
             for e, slots in zip(es, via, strict=True)]
    title = f"{resolved.spec.name}: {len(kind)} nodes, {len(es)} edges"
    width = max(width, 2 * MARGIN + len(title) * 8.5)  # room for the title
    return Layout(title, width, height, boxes, tuple(_place_labels(wires, boxes)))


def _layers(resolved: Resolved, es: list[Edge]) -> tuple[list[list[str]], list[list[str]], Sides]:
    """Columns of ids ordered by barycentre sweeps; each edge's slots (`~edge.column`); neighbours of each id."""
    import networkx as nx

    order = {n.id: k for k, n in enumerate(resolved.spec.nodes)}
    g = nx.DiGraph([(e.src, e.dst) for e in es])
    g.add_nodes_from(order)
    layers = [sorted(gen, key=order.__getitem__) for gen in nx.topological_generations(g)]
    col = {i: c for c, layer in enumerate(layers) for i in layer}
    via: list[list[str]] = []
    for k, e in enumerate(es):
        cols = range(col[e.src] + 1, col[e.dst])
        via.append([f"~{k}.{c}" for c in cols])
        for c, s in zip(cols, via[-1], strict=True):
            layers[c].append(s)
            order[s] = len(order)
        if via[-1] and g.has_edge(e.src, e.dst):  # order by the slots, not by a direct jump
            g.remove_edge(e.src, e.dst)
        nx.add_path(g, [e.src, *via[-1], e.dst])
    for sweep in range(6):  # down using predecessors, then up using successors, and again
        pos = {i: (k + 0.5) / len(layer) for layer in layers for k, i in enumerate(layer)}
        nbrs = g.predecessors if sweep % 2 == 0 else g.successors
        for layer in layers if sweep % 2 == 0 else reversed(layers):
            ps = {i: [pos[p] for p in nbrs(i)] for i in layer}
            key = {i: (sum(ps[i]) / len(ps[i]) if ps[i] else pos[i], order[i]) for i in layer}
            layer.sort(key=key.__getitem__)
            pos.update({i: (k + 0.5) / len(layer) for k, i in enumerate(layer)})
    return layers, via, {i: (list(g.predecessors(i)), list(g.successors(i))) for i in g}


def _place(layers: list[list[str]], sizes: dict[str, Point], gaps: list[float],
           links: Sides) -> tuple[dict[str, Rect], list[Point], float, float]:
    """(x, y, w, h) of every id; each column's (left, right); the canvas size.

    Sweeps move every box towards the mean height of its predecessors (going right) or successors
    (going left), so that chains run straight.
    """
    col_w = [max(sizes[i][0] for i in layer) for layer in layers]
    mid = {i: y for layer in layers for i, y in _pack(layer, dict.fromkeys(layer, 0.0), sizes).items()}
    for sweep in range(4):
        for layer in layers[1:] if sweep % 2 == 0 else layers[-2::-1]:
            near = {i: links[i][sweep % 2] for i in layer}
            mid.update(_pack(layer, {i: sum(mid[n] for n in near[i]) / len(near[i]) if near[i] else mid[i]
                                     for i in layer}, sizes))
    top = min(mid[i] - sizes[i][1] / 2 for i in mid) - TITLE_H - MARGIN
    rects, spans, x = {}, [], MARGIN
    for c, layer in enumerate(layers):
        x += gaps[c] if c else 0
        spans.append((x, x + col_w[c]))
        rects.update({i: (x + (col_w[c] - sizes[i][0]) / 2, mid[i] - sizes[i][1] / 2 - top, *sizes[i]) for i in layer})
        x += col_w[c]
    return rects, spans, x + MARGIN, max(r[1] + r[3] for r in rects.values()) + MARGIN


def _pack(layer: list[str], want: dict[str, float], sizes: dict[str, Point]) -> dict[str, float]:
    """Centres as near `want` as boxes in this order allow: the mean of packing downwards and upwards."""
    down, up, below, above = {}, {}, -float("inf"), float("inf")
    for i in layer:
        down[i] = max(want[i], below + ROW_GAP + sizes[i][1] / 2)
        below = down[i] + sizes[i][1] / 2
    for i in reversed(layer):
        up[i] = min(want[i], above - ROW_GAP - sizes[i][1] / 2)
        above = up[i] - sizes[i][1] / 2
    return {i: (down[i] + up[i]) / 2 for i in layer}


def _wire(e: Edge, ports: Sides, boxes: dict[str, Box], through: list[tuple[float, float, float]]) -> Wire:
    """Route `e` from its producer, straight across the columns it passes (`through`), to its consumer."""
    src, dst = boxes[e.src], boxes[e.dst]
    outs, ins = ports[e.src][1], ports[e.dst][0]
    pts = [(src.x + src.w, src.y + src.h * (outs.index(e.out_port) + 1) / (len(outs) + 1))]
    for left, right, y in through:
        pts += [(left, y), (right, y)]
    pts.append((dst.x, dst.y + dst.h * (ins.index(e.in_port) + 1) / (len(ins) + 1)))
    hops = []
    for k, (p, q) in enumerate(pairwise(pts)):
        bend = (q[0] - p[0]) / 2 if k % 2 == 0 else 0.0  # curves in the gaps, straight across columns
        hops.append((p, (p[0] + bend, p[1]), (q[0] - bend, q[1]), q))
    return Wire(e, tuple(hops))


def _place_labels(wires: list[Wire], boxes: dict[str, Box]) -> list[Wire]:
    """Put each label on the last hop of its wire (the gap left of the consumer), avoiding other labels."""
    taken = [(b.x, b.y, b.x + b.w, b.y + b.h) for b in boxes.values()]
    out = []
    for w in wires:
        half = len(w.edge.label) * LABEL_W / 2 + 4
        spots = [_bezier(w.hops[-1], t) for t in (0.5, 0.65, 0.35, 0.8, 0.2, 0.9, 0.1, 0.72, 0.28)]
        rects = [(x - half, y - 8, x + half, y + 8) for x, y in spots]
        free = (r for r in rects if not any(r[0] < o[2] and o[0] < r[2] and r[1] < o[3] and o[1] < r[3] for o in taken))
        taken.append(r := next(free, rects[0]))
        out.append(replace(w, label_at=((r[0] + r[2]) / 2, (r[1] + r[3]) / 2)))
    return out


def to_dot(resolved: Resolved) -> str:
    """Graphviz DOT text of the graph (render it with `dot -Tsvg`).

    Args:
        resolved: a validated graph.

    Returns:
        A `digraph` laid out left to right, one statement per line.
    """
    def q(s: str) -> str:
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = [f"digraph {q(resolved.spec.name)} {{", "  rankdir=LR;",
             '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=12];',
             f'  edge [fontname="Helvetica", fontsize=10, color="{EDGE_COLOUR}"];']
    colours = {i: COLOURS[k] for i, k in kinds(resolved).items()}
    spec = {n.id: n for n in resolved.spec.nodes}
    for dev, groups in clusters(resolved).items():
        pad = "  "
        if dev:
            lines += [f"  subgraph {q('cluster_' + dev)} {{", f"    label={q('device ' + dev)};", '    style="rounded,dashed";']
            pad = "    "
        for group, ids in groups.items():
            inner = pad
            if group:
                lines += [f"{pad}subgraph {q('cluster_' + dev + '_' + group)} {{", f"{pad}  label={q('process ' + group)};",
                          f'{pad}  style="rounded,dotted";']
                inner = pad + "  "
            lines += [f'{inner}{q(i)} [label=<<b>{escape(i)}</b><br/><font point-size="10">{escape(spec[i].type)}</font>>, '
                      f'fillcolor="{colours[i][0]}", color="{colours[i][1]}"];' for i in ids]
            if group:
                lines.append(f"{pad}}}")
        if dev:
            lines.append("  }")
    lines += [f"  {q(e.src)} -> {q(e.dst)} [label={q(e.label)}];" for e in edges(resolved)]
    return "\n".join([*lines, "}"]) + "\n"


def to_mermaid(resolved: Resolved) -> str:
    """Mermaid flowchart text of the graph (the `.mmd` format; GitHub renders it in Markdown).

    Args:
        resolved: a validated graph.

    Returns:
        A `flowchart LR` with one class per node kind for the fill colours.
    """
    def mid(i: str) -> str:  # the id `end` would end the flowchart
        return "end_" if i == "end" else i

    def text(s: str) -> str:
        return s.replace('"', "#quot;")  # inside quotes only `"` needs an entity

    kind = kinds(resolved)
    lines = ["flowchart LR"]
    spec = {n.id: n for n in resolved.spec.nodes}
    for dev, groups in clusters(resolved).items():
        for group, ids in groups.items():
            title = " / ".join([*([f"device {dev}"] if dev else []), *([f"process {group}"] if group else [])])
            if title:
                lines.append(f'    subgraph {mid("c_" + re.sub(r"[^a-z0-9_]", "_", dev + "_" + group))}["{text(title)}"]')
            lines += [f'    {mid(i)}["<b>{text(i)}</b><br/>{text(spec[i].type)}"]:::{kind[i]}' for i in ids]
            if title:
                lines.append("    end")
    lines += [f'    {mid(e.src)} -->|"{text(e.label)}"| {mid(e.dst)}' for e in edges(resolved)]
    lines += [f"    classDef {k} fill:{fill},stroke:{line},color:{TEXT_COLOUR}" for k, (fill, line) in COLOURS.items()]
    return "\n".join(lines) + "\n"


def to_svg(resolved: Resolved) -> str:
    """A standalone SVG picture of the graph, laid out by `layout` (no graphviz needed).

    Args:
        resolved: a validated graph.

    Returns:
        SVG text; each node is a `<g id="node-ID">` with a `<title>` tooltip.
    """
    lay = layout(resolved)
    out = [(f'<svg xmlns="http://www.w3.org/2000/svg" width="{lay.width:.0f}" height="{lay.height:.0f}" '
            f'viewBox="0 0 {lay.width:.0f} {lay.height:.0f}" font-family="Helvetica, Arial, sans-serif">'),
           (f'<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" '
            f'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{EDGE_COLOUR}"/></marker></defs>'),
           '<rect width="100%" height="100%" fill="white"/>',
           (f'<text x="{MARGIN}" y="{MARGIN + 8}" font-size="15" font-weight="bold" fill="{TEXT_COLOUR}">'
            f'{escape(lay.title)}</text>')]
    for w in lay.wires:
        d = f"M{w.hops[0][0][0]:.1f},{w.hops[0][0][1]:.1f}" + "".join(
            " C" + " ".join(f"{x:.1f},{y:.1f}" for x, y in hop[1:]) for hop in w.hops)
        out.append(f'<path d="{d}" fill="none" stroke="{EDGE_COLOUR}" stroke-width="1.5" marker-end="url(#arrow)"/>')
    out += [_svg_box(b) for b in lay.boxes.values()]
    for w in lay.wires:  # labels last, on a white card over their curve
        (x, y), half = w.label_at, len(w.edge.label) * LABEL_W / 2 + 4
        out.append(f'<rect x="{x - half:.1f}" y="{y - 8:.1f}" width="{2 * half:.1f}" height="16" rx="3" fill="white" '
                   f'fill-opacity="0.9"/><text x="{x:.1f}" y="{y + 3.5:.1f}" font-size="10" text-anchor="middle" '
                   f'fill="{FAINT_COLOUR}">{escape(w.edge.label)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _svg_box(b: Box) -> str:
    fill, stroke = COLOURS[b.kind]
    cx, cy = b.x + b.w / 2, b.y + b.h / 2
    return (f'<g id={quoteattr("node-" + b.id)}><title>{escape(f"{b.id}: {b.type} ({b.kind})")}</title>'
            f'<rect x="{b.x:.1f}" y="{b.y:.1f}" width="{b.w:.1f}" height="{b.h:.1f}" rx="9" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="1.5"/>'
            f'<text x="{cx:.1f}" y="{cy - 3:.1f}" font-size="13" font-weight="bold" text-anchor="middle" '
            f'fill="{TEXT_COLOUR}">{escape(b.id)}</text>'
            f'<text x="{cx:.1f}" y="{cy + 12:.1f}" font-size="11" text-anchor="middle" '
            f'fill="{FAINT_COLOUR}">{escape(b.type)}</text></g>')


def to_png(resolved: Resolved, path: str | Path) -> None:
    """Draw the `layout` of the graph with OpenCV and write it as an image (PNG by extension).

    Args:
        resolved: a validated graph.
        path: the file to write.

    Raises:
        OSError: OpenCV could not write `path`.
    """
    import cv2
    import numpy as np

    lay = layout(resolved)
    s = 2 if max(lay.width, lay.height) * 2 <= 16000 else 1  # twice the size where it fits, for crisp text
    img = np.full((int(lay.height * s), int(lay.width * s), 3), 255, np.uint8)
    _png_text(img, lay.title, MARGIN * s, (MARGIN + 8) * s, 15 * s, TEXT_COLOUR, bold=True)
    for w in lay.wires:
        pts = np.array([(px * s, py * s) for px, py in w.points()], np.int32)
        cv2.polylines(img, [pts], False, _bgr(EDGE_COLOUR), max(1, int(1.5 * s)), cv2.LINE_AA)
        (x, y), a = w.hops[-1][3], 9  # every curve ends horizontally, so the head points right
        head = np.array([(x, y), (x - a, y - a / 2), (x - a, y + a / 2)]) * s
        cv2.fillPoly(img, [np.round(head).astype(np.int32)], _bgr(EDGE_COLOUR), cv2.LINE_AA)
    for b in lay.boxes.values():
        _png_box(img, b, s)
    for w in lay.wires:
        x, y = w.label_at
        _png_text(img, w.edge.label, x * s, (y + 3.5) * s, 10 * s, FAINT_COLOUR, centre=True, card=True)
    if not cv2.imwrite(str(path), img):
        raise OSError(f"could not write {str(path)!r}")


def _bgr(hex_colour: str) -> tuple[int, int, int]:
    r, g, b = (int(hex_colour[k:k + 2], 16) for k in (1, 3, 5))
    return b, g, r


def _png_box(img: np.ndarray, b: Box, s: int) -> None:
    """Draw node box `b` at scale `s`: a polygon with an arc of 11 points at each rounded corner."""
    import cv2
    import numpy as np

    r, arc = 9 * s, np.radians(np.arange(0, 91, 9))
    x0, y0, x1, y1 = b.x * s + r, b.y * s + r, (b.x + b.w) * s - r, (b.y + b.h) * s - r  # corner centres
    corners = enumerate(((x1, y1), (x0, y1), (x0, y0), (x1, y0)))  # clockwise from the bottom right
    pts = np.concatenate([np.c_[cx + r * np.cos(arc + q * np.pi / 2), cy + r * np.sin(arc + q * np.pi / 2)]
                          for q, (cx, cy) in corners]).round().astype(np.int32)
    cv2.fillPoly(img, [pts], _bgr(COLOURS[b.kind][0]), cv2.LINE_AA)
    cv2.polylines(img, [pts], True, _bgr(COLOURS[b.kind][1]), int(1.5 * s), cv2.LINE_AA)
    cx, cy = (b.x + b.w / 2) * s, (b.y + b.h / 2) * s
    _png_text(img, b.id, cx, cy - 3 * s, 13 * s, TEXT_COLOUR, bold=True, centre=True, fit=(b.w - 12) * s)
    _png_text(img, b.type, cx, cy + 12 * s, 11 * s, FAINT_COLOUR, centre=True, fit=(b.w - 12) * s)


def _png_text(img: np.ndarray, text: str, x: float, y: float, px: float, colour: str, *, bold: bool = False,
              centre: bool = False, fit: float | None = None, card: bool = False) -> None:
    """Draw `text` with its baseline at `y`, about `px` high, shrunk to `fit` px wide if given."""
    import cv2

    font, thick = cv2.FONT_HERSHEY_SIMPLEX, max(1, round(px / (7 if bold else 12)))
    text = text.encode("ascii", "replace").decode()  # Hershey fonts draw ASCII only
    scale = px * 0.72 / 22  # Hershey caps are about 22 px high at scale 1; match sans-serif x-height
    w = float(cv2.getTextSize(text, font, scale, thick)[0][0])
    if fit is not None and w > fit:
        scale, w = scale * fit / w, fit
    org = (round(x - w / 2 if centre else x), round(y))
    if card:  # a white card behind the text, as in the SVG
        pad = round(px * 0.4)
        cv2.rectangle(img, (org[0] - pad, org[1] - 3 * pad), (org[0] + round(w) + pad, org[1] + pad), (255,) * 3, -1)
    cv2.putText(img, text, org, font, scale, _bgr(colour), thick, cv2.LINE_AA)
