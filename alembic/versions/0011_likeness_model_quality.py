"""likeness: a model's quality check (the likeness of sample pictures made after training)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27 20:55:00.000000

`personal_models.quality_likeness` is the mean likeness score (face distance to the model's
reference faces; lower is more alike) of the sample pictures made right after training, NULL
until measured or when no sample showed a face; `quality_checked_at` says when. A model whose
sample fell below the threshold may be retrained once with its training cost refunded;
`quality_refunded_at` records that it was, so it happens at most once per model.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("personal_models", schema=None) as batch_op:
        batch_op.add_column(sa.Column("quality_likeness", sa.Float(), nullable=True))
        batch_op.add_column(
            sa.Column("quality_checked_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("quality_refunded_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("personal_models", schema=None) as batch_op:
        batch_op.drop_column("quality_refunded_at")
        batch_op.drop_column("quality_checked_at")
        batch_op.drop_column("quality_likeness")
