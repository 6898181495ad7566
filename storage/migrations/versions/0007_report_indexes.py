"""report indexes: the figures' items received in a period, a station's open items, items changed
since a period ended, a station's events of a kind in a period (events now repeat their item's
station), and an item's events in order

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('itemevent', sa.Column('station_id', sa.Integer(), nullable=True))
    op.execute("UPDATE itemevent SET station_id = (SELECT item.station_id FROM item WHERE item.id = itemevent.item_id)")
    op.create_index('ix_itemevent_station_kind_at', 'itemevent', ['station_id', 'kind', 'at'], unique=False)
    op.create_index('ix_itemevent_item_at', 'itemevent', ['item_id', 'at', 'kind'], unique=False)
    op.create_index('ix_item_station_created', 'item', ['station_id', 'created_at'], unique=False)
    op.create_index('ix_item_station_status', 'item', ['station_id', 'status', 'updated_at', 'due_at'], unique=False)
    op.create_index('ix_item_updated_at', 'item', ['updated_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_item_updated_at', table_name='item')
    op.drop_index('ix_item_station_status', table_name='item')
    op.drop_index('ix_item_station_created', table_name='item')
    op.drop_index('ix_itemevent_item_at', table_name='itemevent')
    op.drop_index('ix_itemevent_station_kind_at', table_name='itemevent')
    with op.batch_alter_table('itemevent', schema=None) as batch_op:
        batch_op.drop_column('station_id')
