"""plan credits kept apart from the rest of the balance, so renewals can expire them

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 18:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("plan_credits", sa.Integer(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("credit_holds", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("plan_amount", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("credit_holds", schema=None) as batch_op:
        batch_op.drop_column("plan_amount")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("plan_credits")
