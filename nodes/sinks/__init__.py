"""Sinks: JSON lines, events, WAV, transcripts, snapshots, MQTT, and sink.null for benchmarks."""
