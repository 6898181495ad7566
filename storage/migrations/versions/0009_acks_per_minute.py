"""station.acks_per_minute: a person's acknowledgements one by one per minute (the flood limit)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 00:35:26.551354
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing stations get the default limit: 5 acknowledgements a person a minute one by one.
    with op.batch_alter_table('station', schema=None) as batch_op:
        batch_op.add_column(sa.Column('acks_per_minute', sa.Integer(), nullable=False, server_default='5'))


def downgrade() -> None:
    with op.batch_alter_table('station', schema=None) as batch_op:
        batch_op.drop_column('acks_per_minute')
