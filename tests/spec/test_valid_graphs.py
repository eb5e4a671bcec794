"""Every ready graph (graphs/*.yaml) and every tests/graphs/valid/*.yaml validates and round-trips."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgespeed import load, load_text
from edgespeed.cli import main

REPO = Path(__file__).parents[2]
TEST_GRAPHS = REPO / "tests" / "graphs"
VALID = sorted((REPO / "graphs").glob("*.yaml")) + sorted((TEST_GRAPHS / "valid").glob("*.yaml"))
CASES = [pytest.param(p, id=str(p.relative_to(REPO))) for p in VALID]


@pytest.fixture(autouse=True)
def _plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(TEST_GRAPHS))  # for `type: plugins_for_tests:...`


def test_there_are_graphs_to_check() -> None:
    assert (REPO / "graphs" / "quickstart.yaml") in VALID and len(VALID) >= 5


@pytest.mark.parametrize("path", CASES)
def test_graph_validates(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["validate", str(path)])
    out, err = capsys.readouterr()
    assert code == 0, err  # ready graphs included: each names only shipped (builtin:) files
    assert out.startswith(f"{path}: ok (")


@pytest.mark.parametrize("path", CASES)
def test_to_yaml_round_trips(path: Path) -> None:
    spec = load(path)
    again = load_text(spec.to_yaml(), file="<round-trip>")
    assert again == spec
    assert again.to_yaml() == spec.to_yaml()
