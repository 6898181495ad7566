"""report indexes: the figures' items received in a period, items changed since a period ended,
events of a kind in a period, and an item's events in order

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('item', schema=None) as batch_op:
        batch_op.create_index('ix_item_station_created', ['station_id', 'created_at'], unique=False)
        batch_op.create_index('ix_item_updated_at', ['updated_at'], unique=False)

    with op.batch_alter_table('itemevent', schema=None) as batch_op:
        batch_op.create_index('ix_itemevent_item_at', ['item_id', 'at'], unique=False)
        batch_op.create_index('ix_itemevent_kind_at', ['kind', 'at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('itemevent', schema=None) as batch_op:
        batch_op.drop_index('ix_itemevent_kind_at')
        batch_op.drop_index('ix_itemevent_item_at')

    with op.batch_alter_table('item', schema=None) as batch_op:
        batch_op.drop_index('ix_item_updated_at')
        batch_op.drop_index('ix_item_station_created')

