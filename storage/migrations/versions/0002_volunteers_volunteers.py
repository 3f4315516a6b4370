"""volunteers and their service-hours ledger

Revision ID: 0002_volunteers
Revises: 0001_core
Create Date: 2026-11-24 10:37:51.701542
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0002_volunteers'
down_revision: str | Sequence[str] | None = '0001_core'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('volunteer_hours',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('volunteer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('hours', sa.Numeric(precision=8, scale=2), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_volunteer_hours'))
    )
    with op.batch_alter_table('volunteer_hours', schema=None) as batch_op:
        batch_op.create_index('ix_volunteer_hours_volunteer_id', ['volunteer_id'], unique=False)

    op.create_table('volunteers',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('account', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.String(length=128), nullable=False),
    sa.Column('name_enc', sa.Text(), nullable=False),
    sa.Column('phone_enc', sa.Text(), nullable=False),
    sa.Column('phone_index', sa.String(length=128), nullable=False),
    sa.Column('city', sa.String(length=32), nullable=False),
    sa.Column('birth_year', sa.Integer(), nullable=False),
    sa.Column('minor', sa.Boolean(), nullable=False),
    sa.Column('guardian_enc', sa.Text(), nullable=True),
    sa.Column('skills', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_volunteers')),
    sa.UniqueConstraint('channel', 'account', 'user_id', name=op.f('uq_volunteers_channel_account_user_id')),
    sa.UniqueConstraint('phone_index', name=op.f('uq_volunteers_phone_index'))
    )
    with op.batch_alter_table('volunteers', schema=None) as batch_op:
        batch_op.create_index('ix_volunteers_city', ['city'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('volunteers', schema=None) as batch_op:
        batch_op.drop_index('ix_volunteers_city')

    op.drop_table('volunteers')
    with op.batch_alter_table('volunteer_hours', schema=None) as batch_op:
        batch_op.drop_index('ix_volunteer_hours_volunteer_id')

    op.drop_table('volunteer_hours')
