"""gallery indexes for style and favourite filters

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 15:55:20.326308
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("generated_images", schema=None) as batch_op:
        batch_op.create_index(
            "ix_generated_images_user_favourites",
            ["user_id", "created_at", "id"],
            unique=False,
            postgresql_where=sa.text("favourite"),
            sqlite_where=sa.text("favourite = 1"),
        )
        batch_op.create_index(
            "ix_generated_images_user_style_feed",
            ["user_id", "style_id", "created_at", "id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("generated_images", schema=None) as batch_op:
        batch_op.drop_index("ix_generated_images_user_style_feed")
        batch_op.drop_index(
            "ix_generated_images_user_favourites",
            postgresql_where=sa.text("favourite"),
            sqlite_where=sa.text("favourite = 1"),
        )
