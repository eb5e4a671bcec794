"""Video nodes: sources (camera, file, stream, synthetic), the writer, overlays and the preview page."""
