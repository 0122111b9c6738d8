"""forecast_history.as_of: the newest forecast on the question that a served forecast reads

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 22:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable: rows served before this revision did not record it (and a question without
    # forecasts has none).
    with op.batch_alter_table("forecast_history") as batch:
        batch.add_column(sa.Column("as_of", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("forecast_history") as batch:
        batch.drop_column("as_of")
