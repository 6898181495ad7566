"""kill -9 during intake on Matrix (issue 12, scaled; `bench/matrix_bench.py --crash` is the full run):
the bot process is killed twice while 40 tagged messages arrive and started again each time."""

from __future__ import annotations

from pathlib import Path

from tests.matrix.crash import crash_run
from tests.peers.synapse import SynapseServer


async def test_kill_9_during_intake_loses_nothing_and_resends_nothing(
    synapse: SynapseServer, db_url: str, tmp_path: Path
) -> None:
    figures = await crash_run(synapse, db_url, tmp_path, messages=40, kills=2)
    assert (figures.items, figures.lost, figures.duplicated) == (40, 0, 0)
    assert (figures.unacknowledged, figures.resent) == (0, 0)
