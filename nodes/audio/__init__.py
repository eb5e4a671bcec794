"""Audio sources and transforms: files, microphones, resampling, framing, features, VAD, endpointing."""
