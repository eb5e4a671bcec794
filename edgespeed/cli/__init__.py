"""The `edgespeed` command: run, validate, nodes, graph, bench, devices, keys, schema, model, clean.

Exit codes: 0 success; 1 a node failed (or a runtime error); 2 bad input (an invalid graph,
a bad flag, a missing file); 130 stopped by Ctrl-C. A clean stop by SIGTERM exits 0: the
service was asked to stop and drained. Errors print one line each; `--debug` adds tracebacks.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Sequence

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for `yes | head`


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(EXIT_BAD_INPUT)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="edgespeed", description="Run streaming ML pipelines declared as YAML dataflow graphs.")
    p.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    p.add_argument("--version", action="version", version=_version())
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    r = sub.add_parser("run", help="run a graph", description="Run a graph until its sources end, Ctrl-C, SIGTERM or --duration.")
    r.add_argument("graph", metavar="GRAPH", help="a graph file, or the name of a built-in graph (e.g. quickstart)")
    r.add_argument("--set", dest="overrides", action="append", default=[], metavar="NODE.PARAM=VALUE", help="override a param (YAML value); repeatable")
    r.add_argument("--report", metavar="FILE", help="write a JSON report at exit")
    r.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    r.add_argument("--drain-timeout", type=float, default=10.0, metavar="S", help="after a stop, abort if not drained in S seconds (default 10)")
    r.add_argument("-q", "--quiet", action="store_true", help="no live table and no summary")
    r.add_argument("--device", metavar="NAME", help="run only this device's part of the graph, linked to the other devices")
    r.add_argument("--keys", metavar="FILE", help="with --device: a per-device file naming its keypair and its peers' public keys")
    r.add_argument("--control-port", metavar="[HOST:]PORT", help="serve the control API (JSON over HTTP) there; loopback unless HOST says")
    r.add_argument("--control-token", metavar="TOKEN", help="bearer token the control API requires (or $EDGESPEED_CONTROL_TOKEN); needed off loopback")
    r.add_argument("--metrics-port", type=int, metavar="PORT", help="serve Prometheus metrics at http://HOST:PORT/metrics (needs edgespeed[metrics])")
    r.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    v = sub.add_parser("validate", help="check graphs without running them")
    v.add_argument("graphs", nargs="+", metavar="GRAPH", help="graph files or built-in graph names")
    v.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    n = sub.add_parser("nodes", help="list node types, or describe one")
    n.add_argument("type", nargs="?", metavar="TYPE", help="a node type to describe in full")
    n.add_argument("--describe", action="store_true", help="describe every node in full")
    n.add_argument("--json", action="store_true", help="machine-readable output")
    n.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    g = sub.add_parser("graph", help="draw a graph (.svg, .png, .dot, .mmd)")
    g.add_argument("graph", metavar="GRAPH", help="a graph file, or the name of a built-in graph")
    g.add_argument("-o", "--output", required=True, metavar="FILE", help="output file; the format follows the extension")
    g.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    pl = sub.add_parser("plan", help="print what runs where (device, process, CPUs) and over what (ring, shm, link)")
    pl.add_argument("graph", metavar="GRAPH", help="a graph file, or the name of a built-in graph")
    pl.add_argument("--device", metavar="NAME", help="plan only this device's part of the graph")
    pl.add_argument("--json", action="store_true", help="machine-readable output")
    pl.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    b = sub.add_parser("bench", help="run a graph as fast as it goes and show where the time goes",
                       description="Run a graph with its sources unpaced; print per-node throughput, process-time "
                                   "percentiles, queue occupancy and the bottleneck node.")
    b.add_argument("graph", metavar="GRAPH", help="a graph file, or the name of a built-in graph")
    b.add_argument("--set", dest="overrides", action="append", default=[], metavar="NODE.PARAM=VALUE", help="override a param (YAML value); repeatable")
    b.add_argument("--duration", type=float, metavar="S", help="stop after S seconds (for endless sources)")
    b.add_argument("--paced", action="store_true", help="keep live sources at their media-time pace (default: unpaced)")
    b.add_argument("--json", action="store_true", help="machine-readable output")
    b.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    d = sub.add_parser("devices", help="list compute (CPU, SIMD, ONNX Runtime providers), cameras and audio inputs")
    d.add_argument("--json", action="store_true", help="machine-readable output")
    d.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    k = sub.add_parser("keys", help="CurveZMQ keypairs for encrypted links between devices")
    k.add_argument("action", choices=["generate"], help="generate: write NAME.key (public) and NAME.key_secret")
    k.add_argument("name", metavar="NAME", help="the key's name, usually the device's")
    k.add_argument("-d", "--dir", default="keys", metavar="DIR", help="where to write the files (default: keys)")
    k.add_argument("--force", action="store_true", help="replace an existing keypair of that name (its peers must get the new public key)")
    k.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    s = sub.add_parser("schema", help="print the JSON Schema of the graph format")
    s.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    s.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    c = sub.add_parser("clean", help="remove shared memory left in /dev/shm by killed runs",
                       description="Remove this user's EdgeSpeed shared-memory segments whose run has exited (a SIGKILL of "
                                   "a whole run leaves them behind); segments of live runs are kept. `run` does this at start.")
    c.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    from .model import add_model_parser  # light: the model tools import onnx/torch only when run

    add_model_parser(sub)
    return p


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"edgespeed {version('edgespeed')}"
    except PackageNotFoundError:
        return "edgespeed (not installed)"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `edgespeed` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return EXIT_BAD_INPUT
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.INFO, format="%(levelname)s: %(message)s"
                        if args.debug else "%(message)s", stream=sys.stderr)
    from ..errors import EdgeSpeedError, GraphErrors

    try:
        if args.command == "run":
            from .run import cmd_run as cmd
        elif args.command == "validate":
            from .validate import cmd_validate as cmd
        elif args.command == "nodes":
            from .nodes import cmd_nodes as cmd
        elif args.command == "graph":
            from .graph import cmd_graph as cmd
        elif args.command == "plan":
            from .plan import cmd_plan as cmd
        elif args.command == "bench":
            from .bench import cmd_bench as cmd
        elif args.command == "devices":
            from .devices import cmd_devices as cmd
        elif args.command == "keys":
            from .keys import cmd_keys as cmd
        elif args.command == "model":
            from .model import cmd_model as cmd
        elif args.command == "clean":
            from .clean import cmd_clean as cmd
        else:
            from .schema import cmd_schema as cmd
        return cmd(args)
    except GraphErrors as e:
        if args.debug:
            traceback.print_exc()
        for err in e.errors:
            print(str(err), file=sys.stderr)
        return EXIT_BAD_INPUT
    except EdgeSpeedError as e:
        if args.debug:
            traceback.print_exc()
        print(f"error: {e}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except ModuleNotFoundError as e:  # an optional extra that is not installed
        if args.debug:
            traceback.print_exc()
        print(missing_extra(" ".join(filter(None, (args.command, getattr(args, "model_command", None)))), e.name or ""), file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:  # `edgespeed nodes --describe | head`: the reader has gone
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit flush is quiet too
        return EXIT_BROKEN_PIPE


# top-level module -> (what pip calls it, the extra that installs it)
EXTRAS = {"zmq": ("pyzmq", "zmq"), "msgpack": ("msgpack", "zmq"), "onnx": ("onnx", "models"),
          "onnxruntime": ("onnxruntime", "onnx"), "av": ("av", "video"), "torch": ("torch", "torch"),
          "sounddevice": ("sounddevice", "audio"), "pocketsphinx": ("pocketsphinx", "speech"),
          "rapidocr_onnxruntime": ("rapidocr-onnxruntime", "ocr"), "prometheus_client": ("prometheus-client", "metrics"),
          "paho": ("paho-mqtt", "mqtt")}


def missing_extra(command: str, module: str) -> str:
    """One line for a command that needs a module that is not installed, naming the extra."""
    top = module.split(".")[0]
    if top in EXTRAS:
        package, extra = EXTRAS[top]
        from ..errors import install_source

        return f"error: edgespeed {command} needs {package}; install it with: pip install '{install_source()}[{extra}]'"
    return f"error: edgespeed {command} needs the Python module {top!r}, which is not installed"
