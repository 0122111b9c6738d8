"""forecast_history.contentious: P(the question's forecasters disagree beyond their noise)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 02:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable: rows served before this revision did not record it.
    with op.batch_alter_table("forecast_history") as batch:
        batch.add_column(sa.Column("contentious", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("forecast_history") as batch:
        batch.drop_column("contentious")
