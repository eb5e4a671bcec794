"""`python -m edgespeed` runs the CLI (same as the `edgespeed` command)."""

import sys

from .cli import main

sys.exit(main())
