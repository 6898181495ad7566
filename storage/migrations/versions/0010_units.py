"""handling units, visitors, categories and routing: handling_unit, visitor; item.unit_id, item.category,
item.route; station.categories, station.petition_office

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 02:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'handling_unit',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('station_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('contact_id', sa.Integer(), nullable=True),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('created_at', storage.models.UTCDateTime(), nullable=False),
        sa.Column('updated_at', storage.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['contact_id'], ['person.id']),
        sa.ForeignKeyConstraint(['station_id'], ['station.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('station_id', 'name', name='uq_unit_name'),
    )
    op.create_index(op.f('ix_handling_unit_station_id'), 'handling_unit', ['station_id'], unique=False)
    op.create_table(
        'visitor',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('station_id', sa.Integer(), nullable=False),
        sa.Column('item_id', sa.Integer(), nullable=False),
        sa.Column('reception_id', sa.Integer(), nullable=True),
        sa.Column('channel', sa.String(length=10), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('phone', sa.String(length=50), nullable=True),
        sa.Column('recorded_by', sa.Integer(), nullable=True),
        sa.Column('created_at', storage.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['item_id'], ['item.id']),
        sa.ForeignKeyConstraint(['reception_id'], ['reception.id']),
        sa.ForeignKeyConstraint(['recorded_by'], ['person.id']),
        sa.ForeignKeyConstraint(['station_id'], ['station.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('item_id', name='uq_visitor_item'),
    )
    op.create_index(op.f('ix_visitor_station_id'), 'visitor', ['station_id'], unique=False)
    op.create_index(op.f('ix_visitor_reception_id'), 'visitor', ['reception_id'], unique=False)
    with op.batch_alter_table('item', schema=None) as batch_op:
        batch_op.add_column(sa.Column('unit_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('category', sa.String(length=50), nullable=True))
        batch_op.add_column(sa.Column('route', sa.String(length=20), nullable=True))
        batch_op.create_index(batch_op.f('ix_item_unit_id'), ['unit_id'], unique=False)
    with op.batch_alter_table('station', schema=None) as batch_op:
        batch_op.add_column(sa.Column('categories', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('petition_office', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('station', schema=None) as batch_op:
        batch_op.drop_column('petition_office')
        batch_op.drop_column('categories')
    with op.batch_alter_table('item', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_item_unit_id'))
        batch_op.drop_column('route')
        batch_op.drop_column('category')
        batch_op.drop_column('unit_id')
    op.drop_index(op.f('ix_visitor_reception_id'), table_name='visitor')
    op.drop_index(op.f('ix_visitor_station_id'), table_name='visitor')
    op.drop_table('visitor')
    op.drop_index(op.f('ix_handling_unit_station_id'), table_name='handling_unit')
    op.drop_table('handling_unit')
