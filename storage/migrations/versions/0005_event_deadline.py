"""itemevent.due_at: the deadline in force after each event (figures by the month things happened)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('itemevent', schema=None) as batch_op:
        batch_op.add_column(sa.Column('due_at', storage.models.UTCDateTime(), nullable=True))
    # Events from before: the item's present deadline is the best knowledge there is.
    op.execute("UPDATE itemevent SET due_at = (SELECT item.due_at FROM item WHERE item.id = itemevent.item_id)")


def downgrade() -> None:
    with op.batch_alter_table('itemevent', schema=None) as batch_op:
        batch_op.drop_column('due_at')
