"""generated pictures: soft deletion (undo for a while) and the user's own words

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 17:50:00.000000

`deleted_at` marks a picture the user deleted: hidden at once, restorable until upkeep purges
it. `user_prompt` keeps what the user typed apart from the prompt sent to the provider (which
carries the style's template and the model's trigger word). Pictures made without a style were
sent the user's words as they were, so those rows are backfilled; styled rows keep "".
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("generated_images", schema=None) as batch_op:
        batch_op.add_column(sa.Column("user_prompt", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(
            sa.Column("deleted_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch_op.create_index(
            "ix_generated_images_deleted",
            ["deleted_at"],
            unique=False,
            postgresql_where=sa.text("deleted_at IS NOT NULL"),
            sqlite_where=sa.text("deleted_at IS NOT NULL"),
        )
    op.execute("UPDATE generated_images SET user_prompt = prompt WHERE style_id = ''")


def downgrade() -> None:
    with op.batch_alter_table("generated_images", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_generated_images_deleted",
            postgresql_where=sa.text("deleted_at IS NOT NULL"),
            sqlite_where=sa.text("deleted_at IS NOT NULL"),
        )
        batch_op.drop_column("deleted_at")
        batch_op.drop_column("user_prompt")
