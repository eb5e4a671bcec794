"""Shared test setup: the test node library (`testnodes`) is importable and registered."""

from __future__ import annotations

import sys
from pathlib import Path

TESTS = Path(__file__).parent
REPO = TESTS.parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

import edgespeed.testing  # noqa: E402,F401  - registers testing.list_source / list_sink
import testnodes  # noqa: E402,F401  - registers the test nodes
