"""Sinks: files, counters."""
