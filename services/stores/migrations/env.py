"""Alembic environment for stores' own database."""

from services.stores.models import Base
from shared.migrations import run_env

run_env(Base.metadata)
