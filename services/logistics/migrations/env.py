"""Alembic environment for logistics' own database."""

from services.logistics.models import Base
from shared.migrations import run_env

run_env(Base.metadata)
