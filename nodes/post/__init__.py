"""Postprocessing nodes: detection decoding, classification, tracking, counting, smoothing."""
