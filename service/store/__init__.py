"""Persistence: tables, repositories (SQL only) and Alembic migrations."""
