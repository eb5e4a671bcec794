"""Placement: devices in YAML, validation of links and privacy, and the split by device."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgespeed.errors import GraphErrors
from edgespeed.graph import load, load_text
from edgespeed.graph.validate import check, placement, validate
from edgespeed.runtime.devices import split

REPO = Path(__file__).parents[2]

BASE = """
devices:
  camera: {endpoint: "tcp://127.0.0.1:6000"}
  gateway: {endpoint: "tcp://127.0.0.1:6100", insecure: true, trusted: true}
  cloud: {insecure: true, endpoint: "tcp://127.0.0.1:6200"}
default_device: gateway
nodes:
  - {id: cam, type: video.synthetic, device: camera, private: true, params: {frames: 3}}
  - id: small
    type: image.resize
    params: {width: 32, height: 32}
    inputs: {image: {from: cam/frame, queue: 2, policy: latest, compress: jpeg, quality: 80}}
  - {id: log, type: sink.jsonl, device: cloud, params: {path: out.jsonl}, inputs: {data: {from: small/out, mode: realtime}}}
"""


@pytest.mark.parametrize("text, expect", [
    pytest.param(BASE.replace("device: cloud", "device: clod"), "unknown device 'clod'; did you mean 'cloud'?", id="unknown-device"),
    pytest.param(BASE.replace("  cloud: {", "  spare: {}\n  cloud: {"), "device 'spare' has no nodes", id="device-without-nodes"),
    pytest.param(BASE.replace(", trusted: true", ""),
                 "private data would leave device 'camera': edge cam/frame -> small.image goes to device 'gateway', which is not trusted",
                 id="private-to-untrusted"),
    pytest.param(BASE.replace("private: true", "private: [frame]").replace(", trusted: true", ""),
                 "edge cam/frame -> small.image goes to device 'gateway'", id="private-port"),
    pytest.param(BASE.replace('gateway: {endpoint: "tcp://127.0.0.1:6100", ', "gateway: {"), "which has no endpoint", id="no-endpoint"),
    pytest.param(BASE.replace('6200"}', '6200", keys: keys/cloud}'), "device 'cloud' has keys but 'gateway' has none", id="keys-one-side"),
    pytest.param(BASE.replace("cloud: {insecure: true, ", "cloud: {"),
                 "edge small/out -> log.data: the link from device 'gateway' to 'cloud' has no keys, so anyone who reaches 'cloud' can "
                 "inject data; make keys (edgespeed keys generate NAME", id="keyless-not-insecure"),
    pytest.param(BASE.replace("cloud: {insecure: true, ", "cloud: {insecure: 1, "), "device 'cloud': 'insecure' must be true or false", id="bad-insecure"),
    pytest.param(BASE.replace("mode: realtime", "mode: fast"), "'mode' must be one of reliable, realtime", id="bad-mode"),
    pytest.param(BASE.replace("compress: jpeg", "compress: gif"), "'compress' must be one of none, jpeg, png, zlib", id="bad-compress"),
    pytest.param(BASE.replace('6200"}', '6200", allow: [camra]}'), "'allow' entry 'camra' is neither a device; did you mean 'camera'?", id="bad-allow"),
    pytest.param(BASE.replace("private: true", "private: yes please"), "'private' must be true", id="bad-private"),
    pytest.param(BASE.replace('6200"}', '6200", timeout_s: 0}'), "'timeout_s' must be a number > 0", id="bad-timeout"),
])
def test_invalid_placements_name_the_problem(text, expect):
    try:
        errors = validate(load_text(text, "g.yaml"))
    except GraphErrors as e:  # structural problems are raised by the loader
        errors = list(e.errors)
    assert any(expect in str(e) for e in errors), [str(e) for e in errors]
    assert all(e.location is not None and e.location.file == "g.yaml" for e in errors)


def test_private_data_may_go_to_a_trusted_device_and_derived_data_anywhere():
    spec = load_text(BASE, "g.yaml")
    assert validate(spec) == []
    assert placement(spec) == {"cam": "camera", "small": "gateway", "log": "cloud"}


def test_yaml_round_trip_keeps_link_options_and_device_keys():
    text = BASE.replace('6200"}', '6200", keys: keys/cloud, allow: [camera], bind: "tcp://*:6200", timeout_s: 2.5}')
    text = text.replace('camera: {endpoint: "tcp://127.0.0.1:6000"}', 'camera: {endpoint: "tcp://127.0.0.1:6000", keys: keys/cam}')
    text = text.replace("trusted: true}", "trusted: true, keys: keys/gw}")
    spec = load_text(text)
    again = load_text(spec.to_yaml())
    assert again == spec
    assert again.devices[2].keys == "keys/cloud" and again.devices[2].allow == ("camera",) and again.devices[2].timeout_s == 2.5
    assert again.node("small").inputs["image"].compress == "jpeg" and again.node("log").inputs["data"].mode == "realtime"


def test_split_puts_link_nodes_on_both_sides_of_each_crossing():
    spec = load_text(BASE.replace('"tcp://127.0.0.1:6100"', '"tcp://10.0.0.2:6100", bind: "tcp://*:7100"'), str(REPO / "g.yaml"))
    cam, gw, cloud = (split(spec, d) for d in ("camera", "gateway", "cloud"))
    assert [(n.id, n.type) for n in cam.nodes] == [("cam", "video.synthetic"), ("link_out_0", "runtime.link_out")]
    out = cam.node("link_out_0")
    assert out.params["endpoint"] == "tcp://10.0.0.2:6100" and out.params["compress"] == "jpeg" and out.params["quality"] == 80
    assert (out.inputs["data"].queue, out.inputs["data"].policy) == (2, "latest")  # dropped before crossing
    assert [n.id for n in gw.nodes] == ["link_in_0", "small", "link_out_1"]
    assert gw.node("link_in_0").params["bind"] == "tcp://*:7100"
    assert gw.node("small").inputs["image"].source == "link_in_0/out"
    assert gw.node("link_out_1").params["mode"] == "realtime"
    assert [n.id for n in cloud.nodes] == ["link_in_1", "log"]
    for sub in (cam, gw, cloud):
        check(sub)  # each part is a valid graph of its own
        assert sub.devices == ()


def test_second_link_into_a_device_takes_the_next_port_or_its_listed_endpoint():
    text = """
devices:
  a: {}
  b: {endpoint: "tcp://127.0.0.1:6000"}
  c: {endpoints: ["tcp://127.0.0.1:7001", "tcp://127.0.0.1:7002"]}
nodes:
  - {id: s1, type: video.synthetic, device: a}
  - {id: s2, type: video.synthetic, device: a}
  - {id: x, type: sink.null, device: b, inputs: {data: s1/frame}}
  - {id: y, type: sink.null, device: b, inputs: {data: s2/frame}}
  - {id: z, type: sink.null, device: c, inputs: {data: s1/frame}}
  - {id: w, type: sink.null, device: c, inputs: {data: s2/frame}}
"""
    a = split(load_text(text), "a")
    assert [n.params["endpoint"] for n in a.nodes if n.type == "runtime.link_out"] == [
        "tcp://127.0.0.1:6000", "tcp://127.0.0.1:6001", "tcp://127.0.0.1:7001", "tcp://127.0.0.1:7002"]


def test_key_paths_are_relative_to_the_graph_file(tmp_path):
    text = BASE.replace("trusted: true}", "trusted: true, keys: keys/gw}")
    text = text.replace('6000"}', '6000", keys: keys/cam}').replace('6200"}', '6200", keys: keys/cloud, allow: [extra.key]}')
    spec = load_text(text, str(tmp_path / "g.yaml"))
    gw = split(spec, "gateway")
    assert gw.node("link_in_0").params["keys"] == str(tmp_path / "keys/gw")
    assert gw.node("link_in_0").params["allow"] == [str(tmp_path / "keys/cam.key")]
    assert gw.node("link_out_1").params["server_key"] == str(tmp_path / "keys/cloud.key")
    cloud = split(spec, "cloud")
    assert cloud.node("link_in_1").params["allow"] == [str(tmp_path / "keys/gw.key"), str(tmp_path / "extra.key")]


def test_multi_device_graph_is_valid_and_splits_into_three_valid_parts():
    spec = load(REPO / "graphs" / "multi_device.yaml")
    check(spec)
    parts = {d.name: split(spec, d.name) for d in spec.devices}
    assert set(parts) == {"camera", "gateway", "results"}
    for sub in parts.values():
        check(sub)
    assert {n.type for n in parts["camera"].nodes} >= {"video.synthetic", "runtime.link_out"}
    assert any(n.type == "image.normalize" for n in parts["gateway"].nodes)


def test_each_devices_rings_are_named_by_the_graphs_edges() -> None:
    """The link ends a device's part gains carry the edge they stand for, so that part's rings,
    and its report and metrics, name `cam/frame -> small.image`, not the link node."""
    from edgespeed.runtime.boundary import edge_name

    spec = load_text(BASE, "g.yaml")
    names = {}
    for device in ("camera", "gateway", "cloud"):
        part = split(spec, device)
        by_id = {n.id: n for n in part.nodes}
        names[device] = sorted(edge_name(by_id[i.node], n, port, i) for n in part.nodes for port, i in n.inputs.items())
    assert names == {"camera": ["cam/frame -> small.image"],
                     "gateway": ["cam/frame -> small.image", "small/out -> log.data"],
                     "cloud": ["small/out -> log.data"]}
