"""The error of the link wire format, in a module of its own so that `wire` (which decodes) and
`compress` (which inflates the arrays `wire` hands it) both raise it without importing each other."""

from __future__ import annotations


class WireError(ValueError):
    """A message that does not follow the wire format (dropped and counted by the receiver)."""
