"""Items: intake from tagged messages, the lifecycle commands, feedback and ratings."""

from __future__ import annotations

from handlers.router import Feature

FEATURE = Feature(name="items")
