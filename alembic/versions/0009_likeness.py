"""likeness: face embeddings of training photos, held-out photos, a model's reference faces,
scores of delivered pictures

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27 18:40:00.000000

`training_photos.face_embedding` holds dlib's 128-d face embedding (128 little-endian float32,
512 bytes) of a photo of a person; empty for a pet, a photo refused before its face was
described, or a face dlib could not describe. Photos stored before this revision have none and
take no part in the likeness check. `held_out` marks the photos kept back from the trainer to
score pictures against. `personal_models.likeness_references` keeps those faces (the held-out
photos' embeddings, or every embedded accepted photo's when none is held out, concatenated) from
training start for as long as the model, since retention removes its training photos; NULL for
models trained before this revision. `generated_images.likeness` is a delivered picture's score
(mean face distance to the user's reference faces; NULL when not scored), indexed for the
gallery.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("training_photos", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "face_embedding", sa.LargeBinary(), nullable=False, server_default=sa.text("''")
            )
        )
        batch_op.add_column(
            sa.Column("held_out", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("personal_models", schema=None) as batch_op:
        batch_op.add_column(sa.Column("likeness_references", sa.LargeBinary(), nullable=True))
    with op.batch_alter_table("generated_images", schema=None) as batch_op:
        batch_op.add_column(sa.Column("likeness", sa.Float(), nullable=True))
        batch_op.create_index(
            "ix_generated_images_user_likeness", ["user_id", "likeness", "id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("generated_images", schema=None) as batch_op:
        batch_op.drop_index("ix_generated_images_user_likeness")
        batch_op.drop_column("likeness")
    with op.batch_alter_table("personal_models", schema=None) as batch_op:
        batch_op.drop_column("likeness_references")
    with op.batch_alter_table("training_photos", schema=None) as batch_op:
        batch_op.drop_column("held_out")
        batch_op.drop_column("face_embedding")
