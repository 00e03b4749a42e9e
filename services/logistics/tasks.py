"""Logistics' message consumers and periodic jobs: envelope in, use case, done."""

from . import couriers, services
from .config import runtime

#: The courier company parcels out of town are booked with (tests put a fake here).
courier = couriers.default_courier()


@runtime.handles("logistics.arrange_delivery")
def arrange_delivery(uow, payload):
    services.arrange_delivery(
        uow,
        payload,
        courier=courier,
        insurance_rate=runtime.settings.insurance_rate,
        delivery_fees={
            "courier": runtime.settings.courier_fee_cents,
            "local": runtime.settings.local_delivery_fee_cents,
        },
        timezone=runtime.settings.timezone,
    )


@runtime.handles("logistics.cancel_delivery")
def cancel_delivery(uow, payload):
    services.cancel_delivery(uow, payload, courier=courier)


@runtime.handles("logistics.claim_loss")
def claim_loss(uow, payload):
    services.claim_loss(uow, payload)


@runtime.periodic("logistics.close_batch")
def close_batch():
    """Beat calls this at each cut-off in `settings.batch_cutoffs` (two delivery batches a day)."""
    with runtime.db.session() as session, session.begin():
        return services.close_batch(session, "schedule", timezone=runtime.settings.timezone)
