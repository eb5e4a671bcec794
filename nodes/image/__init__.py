"""Image nodes: the image.folder source and preprocessing (resize, letterbox, crop, color,
normalize, augment, batch/unbatch, rate limits)."""
