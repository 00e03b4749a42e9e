"""A Celery app on the mall's settings whose one task stalls on its first delivery, for the kill test."""

from __future__ import annotations

import os
import time
from pathlib import Path

from shared.celery_app import make_celery
from shared.config import Settings

app = make_celery("redelivery", Settings.from_env())


@app.task(name="test.stall_once", shared=False)
def stall_once(folder: str) -> None:
    """The first worker to take it says so and stalls (to be killed); any later one records the redelivery."""
    here = Path(folder)
    if not (here / "taken").exists():
        (here / "taken").write_text(str(os.getpid()))
        time.sleep(120)
    (here / "redelivered").write_text(str(os.getpid()))
