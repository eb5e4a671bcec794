"""The builder API gives the same GraphSpec as YAML, and its errors point at the builder calls."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from edgespeed import Graph, GraphErrors, load, load_text
from edgespeed.graph import NodeHandle, PortRef

QUICKSTART = Path(__file__).parents[2] / "graphs" / "quickstart.yaml"


def _here() -> int:
    """The line this is called from (to compare with a builder error's location)."""
    return sys._getframe(1).f_lineno


def quickstart() -> Graph:
    g = Graph("quickstart", "synthetic video -> resize -> JSON lines, plus a live-style branch that drops frames")
    cam = g.add("video.synthetic", id="cam", width=640, height=480, fps=30, frames=300)
    small = g.add("image.resize", id="small", image=cam.frame, width=320, height=240)
    g.add("sink.jsonl", id="log", data=small.out, path=Path("out/quickstart.jsonl"))
    preview = g.add("sink.null", id="preview")
    g.connect(cam.frame, preview.data, queue=1, policy="latest")
    return g


def test_builder_gives_the_yaml_spec() -> None:
    spec, loaded = quickstart().spec(), load(QUICKSTART)
    assert [(n.id, n.type) for n in spec.nodes] == [(n.id, n.type) for n in loaded.nodes]
    assert spec == loaded


def test_builder_to_yaml_round_trips() -> None:
    g = quickstart()
    assert load_text(g.to_yaml()) == g.build() == load(QUICKSTART)


def test_builder_reports_every_error_at_its_add_call() -> None:
    g = Graph("bad")
    cam, cam_at = g.add("video.synthtic", id="cam"), _here()
    small, small_at = g.add("image.resize", id="small", image=cam.frame, widht=320, height=240), _here()
    _, out_at = g.add("sink.null", id="out", data=small.img), _here()
    with pytest.raises(GraphErrors) as info:
        g.spec()
    got = [(e.node_id, e.location.file, e.location.line, e.field) for e in info.value.errors if e.location]
    assert got == [("cam", __file__, cam_at, None), ("small", __file__, small_at, "params.widht"),
                   ("out", __file__, out_at, "inputs.data")]


# Each maker adds one mistake; the error must point at the maker's own line.
BAD = [
    pytest.param("unknown node type 'video.synthtic'; did you mean",
                 lambda g, cam: g.add("video.synthtic", id="x"), id="unknown-type"),
    pytest.param("cannot import plugin",
                 lambda g, cam: g.add("plugins_for_tests:Nope", id="x"), id="bad-plugin"),
    pytest.param("param 'width': expected an integer",
                 lambda g, cam: g.add("image.resize", image=cam.frame, width="320", height=8), id="wrong-param"),
    pytest.param("unknown param 'hieght'",
                 lambda g, cam: g.add("image.resize", image=cam.frame, width=320, hieght=8), id="unknown-param"),
    pytest.param("node 'cam' has no output 'frames'; it has: frame",
                 lambda g, cam: g.add("sink.null", id="x", data=cam.frames), id="missing-port"),
    pytest.param("unknown input 'dat'; did you mean 'data'?",
                 lambda g, cam: g.add("sink.null", id="x", dat=cam.frame), id="unknown-input"),
    pytest.param("'on_error' must be one of",
                 lambda g, cam: g.add("sink.null", id="x", data=cam.frame, on_error="ignore"), id="bad-on-error"),
    pytest.param("'queue' must be an integer >= 1",
                 lambda g, cam: g.connect(cam.frame, g.add("sink.null", id="x").data, queue=0), id="bad-queue"),
    pytest.param("connect: no node 'ghost'",
                 lambda g, cam: g.connect(cam.frame, PortRef("ghost", "data")), id="connect-unknown"),
    pytest.param("duplicate id 'x'",
                 lambda g, cam: [g.add("sink.null", id="x", data=cam) for _ in "ab"], id="duplicate-id"),
    pytest.param("unknown device 'edge'",
                 lambda g, cam: g.add("sink.null", id="x", data=cam, device="edge"), id="unknown-device"),
]


@pytest.mark.parametrize("expect, make", BAD)
def test_builder_error_points_at_the_call(expect: str, make: Callable[[Graph, NodeHandle], object],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(Path(__file__).parents[1] / "graphs"))
    g = Graph("bad")
    make(g, g.add("video.synthetic", id="cam"))
    with pytest.raises(GraphErrors) as info:
        g.spec()
    assert len(info.value.errors) == 1, str(info.value)
    error = info.value.errors[0]
    assert (error.location.file, error.location.line) == (__file__, make.__code__.co_firstlineno)
    assert expect in str(error)
