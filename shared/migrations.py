"""Alembic per service, driven from code: `mall migrate` upgrades every service's own database."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from alembic import command
from alembic.config import Config


def migrations_folder(service: str) -> Path:
    """Where a service keeps its migrations, found without importing the service's code."""
    package = "gateway" if service == "gateway" else f"services.{service}"
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise LookupError(f"no package for service {service!r}")
    return Path(next(iter(spec.submodule_search_locations))) / "migrations"


def alembic_config(service: str, url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_folder(service)))
    config.set_main_option("path_separator", "os")
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.set_main_option("version_locations", str(migrations_folder(service) / "versions"))
    return config


def upgrade(service: str, url: str) -> None:
    command.upgrade(alembic_config(service, url), "head")


def make_revision(service: str, url: str, message: str) -> None:
    command.revision(alembic_config(service, url), message=message, autogenerate=True)


def run_env(metadata) -> None:
    """The body of every service's migrations/env.py (online mode; SQLite in batch mode)."""
    from alembic import context
    from sqlalchemy import create_engine, pool

    url = context.config.get_main_option("sqlalchemy.url")
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
