"""A graph with structural mistakes (a bad on_error, an unknown key, a bad policy) also gets
its semantic ones (unknown type, missing node, cycle) reported in the same run."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgespeed.cli import main
from edgespeed.errors import GraphErrors
from edgespeed.graph import check, load, load_partial

SEVERAL = Path(__file__).parents[1] / "graphs" / "several"
EXPECTED = [
    (7, "'on_error' must be one of stop, skip, restart, got 'retry'"),
    (8, "unknown key 'colour' in a node"),
    (13, "input 'image': 'policy' must be one of block, latest, drop_oldest, got 'newest'"),
    (13, "cycle: small -> c -> small"),
    (19, "unknown node type 'image.resze'; did you mean 'image.resize'?"),
    (20, "input 'image': no node 'camera'; did you mean 'cam'?"),
]


def test_validate_reports_every_mistake_in_one_run(capsys: pytest.CaptureFixture[str]) -> None:
    path = SEVERAL / "structural-and-semantic.yaml"
    assert main(["validate", str(path)]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == len(EXPECTED), lines
    for at, text in EXPECTED:
        assert any(line.startswith(f"{path}:{at}:") and text in line for line in lines), (at, text, lines)
    assert [int(line.split(":")[1]) for line in lines] == [at for at, _ in EXPECTED]  # sorted by line


def test_load_still_refuses_structural_mistakes_alone() -> None:
    """`load` (the library call) keeps raising on what it cannot read; `load_partial` keeps it."""
    path = SEVERAL / "structural-and-semantic.yaml"
    with pytest.raises(GraphErrors) as e:
        load(path)
    assert len(e.value) == 3
    spec = load_partial(path)
    assert [n.id for n in spec.nodes] == ["cam", "small", "c", "blur", "out"] and len(spec.problems) == 3
    with pytest.raises(GraphErrors) as e:
        check(spec)
    assert len(e.value) == len(EXPECTED)


def test_a_node_without_a_type_is_not_reported_again_by_its_consumers(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "g.yaml"
    path.write_text("nodes:\n  - id: cam\n    tpye: video.synthetic\n  - id: out\n    type: sink.null\n"
                    "    inputs: {data: {form: cam/frame}}\n")
    assert main(["validate", str(path)]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(": ", 1)[0] for line in lines] == [f"{path}:2:5", f"{path}:3:5", f"{path}:6:20", f"{path}:6:21"], lines
    assert "missing 'type'" in lines[0] and "unknown key 'tpye'" in lines[1] and "missing 'from" in lines[2]
    assert "unknown key 'form'" in lines[3]  # and no "no node 'cam'", no "input 'data' is not connected"
