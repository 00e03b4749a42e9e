"""Alembic environment for catalog's own database."""

from services.catalog.models import Base
from shared.migrations import run_env

run_env(Base.metadata)
