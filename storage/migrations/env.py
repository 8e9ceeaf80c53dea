"""Alembic environment: runs on the connection the service hands over (async engines included)."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from storage.schema import metadata


def run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `otklik migrate` (storage.db.migrate)")
run_on(connection)
