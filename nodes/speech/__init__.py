"""Speech recognition: PocketSphinx, CTC decoding, captions."""
