"""Wiring and the edges: settings, CLI, and one thin adapter per platform."""
