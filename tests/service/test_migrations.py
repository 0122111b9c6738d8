"""Alembic builds exactly the schema that service/store/tables.py declares, both ways."""

from __future__ import annotations


def _schema_differences(settings) -> list:  # type: ignore[no-untyped-def]
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from service.store.database import make_engine
    from service.store.tables import Base

    engine = make_engine(settings)
    try:
        with engine.connect() as conn:
            return list(compare_metadata(MigrationContext.configure(conn), Base.metadata))
    finally:
        engine.dispose()


def test_the_migrated_database_matches_the_declared_tables(prepared):
    assert _schema_differences(prepared) == []


def test_the_latest_migration_goes_down_and_up_again(prepared):
    from alembic import command

    from service.store.database import alembic_config

    cfg = alembic_config(prepared.sqlalchemy_url)
    command.downgrade(cfg, "-1")
    # One revision down, the declared tables have a column the database lacks.
    assert _schema_differences(prepared) != []
    command.upgrade(cfg, "head")
    assert _schema_differences(prepared) == []
