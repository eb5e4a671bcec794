"""The CLI cleans up after itself and fails in one line: shared memory of killed runs, missing
extras, broken pipes, existing keypairs, --help text. Real subprocesses, real /dev/shm."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from multiprocessing.shared_memory import SharedMemory
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TESTS = REPO / "tests"
NOIMPORT = Path(__file__).resolve().parent / "noimport"

ISOLATED = """
nodes:
  - {id: src, type: "testnodes:ArraySource", params: {endless: true, shape: [120, 160, 3], period_s: 0.01}}
  - {id: who, type: "testnodes:Pid", isolate: process, inputs: {data: src/out}}
  - {id: sink, type: sink.jsonl, params: {path: out.jsonl}, inputs: {data: who/out}}
"""


def edgespeed(*args: str, cwd: Path | None = None, block: str = "", **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(NOIMPORT), str(TESTS)]), EDGESPEED_TEST_BLOCK=block)
    return subprocess.run([sys.executable, "-m", "edgespeed", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=60, **kw)


def segments(pid: int) -> list[str]:
    return sorted(n for n in os.listdir("/dev/shm") if n.startswith(f"es{pid}_"))


def killed_run(tmp_path: Path) -> tuple[int, list[str]]:
    """Start a run with an isolated node in its own process group, SIGKILL the whole group."""
    g = tmp_path / "g.yaml"
    g.write_text(ISOLATED)
    env = dict(os.environ, PYTHONPATH=str(TESTS))
    p = subprocess.Popen([sys.executable, "-m", "edgespeed", "run", str(g), "-q"], cwd=tmp_path, env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    out = tmp_path / "out.jsonl"
    deadline = time.monotonic() + 30
    while not (out.exists() and out.stat().st_size > 200 and segments(p.pid)):
        assert time.monotonic() < deadline and p.poll() is None, p.stderr.read() if p.poll() is not None else "no output"
        time.sleep(0.05)
    os.killpg(p.pid, signal.SIGKILL)
    p.wait(timeout=10)
    time.sleep(0.3)  # the group's other processes (node, resource tracker) go with it
    left = segments(p.pid)
    assert left, "a SIGKILLed run leaves its segments (or this test no longer tests anything)"
    return p.pid, left


def test_clean_removes_a_killed_runs_segments_and_keeps_a_live_ones(tmp_path: Path) -> None:
    pid, left = killed_run(tmp_path)
    live = SharedMemory(name=f"es{os.getpid()}_live_0", create=True, size=4096)  # this test process is alive
    try:
        r = edgespeed("clean", cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        assert segments(pid) == []
        assert [f"removed /dev/shm/{n}" for n in left] == [line for line in r.stdout.splitlines() if line.startswith("removed /")]
        assert f"{len(left)} leftover shared-memory segment" in r.stdout
        assert segments(os.getpid()) == [f"es{os.getpid()}_live_0"]
        again = edgespeed("clean", cwd=tmp_path)
        assert again.stdout.startswith("0 leftover shared-memory segments removed"), again.stdout
    finally:
        live.close()
        live.unlink()


def test_the_next_run_sweeps_a_killed_runs_segments(tmp_path: Path) -> None:
    pid, _ = killed_run(tmp_path)
    r = edgespeed("run", str(REPO / "graphs/quickstart.yaml"), "--set", "cam.realtime=false", "--set", "cam.frames=5",
                  "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert segments(pid) == []
    assert "removed" in r.stderr and "left in /dev/shm by killed runs" in r.stderr


CHECKOUT = Path(__file__).resolve().parents[2]  # the tests run from the checkout: the message names it


@pytest.mark.parametrize(("args", "block", "line"), [
    (["keys", "generate", "cam"], "zmq", f"error: edgespeed keys needs pyzmq; install it with: pip install '{CHECKOUT}[zmq]'"),
    (["model", "inspect", "m.onnx"], "onnx", f"error: edgespeed model inspect needs onnx; install it with: pip install '{CHECKOUT}[models]'"),
    (["model", "prune", "m.onnx", "--sparsity", "0.5", "-o", "p.onnx"], "onnx",
     f"error: edgespeed model prune needs onnx; install it with: pip install '{CHECKOUT}[models]'"),
])
def test_a_missing_extra_is_one_line_naming_it(tmp_path: Path, args: list[str], block: str, line: str) -> None:
    (tmp_path / "m.onnx").write_bytes(b"\x08\x07")  # never read: the import fails first
    r = edgespeed(*args, cwd=tmp_path, block=block)
    assert (r.returncode, r.stderr) == (1, line + "\n")
    assert not (tmp_path / "keys").exists()


def test_piping_into_head_gives_no_traceback() -> None:
    env = dict(os.environ, PYTHONPATH=str(TESTS))
    p = subprocess.run(f"{sys.executable} -m edgespeed nodes --describe | head -n 3", shell=True, env=env,
                       capture_output=True, text=True, timeout=60)
    assert len(p.stdout.splitlines()) == 3
    assert p.stderr == "", p.stderr  # no BrokenPipeError, no "Exception ignored" at exit


def test_keys_generate_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    assert edgespeed("keys", "generate", "cam", cwd=tmp_path).returncode == 0
    before = (tmp_path / "keys/cam.key_secret").read_bytes()
    r = edgespeed("keys", "generate", "cam", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.startswith("error: 'keys/cam.key' exists; use --force") and len(r.stderr.splitlines()) == 1
    assert (tmp_path / "keys/cam.key_secret").read_bytes() == before
    forced = edgespeed("keys", "generate", "cam", "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert (tmp_path / "keys/cam.key_secret").read_bytes() != before


def _parsers(p: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    yield path, p
    for a in p._actions:
        if isinstance(a, argparse._SubParsersAction):
            for name, sub in a.choices.items():
                yield from _parsers(sub, (*path, name))


def test_help_describes_every_argument_and_flag() -> None:
    from edgespeed.cli import build_parser

    for path, p in _parsers(build_parser()):
        text = edgespeed(*path, "--help").stdout if path else p.format_help()
        for a in p._actions:
            if a.help == argparse.SUPPRESS or isinstance(a, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            assert a.help, f"edgespeed {' '.join(path)}: {a.option_strings or a.metavar} has no help"
            name = a.option_strings[-1] if a.option_strings else a.metavar or "{" + ",".join(a.choices or ()) + "}"
            assert name in text, f"edgespeed {' '.join(path)} --help does not mention {name}"
    run_help = edgespeed("run", "--help").stdout
    assert "GRAPH" in run_help and "a graph file, or the name of a built-in graph" in run_help
    assert "--force" in edgespeed("keys", "--help").stdout


def test_the_readme_installs_extras_from_a_checkout_and_models_is_one() -> None:
    import ast
    import re

    readme = (REPO / "README.md").read_text()
    assert "pip install 'edgespeed[" not in readme  # not a name on the package index
    toml = (REPO / "pyproject.toml").read_text()
    block = toml.split("[project.optional-dependencies]", 1)[1].split("\n[", 1)[0]  # tomllib is 3.11+
    extras = {m[1]: ast.literal_eval(m[2]) for m in re.finditer(r"^(\w+) = (\[[^\]]*\])$", block, re.M)}
    for names in re.findall(r"pip install '\.\[([a-z,]+)\]'", readme):
        assert set(names.split(",")) <= set(extras), names
    assert sorted(d.split(">")[0] for d in extras["models"]) == ["onnx", "onnxruntime"]
