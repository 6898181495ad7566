"""The real peers the tests run against (Synapse, a fake Bot API on loopback, the bot as a process)."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def peer_missing(message: str) -> NoReturn:
    """A peer a test needs is not installed: skip locally, with `message` saying how to install
    it; fail under CI (`CI=true`), where a green run that tested nothing of it would lie."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail("CI: " + message, pytrace=False)
    pytest.skip(message)
