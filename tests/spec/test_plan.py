"""graph.plan: placement and carriers are data, decided before anything runs."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from edgespeed.errors import GraphErrors
from edgespeed.graph import load, load_text
from edgespeed.graph.plan import DEFAULT_MAX_BYTES, DEFAULT_QUEUE, CARRIERS, plan
from edgespeed.graph.validate import check

ROOT = Path(__file__).resolve().parents[2]
MULTI = ROOT / "graphs" / "multi_device.yaml"

ISOLATED = """
name: iso
nodes:
  - {id: src, type: video.synthetic, params: {width: 32, height: 24, frames: 3}}
  - {id: a, type: image.resize, isolate: process, shm_cap_mb: 8, params: {width: 8, height: 8}, inputs: {image: src/frame}}
  - {id: b, type: image.resize, isolate: pair, params: {width: 4, height: 4}, inputs: {image: a/out}}
  - {id: c, type: sink.jsonl, isolate: pair, params: {path: out/x.jsonl}, inputs: {data: {from: b/out, queue: 2, policy: latest}}}
"""

REPLICATED = """
name: rep
devices:
  cam: {}
  gw1: {endpoint: "tcp://127.0.0.1:7000", trusted: true, insecure: true}
  gw2: {endpoint: "tcp://127.0.0.1:7100", trusted: true, insecure: true}
  res: {endpoint: "tcp://127.0.0.1:7200", insecure: true}
nodes:
  - {id: src, type: video.synthetic, device: cam, params: {width: 32, height: 24, frames: 3}}
  - {id: work, type: image.resize, device: [gw1, gw2], params: {width: 8, height: 8}, inputs: {image: src/frame}}
  - {id: out, type: sink.jsonl, device: res, params: {path: out/x.jsonl}, inputs: {data: work/out}}
"""


def test_plan_imports_nothing_from_the_runtime() -> None:
    tree = ast.parse((ROOT / "edgespeed" / "graph" / "plan.py").read_text())
    names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert names and not [m for m in names if "runtime" in m or "transport" in m]


def test_process_groups_and_shared_memory_edges() -> None:
    p = plan(check(load_text(ISOLATED)))
    assert {k: (n.process, n.executor) for k, n in p.nodes.items()} == {
        "src": (None, "thread"), "a": ("a", "process"), "b": ("group:pair", "process"), "c": ("group:pair", "process")}
    edges = {e.target: e for e in p.edges}
    assert [edges[t].carrier for t in ("a.image", "b.image", "c.data")] == ["shm", "shm", "ring"]
    assert edges["a.image"].shm_cap_bytes == 8 << 20  # the smaller of the two ends' shm_cap_mb
    assert (edges["c.data"].capacity, edges["c.data"].max_bytes, edges["c.data"].policy) == (2, None, "latest")
    assert (edges["a.image"].capacity, edges["a.image"].max_bytes) == (DEFAULT_QUEUE, DEFAULT_MAX_BYTES)
    assert all(e.mode is None and e.compress is None and e.devices is None for e in p.edges)


def test_one_process_without_a_device_but_each_node_keeps_its_device() -> None:
    p = plan(check(load(MULTI)))
    assert p.device is None and all(e.carrier == "ring" for e in p.edges)
    assert {k: n.device for k, n in p.nodes.items()} == {"cam": "camera", "box": "camera", "small": "gateway",
                                                          "norm": "gateway", "log": "results"}
    crossing = {e.target: e for e in p.edges if e.devices}
    assert crossing["small.image"].devices == ("camera", "gateway")
    assert (crossing["small.image"].mode, crossing["small.image"].compress, crossing["small.image"].private) == ("reliable", "jpeg", True)
    assert (crossing["log.data"].mode, crossing["log.data"].compress) == ("realtime", "zstd")


def test_one_devices_part_carries_its_boundaries_over_links() -> None:
    p = plan(check(load(MULTI)), "gateway")
    assert p.graph == "multi_device@gateway" and set(p.nodes) == {"small", "norm"}
    assert [(e.source, e.target, e.carrier) for e in p.edges] == [
        ("box/out", "small.image", "link"), ("small/out", "norm.image", "ring"), ("norm/tensor", "log.data", "link")]
    assert set(e.carrier for e in plan(check(load(MULTI)), "camera").edges) == {"ring", "link"}
    with pytest.raises(KeyError):
        plan(check(load(MULTI)), "nowhere")


def test_replicas_dispatch_and_merge() -> None:
    r = check(load_text(REPLICATED))
    carriers = {dev: {e.target: e.carrier for e in plan(r, dev).edges} for dev in ("cam", "gw1", "res")}
    assert carriers == {"cam": {"work.image": "replica_dispatch"}, "gw1": {"work.image": "link", "out.data": "link"},
                        "res": {"out.data": "replica_merge"}}
    assert plan(r, "gw2").nodes["work"].replicas == ("gw1", "gw2")
    assert {e.carrier for dev in ("cam", "gw1", "gw2", "res") for e in plan(r, dev).edges} <= set(CARRIERS)


def test_cpu_sets_claimed_and_spare_and_refused() -> None:
    text = ISOLATED.replace("id: src,", "id: src, cpus: [0],")
    p = plan(check(load_text(text)), cpus=frozenset({0, 1, 2}))
    assert p.nodes["src"].cpus == (0,) and p.nodes["a"].cpus == (1, 2) and p.spare_cpus == (1, 2)
    assert plan(check(load_text(text))).nodes["a"].cpus is None  # nothing offered: no checks, no spare set
    with pytest.raises(GraphErrors) as e:
        plan(check(load_text(text)), cpus=frozenset({3}))
    assert e.value.errors[0].node_id == "src" and "CPU 0" in str(e.value.errors[0])


def test_the_plan_is_frozen_data_and_round_trips_to_json() -> None:
    import dataclasses
    import json

    p = plan(check(load(MULTI)), "gateway")
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.nodes["small"].device = "camera"  # type: ignore[misc]
    d = json.loads(json.dumps(p.to_dict()))
    assert d["device"] == "gateway" and d["edges"][0]["carrier"] == "link" and d["nodes"]["norm"]["executor"] == "thread"


def test_links_are_numbered_once_for_the_whole_graph_and_every_device_sees_the_same() -> None:
    r = check(load_text(REPLICATED))
    by_dev = {dev: {e.target: e.links for e in plan(r, dev).edges if e.carrier != "ring"} for dev in ("cam", "gw1", "gw2", "res")}
    into = by_dev["cam"]["work.image"]  # a link to each replica: the first link into each device
    assert [(lk.name, lk.sender, lk.receiver, lk.connect) for lk in into] == [
        ("src/frame -> work.image @gw1", "cam", "gw1", "tcp://127.0.0.1:7000"),
        ("src/frame -> work.image @gw2", "cam", "gw2", "tcp://127.0.0.1:7100")]
    back = by_dev["res"]["out.data"]  # a link back from each replica: ports 7200 and 7201 of res
    assert [(lk.name, lk.sender, lk.bind) for lk in back] == [
        ("work/out -> res @gw1", "gw1", "tcp://127.0.0.1:7200"), ("work/out -> res @gw2", "gw2", "tcp://127.0.0.1:7201")]
    assert by_dev["gw1"]["work.image"] == into and by_dev["gw2"]["out.data"] == back  # both ends agree
    # what each device runs uses exactly these addresses (the runtime does not number links itself)
    from edgespeed.runtime.devices import split

    params = [n.params for dev in ("cam", "gw1", "gw2", "res") for n in split(r.spec, dev).nodes if n.type.startswith("runtime.")]
    used = {a for p in params for key in ("endpoint", "bind", "endpoints", "binds") for a in ([p[key]] if isinstance(p.get(key), str) else p.get(key, []))}
    assert used == {lk.connect for lk in into + back} | {lk.bind for lk in into + back}


def test_links_carry_their_keys_and_liveness_from_the_plan_to_both_ends(tmp_path: Path) -> None:
    from edgespeed.runtime.devices import split

    graph = tmp_path / "g.yaml"  # key paths are relative to the graph file, whatever the working folder
    graph.write_text("""
name: keyed
devices:
  cam: {keys: keys/cam}
  gw: {endpoint: "tcp://127.0.0.1:7300", keys: keys/gw, timeout_s: 8, allow: [keys/ops.key]}
  res: {endpoint: "tcp://127.0.0.1:7400", keys: keys/res, timeout_s: 1}
nodes:
  - {id: src, type: video.synthetic, device: cam, params: {width: 32, height: 24, frames: 3}}
  - {id: small, type: image.resize, device: gw, params: {width: 8, height: 8}, inputs: {image: src/frame}}
  - {id: out, type: sink.jsonl, device: res, params: {path: out/x.jsonl}, inputs: {data: small/out}}
""")
    r = check(load(graph))
    keys = tmp_path.resolve() / "keys"
    (into,) = next(e for e in plan(r, "gw").edges if e.target == "small.image").links
    assert (into.sender_keys, into.receiver_keys) == (str(keys / "cam"), str(keys / "gw")) and into.encrypted
    assert into.allow == (str(keys / "cam.key"), str(keys / "ops.key"))
    assert (into.timeout_s, into.heartbeat_s) == (8.0, 0.5)  # the receiver's timeout; a heartbeat at most every 0.5 s
    (onward,) = next(e for e in plan(r, "res").edges if e.target == "out.data").links
    assert onward.allow == (str(keys / "gw.key"),) and (onward.timeout_s, onward.heartbeat_s) == (1.0, 0.25)
    assert not any(lk.encrypted for e in plan(check(load(MULTI)), "gateway").edges for lk in e.links)  # (no keys there)
    assert plan(r, "gw").to_dict()["edges"][0]["links"][0]["encrypted"] is True
    from edgespeed.graph.render import to_dot

    assert "frame -> image [link reliable, encrypted]" in to_dot(r)  # what `edgespeed graph` labels it
    # each end's link node takes the planned settings (the runtime derives none of them)
    sent = next(n.params for n in split(r.spec, "cam").nodes if n.type == "runtime.link_out")
    got = next(n.params for n in split(r.spec, "gw").nodes if n.type == "runtime.link_in")
    assert (sent["keys"], sent["server_key"], sent["timeout_s"]) == (into.sender_keys, into.receiver_keys + ".key", 8.0)
    assert (got["keys"], got["allow"], got["bind"], got["heartbeat_s"]) == (into.receiver_keys, list(into.allow), into.bind, 0.5)
