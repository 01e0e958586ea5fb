"""Briefs in their own table; outbox rows point at them instead of carrying a copy

A story routed to a hundred destinations wrote its brief (~2 KB) a hundred
times; now it writes it once in `briefs` and each outbox row holds `brief_id`.
Rows queued before this migration keep their brief in `payload` and are still
sent as they are. Every story's current brief is copied into `briefs`.
`ix_outbox_dest` is dropped: its lookups are rare (a destination gone or moved)
and served by `ix_outbox_due`'s status prefix, while every queued row paid for it.
The outbox's foreign keys (story, subscription) are dropped: a row is a
self-contained message; the keys cost a check per row (a trigger per row on
PostgreSQL), and deleting a subscription searched the unindexed outbox.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 02:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'briefs',
        sa.Column('id', Id, autoincrement=True, nullable=False),
        sa.Column('story_id', Id, nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('brief', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['story_id'], ['stories.id'], name=op.f('fk_briefs_story_id_stories'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_briefs')),
    )
    with op.batch_alter_table('briefs', schema=None) as batch_op:
        batch_op.create_index('ix_briefs_story', ['story_id'], unique=False)
    op.execute("INSERT INTO briefs (story_id, version, brief, created_at) "
               "SELECT id, version, brief, last_item_at FROM stories WHERE brief IS NOT NULL")

    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('brief_id', Id, nullable=True))
        batch_op.drop_constraint(op.f('fk_outbox_story_id_stories'), type_='foreignkey')
        batch_op.drop_constraint(op.f('fk_outbox_subscription_id_subscriptions'), type_='foreignkey')
        batch_op.drop_index('ix_outbox_dest')


def downgrade() -> None:
    # Rows queued since the upgrade get their brief back in the payload before the column goes.
    bind = op.get_bind()
    if bind.dialect.name == 'sqlite':
        op.execute("UPDATE outbox SET payload = json_set(payload, '$.brief', json((SELECT brief FROM briefs "
                   "WHERE briefs.id = outbox.brief_id))) WHERE brief_id IS NOT NULL")
    else:
        op.execute("UPDATE outbox SET payload = (payload::jsonb || jsonb_build_object('brief', b.brief::jsonb))::json "
                   "FROM briefs b WHERE b.id = outbox.brief_id")
    op.execute("UPDATE outbox SET story_id = NULL WHERE story_id NOT IN (SELECT id FROM stories)")
    op.execute("UPDATE outbox SET subscription_id = NULL "
               "WHERE subscription_id NOT IN (SELECT id FROM subscriptions)")
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_dest', ['platform', 'address', 'status'], unique=False)
        batch_op.create_foreign_key(op.f('fk_outbox_story_id_stories'), 'stories', ['story_id'], ['id'],
                                    ondelete='SET NULL')
        batch_op.create_foreign_key(op.f('fk_outbox_subscription_id_subscriptions'), 'subscriptions',
                                    ['subscription_id'], ['id'], ondelete='SET NULL')
        batch_op.drop_column('brief_id')
    with op.batch_alter_table('briefs', schema=None) as batch_op:
        batch_op.drop_index('ix_briefs_story')
    op.drop_table('briefs')
