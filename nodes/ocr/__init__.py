"""Text reading nodes: PP-OCR text detection and recognition."""
