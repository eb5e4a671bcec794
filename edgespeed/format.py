"""The graph format, defined once: every key and every option value a graph file may use.

The loader, validation, `edgespeed schema` and the transport all read these tuples, so a new
policy or codec is added here and nowhere else. A leaf module: it imports nothing of edgespeed.
"""

from __future__ import annotations

# -- keys -------------------------------------------------------------------------------------
TOP_KEYS = ("name", "description", "nodes", "devices", "default_device")
NODE_KEYS = ("id", "type", "params", "inputs", "device", "on_error", "sync", "sync_tolerance_ms", "isolate",
             "shm_cap_mb", "cpus", "private")
INPUT_KEYS = ("from", "queue", "policy", "mode", "compress", "quality")
DEVICE_KEYS = ("endpoint", "trusted", "endpoints", "bind", "keys", "allow", "timeout_s", "insecure")
LINK_KEYS = ("mode", "compress", "quality")  # input keys used only where the edge crosses devices

# -- option values ----------------------------------------------------------------------------
POLICIES = ("block", "latest", "drop_oldest")  # what a full ring does to its writer
SYNC_MODES = ("any", "latest", "timestamp", "trigger")  # how a multi-input node matches its inputs
# (`trigger`: one call per packet of the trigger input, with the others' packets of its timestamp)
ON_ERROR = ("stop", "skip", "restart")  # what a failing node does to the run
LINK_MODES = ("reliable", "realtime")  # keep every packet across reconnects, or only the newest
COMPRESS_CODECS = ("none", "jpeg", "png", "zlib", "zstd", "lz4")
LOSSLESS_CODECS = ("zlib", "zstd", "lz4")  # any array, not only images
IMAGE_CODECS = ("jpeg", "png")  # uint8 images only

# -- forms ------------------------------------------------------------------------------------
ID_PATTERN = r"^[a-z][a-z0-9_]*$"  # node ids, device names, isolate group names
CPUSET_PATTERN = r"\s*\d+(\s*-\s*\d+)?(\s*,\s*\d+(\s*-\s*\d+)?)*\s*"  # "0-1,3", as taskset writes it
PLUGIN_TYPE_PATTERN = r"^[\w.]+:[\w.]+$"  # `package.module:Class`

# -- what a path param names: `Param(doc=..., kind="model_file")`; validate checks these exist.
# Output paths declare no kind: they are made by the run, never checked.
PATH_KINDS = ("input_file", "input_folder", "model_file", "model_folder")

# -- values that name no local file -----------------------------------------------------------
BUILTIN_PREFIX = "builtin:"  # `builtin:video/sample.mp4`: a file shipped in edgespeed/data/


def is_local_path(value: str) -> bool:
    """True when a path param names a file on this machine (not a URL, not a shipped sample)."""
    return not (value.startswith(BUILTIN_PREFIX) or "://" in value)
