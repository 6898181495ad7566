"""figure deltas: a station's item figures kept per month as events happen, backfilled from the
items and events already there (storage/figure_deltas.py)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'figure_delta',
        sa.Column('station_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('figure', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column('month', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('other', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('station_id', 'figure', 'month', 'other'),
    )
    from storage.figure_deltas import rebuild  # the same computation the bot keeps them with

    rebuild(op.get_bind())


def downgrade() -> None:
    op.drop_table('figure_delta')
