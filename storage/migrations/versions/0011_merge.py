"""duplicates and supporters, private reports, residents' notifications: table supporter, table
resident_notify, item.private / merged_into_id / muted

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 02:13:32.467975
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.models

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('resident_notify',
    sa.Column('station_id', sa.Integer(), nullable=False),
    sa.Column('group_items', sa.Boolean(), nullable=False),
    sa.Column('private_items', sa.Boolean(), nullable=False),
    sa.Column('updated_at', storage.models.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['station_id'], ['station.id'], ),
    sa.PrimaryKeyConstraint('station_id')
    )
    op.create_table('supporter',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('source_message_id', sa.Integer(), nullable=True),
    sa.Column('merged_item_id', sa.Integer(), nullable=True),
    sa.Column('rating', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=True),
    sa.Column('rated_round', sa.Integer(), nullable=True),
    sa.Column('muted', sa.Boolean(), nullable=False),
    sa.Column('created_at', storage.models.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['item.id'], ),
    sa.ForeignKeyConstraint(['merged_item_id'], ['item.id'], ),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], ),
    sa.ForeignKeyConstraint(['source_message_id'], ['message.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('item_id', 'person_id', name='uq_supporter_person')
    )
    with op.batch_alter_table('supporter', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_supporter_item_id'), ['item_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_supporter_person_id'), ['person_id'], unique=False)
    with op.batch_alter_table('item', schema=None) as batch_op:
        batch_op.add_column(sa.Column('private', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('merged_into_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('muted', sa.Boolean(), nullable=False, server_default=sa.false()))
    # Items raised before in a direct message (a chat bound to no station) are private reports.
    op.execute(
        "UPDATE item SET private = true WHERE source_message_id IN ("
        " SELECT message.id FROM message LEFT JOIN chatbinding"
        " ON chatbinding.platform = message.platform AND chatbinding.chat_id = message.chat_id"
        " WHERE chatbinding.id IS NULL)"
    )


def downgrade() -> None:
    with op.batch_alter_table('item', schema=None) as batch_op:
        batch_op.drop_column('muted')
        batch_op.drop_column('merged_into_id')
        batch_op.drop_column('private')
    with op.batch_alter_table('supporter', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_supporter_person_id'))
        batch_op.drop_index(batch_op.f('ix_supporter_item_id'))
    op.drop_table('supporter')
    op.drop_table('resident_notify')
