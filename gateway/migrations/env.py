"""Alembic environment for the gateway's own database."""

from gateway.models import Base
from shared.migrations import run_env

run_env(Base.metadata)
