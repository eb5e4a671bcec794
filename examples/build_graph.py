"""Build the quickstart graph in Python, print its YAML, and run it.

    python examples/build_graph.py            # runs 60 frames and prints the per-node report
"""

from __future__ import annotations

import json

from edgespeed import Graph, load_text


def build(frames: int = 60) -> Graph:
    g = Graph("quickstart-py", description="the quickstart graph, built in Python")
    cam = g.add("video.synthetic", id="cam", width=640, height=480, fps=30, frames=frames, realtime=False)
    small = g.add("image.resize", id="small", image=cam.frame, width=320, height=240)
    g.add("sink.jsonl", id="log", data=small.out, path="out/quickstart_py.jsonl")
    preview = g.add("sink.null", id="preview")
    g.connect(cam.frame, preview.data, queue=1, policy="latest")  # never slows the camera
    return g


def main() -> None:
    g = build()
    text = g.to_yaml()
    print(text)
    assert load_text(text) == g.spec(), "the YAML round-trips to the same spec"
    result = g.run()
    print(json.dumps({nid: {"in": n["in"], "out": n["out"], "dropped": n["dropped"]} for nid, n in result.report["nodes"].items()}))


if __name__ == "__main__":
    main()
