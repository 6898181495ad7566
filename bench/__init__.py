"""Benchmarks, run on demand (`make bench`); figures are written down in the README."""
