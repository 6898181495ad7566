"""Console transcripts: scripts and the in-process runner for them."""
