"""`edgespeed devices`: what this machine offers a graph — compute, cameras, audio inputs."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
from pathlib import Path
from typing import Any

_SIMD = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "amx_tile", "neon", "asimd", "sve")


def compute() -> dict[str, Any]:
    """CPU cores and SIMD flags, ONNX Runtime's execution providers, NVIDIA GPUs."""
    out: dict[str, Any] = {"machine": platform.machine(), "cores": os.cpu_count(), "cpu": platform.processor() or "", "simd": []}
    try:
        text = Path("/proc/cpuinfo").read_text()
        for line in text.splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and not out["cpu"]:
                out["cpu"] = value.strip()
            if key.strip() in ("flags", "Features"):
                flags = set(value.split())
                out["simd"] = [f for f in _SIMD if f in flags]
                break
    except OSError:
        pass
    try:
        import onnxruntime as ort

        from ..infer.providers import known_not_installed

        available = ort.get_available_providers()
        out["onnxruntime"] = {"version": ort.__version__, "providers": available,
                              "not_installed": known_not_installed(available, ort.get_all_providers())}
    except ImportError:
        out["onnxruntime"] = {"missing": "pip install 'edgespeed[onnx]'"}
    out["nvidia_smi"] = bool(shutil.which("nvidia-smi"))
    return out


def cameras() -> list[dict[str, str]]:
    """V4L2 devices (Linux)."""
    found = []
    for dev in sorted(Path("/dev").glob("video*")):
        name_file = Path("/sys/class/video4linux") / dev.name / "name"
        name = name_file.read_text().strip() if name_file.exists() else ""
        found.append({"device": str(dev), "name": name})
    return found


def audio_inputs() -> dict[str, Any]:
    """Audio input devices through PortAudio, or why they cannot be listed."""
    try:
        import sounddevice as sd
    except ImportError:
        from ..errors import install_source

        return {"error": f"needs sounddevice; install it with: pip install '{install_source()}[audio]'"}
    except OSError:
        return {"error": "PortAudio library not found; install it with: apt-get install libportaudio2"}
    try:
        devs = sd.query_devices()
    except Exception as e:  # PortAudio present but no host API answers
        return {"error": f"cannot list audio devices: {e}"}
    return {"inputs": [{"index": i, "name": d["name"], "channels": d["max_input_channels"], "sample_rate_hz": d["default_samplerate"]}
                       for i, d in enumerate(devs) if d["max_input_channels"] > 0]}


def cmd_devices(args: argparse.Namespace) -> int:
    info: dict[str, Any] = {"compute": compute(), "cameras": cameras(), "audio": audio_inputs()}
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    c = info["compute"]
    print(f"compute: {c['cores']} cores, {c['machine']} {c['cpu']}".rstrip())
    print(f"  simd: {', '.join(c['simd']) or 'none found'}")
    ort = c["onnxruntime"]
    print(f"  onnxruntime: {ort.get('version', '')} providers {', '.join(ort['providers'])}" if "providers" in ort else f"  onnxruntime: {ort['missing']}")
    if ort.get("not_installed"):
        print(f"  not in this onnxruntime build: {', '.join(p.removesuffix('ExecutionProvider') for p in ort['not_installed'])}")
    print(f"  nvidia-smi: {'yes' if c['nvidia_smi'] else 'no'}")
    print("cameras:" + ("" if info["cameras"] else " none (no /dev/video*)"))
    for cam in info["cameras"]:
        print(f"  {cam['device']}  {cam['name']}")
    audio = info["audio"]
    if "error" in audio:
        print(f"audio inputs: {audio['error']}")
    else:
        print("audio inputs:" + ("" if audio["inputs"] else " none"))
        for a in audio["inputs"]:
            print(f"  [{a['index']}] {a['name']}  ({a['channels']} ch, {a['sample_rate_hz']:.0f} Hz)")
    return 0
