"""Logistics' internal HTTP API (service token required): batches, local deliveries, tracking, shipments."""

from flask import Blueprint, request

from shared.web import load_body

from . import services
from .config import runtime
from .schemas import (
    ClaimQuery,
    ClaimRejected,
    ClaimSettled,
    CloseBatch,
    CostsQuery,
    Delivered,
    DeliveryQuery,
    PickUp,
    TrackingReport,
)

bp = Blueprint("logistics", __name__, url_prefix="/internal")


@bp.post("/batches/close")
def close_batch():
    """Close the current batch now (customer service, before a cut-off).

    `{}` -> `{"batch": "B20261124-1", "deliveries": 3}`.
    """
    body = load_body(CloseBatch)
    with runtime.db.session() as session, session.begin():
        return services.close_batch(session, body["closed_by"], timezone=runtime.settings.timezone)


@bp.get("/deliveries")
def list_deliveries():
    """`?status=open` (ready or picked up) -> `{"items": [{id, order, unit, status, fulfilment_id, address, batch}]}`.

    The couriers' list: local parcels of closed batches, one per fulfilment.
    """
    query = load_body(DeliveryQuery, request.args.to_dict())
    with runtime.db.session() as session:
        return {"items": [services.delivery_view(s) for s in services.list_deliveries(session, query["status"])]}


@bp.post("/deliveries/<id:shipment_id>/picked-up")
def picked_up(shipment_id: int):
    """`{"signature": "...", "courier": "li.wei"}` -> the delivery; 409 `wrong_state` before its batch closed."""
    body = load_body(PickUp)
    with runtime.db.session() as session:
        order = services.order_of_delivery(session, shipment_id)
    with runtime.unit_of_work(order) as uow:
        shipment = services.pick_up(uow, shipment_id, signature=body["signature"], courier=body["courier"])
        return services.delivery_view(shipment)


@bp.post("/deliveries/<id:shipment_id>/delivered")
def delivered(shipment_id: int):
    """`{"signed_by": "Zhang Min", "courier": "li.wei"}` -> the delivery; 409 `wrong_state` unless picked up."""
    body = load_body(Delivered)
    with runtime.db.session() as session:
        order = services.order_of_delivery(session, shipment_id)
    with runtime.unit_of_work(order) as uow:
        shipment = services.hand_over(uow, shipment_id, signed_by=body["signed_by"], courier=body["courier"])
        return services.delivery_view(shipment)


@bp.post("/tracking")
def tracking():
    """A partner's report, verified by the gateway: `{"source": "kuaidi100", "waybill": "SB...",
    "events": [{"state": 0, "detail": "...", "at": "2026-11-24T10:00:00+08:00"}]}` -> `{"accepted", "duplicates"}`."""
    body = load_body(TrackingReport)
    with runtime.db.session() as session:
        order = services.order_of_waybill(session, body["waybill"])
    with runtime.unit_of_work(order) as uow:
        return services.record_tracking(
            uow, body["waybill"], body["source"], body["events"], timezone=runtime.settings.timezone
        )


@bp.get("/shipments/<order>")
def shipments(order: str):
    """`{"items": [shipment]}` with each shipment's tracking timeline; empty for an order with none."""
    with runtime.db.session() as session:
        return {"items": services.shipments_of(session, order)}


@bp.get("/costs")
def costs():
    """What a month's deliveries cost per unit, for finance's statements: `?month=2026-10` ->
    `{"month": "2026-10", "items": [{"unit", "parcels", "logistics_cost_cents", "insurance_cents"}]}`.

    A parcel counts in the month (the mall's time zone) it was booked; a withdrawn one costs nothing.
    """
    query = load_body(CostsQuery, request.args.to_dict())
    with runtime.db.session() as session:
        items = services.costs(session, query["month"], runtime.settings.timezone)
    return {"month": query["month"], "items": items}


@bp.get("/claims")
def list_claims():
    """`?status=open` -> `{"items": [claim]}` newest first: loss claims on couriers."""
    query = load_body(ClaimQuery, request.args.to_dict())
    with runtime.db.session() as session:
        return {"items": [services.claim_view(c) for c in services.list_claims(session, query["status"])]}


@bp.post("/claims/<id:claim_id>/settle")
def settle_claim(claim_id: int):
    """`{"paid_cents": 5000, "by": "..."}`: what the courier paid -> the claim; 409 unless open; 422 above the claim."""
    body = load_body(ClaimSettled)
    with runtime.db.session() as session, session.begin():
        return services.claim_view(services.settle_claim(session, claim_id, body["paid_cents"], body["by"]))


@bp.post("/claims/<id:claim_id>/reject")
def reject_claim(claim_id: int):
    """`{"note": "...", "by": "..."}`: the courier refused -> the claim; 409 unless open."""
    body = load_body(ClaimRejected)
    with runtime.db.session() as session, session.begin():
        return services.claim_view(services.reject_claim(session, claim_id, body["note"], body["by"]))
