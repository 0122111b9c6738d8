"""Indexes for reading evidence and a question's elicitations back, newest first

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 21:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # GET /v1/evidence and GET /v1/questions/{id}/elicitations page by (created_at, id).
    with op.batch_alter_table("evidence") as batch:
        batch.create_index("ix_evidence_created_at_id", ["created_at", "id"], unique=False)
    with op.batch_alter_table("elicitations") as batch:
        batch.create_index(
            "ix_elicitations_question_id_created_at_id",
            ["question_id", "created_at", "id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("elicitations") as batch:
        batch.drop_index("ix_elicitations_question_id_created_at_id")
    with op.batch_alter_table("evidence") as batch:
        batch.drop_index("ix_evidence_created_at_id")
