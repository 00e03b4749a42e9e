"""A real Celery worker for test_publisher.py: the mall's Celery settings and task options, one recording task.

`celery -A tests.shared.publishing_worker worker --pool solo -Q <queue>` runs it. The task appends what it
received (its envelope, the retry count and the headers Flower shows) as a JSON line to
`$MALL_TEST_RECORD`, and asks Celery to retry once when the envelope's payload says `retry_once`.
"""

from __future__ import annotations

import json
import os

from shared.celery_app import make_celery
from shared.config import Settings

app = make_celery("publishing", Settings.from_env())


# The options `ServiceRuntime._register_task` gives every consumer.
@app.task(
    name="orders.handle_payment_refunded",
    bind=True,
    shared=False,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=5,
)
def handle_payment_refunded(task, body):
    record = {
        "body": body,
        "retries": task.request.retries,
        "argsrepr": task.request.argsrepr,
        "queue": task.request.delivery_info.get("routing_key"),
    }
    with open(os.environ["MALL_TEST_RECORD"], "a") as f:
        f.write(json.dumps(record) + "\n")
    if body["payload"].get("retry_once") and task.request.retries == 0:
        raise task.retry(countdown=0)
