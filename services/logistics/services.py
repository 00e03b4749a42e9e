"""Logistics' use cases: book deliveries, run the local batches and hand-overs, follow partners' tracking.

No Flask, no Celery: the courier company and the settings come in as arguments. Booking is on every
order's path, so it runs Core statements built once with bound parameters (SQLAlchemy reuses their
compiled form, and no ORM object is loaded or flushed per message); the rest is staff and partner work
and uses the ORM.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared.calendar import month_bounds
from shared.db import direct
from shared.messaging import PermanentError, UnitOfWork, now
from shared.money import format_cents, rate_of
from shared.web import ApiError, not_found

from .couriers import CourierAdapter
from .models import BEFORE_HAND_OVER, Batch, LossClaim, Shipment, TrackingEvent, WithdrawnBeforeBooking

log = logging.getLogger("mall.logistics")

#: Kuaidi100's state codes, the common language of every partner's tracking report.
STATE_NAMES = {
    0: "in transit",
    1: "picked up",
    2: "problem",
    3: "signed for",
    4: "refused, returned",
    5: "out for delivery",
    6: "returning",
}
MOVING, SIGNED, FAILED = (0, 1, 5), 3, {2: "problem", 4: "returned", 6: "returning"}

DELIVERY_STATUSES = {
    "open": ("ready", "picked_up"),
    "ready": ("ready",),
    "picked_up": ("picked_up",),
    "delivered": ("delivered",),
    "all": ("ready", "picked_up", "delivered"),
}


def _utc(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes; everything is stored in UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _iso(value: datetime | None) -> str | None:
    value = _utc(value)
    return value.isoformat() if value else None


# --- booking --------------------------------------------------------------------------------------

shipment_table, batch_table = Shipment.__table__, Batch.__table__

#: What orders is told about a shipment (see _reply).
SHIPMENT_STATE = direct(
    select(
        shipment_table.c.order,
        shipment_table.c.fulfilment_id,
        shipment_table.c.status,
        shipment_table.c.delivery,
        shipment_table.c.waybill,
        shipment_table.c.carrier,
    ).where(shipment_table.c.fulfilment_id == bindparam("fulfilment_id"))
)
#: FOR SHARE: a batch being closed at this moment makes us wait, then no longer counts as open, so a
#: parcel never joins a batch after its cut-off has released the others.
OPEN_BATCH = direct(
    select(batch_table.c.id)
    .where(batch_table.c.status == "open")
    .order_by(batch_table.c.id)
    .limit(1)
    .with_for_update(read=True)
)
NEW_SHIPMENT = direct(insert(shipment_table))
#: Booking and withdrawing one fulfilment's delivery take this lock first (PostgreSQL; on SQLite a
#: writing transaction holds the whole database): a withdrawal that finds nothing booked yet must not
#: cross a booking in flight, which it would otherwise not see until that commits.
FULFILMENT_LOCK = direct(
    select(func.pg_advisory_xact_lock(bindparam("namespace"), bindparam("fulfilment_id")).label("locked"))
)
_LOCK_NAMESPACE = 0x4C47  # "LG": logistics' advisory locks, keyed by fulfilment id
_withdrawn = WithdrawnBeforeBooking.__table__
#: Asked by every booking, so a Core statement built once (as the module's other hot statements).
WITHDRAWN_BEFORE_BOOKING = direct(
    select(_withdrawn.c.fulfilment_id).where(_withdrawn.c.fulfilment_id == bindparam("fulfilment_id"))
)


def _lock_fulfilment(session: Session, fulfilment_id: int) -> None:
    if session.bind.dialect.name == "postgresql":
        session.execute(FULFILMENT_LOCK, {"namespace": _LOCK_NAMESPACE, "fulfilment_id": fulfilment_id})


#: A courier books a parcel from its row (address, declared value, ...).
NEW_COURIER_SHIPMENT = direct(NEW_SHIPMENT.returning(*shipment_table.c))
SET_WAYBILL = direct(
    update(shipment_table)
    .where(shipment_table.c.id == bindparam("shipment_id"))
    .values(waybill=bindparam("waybill_no"), carrier=bindparam("carrier_name"))
)


def _new_batch(session: Session, timezone: str) -> Batch:
    # Numbered per day in the mall's time zone: B20261124-1, B20261124-2 ...; two workers that open
    # one at the same moment collide on the unique number and the loser's message is retried.
    prefix = f"B{datetime.now(ZoneInfo(timezone)):%Y%m%d}-"
    taken = session.scalar(select(func.count()).select_from(Batch).where(Batch.number.like(prefix + "%"))) or 0
    batch = Batch(number=f"{prefix}{taken + 1}", status="open", created_at=now())
    session.add(batch)
    session.flush()
    return batch


def _open_batch(session: Session, timezone: str) -> int:
    """The id of the batch local parcels join now (see OPEN_BATCH), opened if there is none."""
    batch_id = session.execute(OPEN_BATCH).scalar()
    return batch_id if batch_id is not None else _new_batch(session, timezone).id


def _cancelled(uow: UnitOfWork, order: str, fulfilment_id: int) -> None:
    uow.send("shipment.cancelled", {"order": order, "fulfilment_id": fulfilment_id})


def _reply(uow: UnitOfWork, shipment: Mapping[str, Any]) -> None:
    """Tell orders where the delivery stands (a command sent again gets the same answer)."""
    if shipment["status"] == "cancelled":
        _cancelled(uow, shipment["order"], shipment["fulfilment_id"])
        return
    uow.send(
        "shipment.booked",
        {
            "order": shipment["order"],
            "fulfilment_id": shipment["fulfilment_id"],
            "delivery": shipment["delivery"],
            "waybill": shipment["waybill"],
            "carrier": shipment["carrier"],
        },
    )


def arrange_delivery(
    uow: UnitOfWork,
    command: dict[str, Any],
    *,
    courier: CourierAdapter,
    insurance_rate: str,
    delivery_fees: Mapping[str, int],
    timezone: str,
) -> None:
    """Book one fulfilment's delivery: local parcels join the open batch, others get a courier waybill.

    Courier parcels are insured at `insurance_rate` of their declared value (3‰ to 5‰ in the courier
    agreement). Each shipment records what its delivery costs, `delivery_fees[delivery]` in cents (the
    settings' fee of the day it is booked). One shipment per fulfilment: the same command again only
    repeats the reply.
    """
    session = uow.session
    _lock_fulfilment(session, command["fulfilment_id"])
    existing = session.execute(SHIPMENT_STATE, {"fulfilment_id": command["fulfilment_id"]}).first()
    if existing is not None:
        _reply(uow, existing._asdict())
        return
    if session.execute(WITHDRAWN_BEFORE_BOOKING, {"fulfilment_id": command["fulfilment_id"]}).first() is not None:
        # The saga withdrew this delivery before it reached us (the cancel overtook the booking): book nothing.
        _cancelled(uow, command["order"], command["fulfilment_id"])
        return
    shipment = {
        "order": command["order"],
        "fulfilment_id": command["fulfilment_id"],
        "unit": command["unit"],
        "delivery": command["delivery"],
        "address": command["address"],
        "declared_value_cents": command["declared_value_cents"],
        "cod_amount_cents": command["cod_amount_cents"],
        "insurance_cents": 0,
        "delivery_fee_cents": delivery_fees[command["delivery"]],
        "status": "awaiting_batch",
        "batch_id": None,
        "waybill": None,
        "carrier": None,
        "created_at": now(),
    }
    if command["delivery"] == "local":
        shipment["batch_id"] = _open_batch(session, timezone)
        session.execute(NEW_SHIPMENT, shipment)
    else:
        shipment["status"] = "booked"
        shipment["insurance_cents"] = rate_of(command["declared_value_cents"], insurance_rate)
        # Stored before booking: a racing copy of this command fails on the unique fulfilment, not at the courier.
        row = session.execute(NEW_COURIER_SHIPMENT, shipment).one()
        # The booking is outside our transaction: if the commit fails after it, the message is
        # retried and books again; the orphan waybill is never picked up and expires at the courier.
        booking = courier.book(row)
        shipment["waybill"], shipment["carrier"] = booking.waybill, booking.carrier
        session.execute(
            SET_WAYBILL, {"shipment_id": row.id, "waybill_no": booking.waybill, "carrier_name": booking.carrier}
        )
    _reply(uow, shipment)


def cancel_delivery(uow: UnitOfWork, command: dict[str, Any], *, courier: CourierAdapter) -> None:
    """Withdraw a delivery before hand-over; afterwards answer with the hand-over instead.

    The saga waits for an answer either way (a cancelled order's stock and refund wait for it), and asks
    again until it has one: a parcel already with the courier is answered with `shipment.shipped` (and
    `shipment.delivered` once signed for) again, as when it happened.
    """
    _lock_fulfilment(uow.session, command["fulfilment_id"])
    shipment = uow.session.scalar(
        select(Shipment).where(Shipment.fulfilment_id == command["fulfilment_id"]).with_for_update(of=Shipment)
    )
    if shipment is None:
        # Nothing was booked: the answer the saga waits for is still "cancelled", and a booking that
        # arrives after this cancel must not book (WithdrawnBeforeBooking).
        log.info("cancel for fulfilment %s of %s: nothing was booked", command["fulfilment_id"], command["order"])
        if uow.session.get(WithdrawnBeforeBooking, command["fulfilment_id"]) is None:
            uow.session.add(
                WithdrawnBeforeBooking(
                    fulfilment_id=command["fulfilment_id"], order=command["order"], withdrawn_at=now()
                )
            )
        _cancelled(uow, command["order"], command["fulfilment_id"])
        return
    if shipment.status in BEFORE_HAND_OVER:
        if shipment.waybill:
            courier.cancel(shipment.waybill)
        shipment.status = "cancelled"
        shipment.cancelled_at = now()
    if shipment.status != "cancelled":
        log.warning(
            "cancel for fulfilment %s of %s refused: the parcel is already %s",
            shipment.fulfilment_id,
            shipment.order,
            shipment.status,
        )
        handed_over_at = shipment.shipped_at or shipment.last_event_at or now()
        uow.send("shipment.shipped", _progress(shipment, handed_over_at, "handed over before the cancel"))
        if shipment.delivered_at is not None:
            uow.send("shipment.delivered", _progress(shipment, shipment.delivered_at, "delivered before the cancel"))
        return
    _cancelled(uow, shipment.order, shipment.fulfilment_id)


# --- local batches and hand-overs -----------------------------------------------------------------


def close_batch(session: Session, closed_by: str, *, timezone: str) -> dict[str, Any]:
    """Close the open batch at a cut-off: its waiting parcels become deliveries for the local couriers.

    Closing with nothing waiting is not an error: it still names a (possibly empty) batch.
    """
    batch = session.scalar(select(Batch).where(Batch.status == "open").order_by(Batch.id).limit(1).with_for_update())
    if batch is None:
        batch = _new_batch(session, timezone)
    released = session.execute(
        update(Shipment)
        .where(Shipment.batch_id == batch.id, Shipment.status == "awaiting_batch")
        .values(status="ready")
        .execution_options(synchronize_session=False)
    ).rowcount
    batch.status = "closed"
    batch.closed_at = now()
    batch.closed_by = closed_by
    session.flush()
    log.info("batch %s closed by %s: %d deliveries", batch.number, closed_by, released)
    return {"batch": batch.number, "deliveries": released}


def list_deliveries(session: Session, status: str = "open") -> list[Shipment]:
    """Local parcels of closed batches, for the couriers: by default those not yet delivered."""
    return list(
        session.scalars(
            select(Shipment)
            .join(Batch, Shipment.batch_id == Batch.id)
            .where(
                Shipment.delivery == "local",
                Batch.status == "closed",
                Shipment.status.in_(DELIVERY_STATUSES[status]),
            )
            .order_by(Shipment.id)
        ).all()
    )


def order_of_delivery(session: Session, shipment_id: int) -> str:
    """The order a local delivery belongs to (the correlation id of what it sends); 404 if none."""
    order = session.scalar(select(Shipment.order).where(Shipment.id == shipment_id, Shipment.delivery == "local"))
    if order is None:
        raise not_found("Delivery")
    return order


def _delivery(uow: UnitOfWork, shipment_id: int) -> Shipment:
    shipment = uow.session.scalar(
        select(Shipment).where(Shipment.id == shipment_id, Shipment.delivery == "local").with_for_update(of=Shipment)
    )
    if shipment is None:
        raise not_found("Delivery")
    return shipment


def _wrong_state(shipment: Shipment, action: str) -> ApiError:
    return ApiError(409, "wrong_state", f"Delivery {shipment.id} is {shipment.status}: it cannot be {action}.")


def _progress(shipment: Shipment, at: datetime, detail: str) -> dict[str, Any]:
    return {
        "order": shipment.order,
        "fulfilment_id": shipment.fulfilment_id,
        "waybill": shipment.waybill,
        "at": _iso(at),
        "detail": detail,
    }


def pick_up(uow: UnitOfWork, shipment_id: int, *, signature: str, courier: str) -> Shipment:
    """The local courier collects the parcel at the counter; both sign. Sends `shipment.shipped`.

    Only a ready delivery (its batch closed) can be picked up; asking again changes nothing.
    """
    shipment = _delivery(uow, shipment_id)
    if shipment.status in ("picked_up", "delivered"):
        return shipment
    if shipment.status != "ready":
        raise _wrong_state(shipment, "picked up")
    shipment.status = "picked_up"
    shipment.picked_up_by = courier
    shipment.signature = signature
    shipment.shipped_at = now()
    uow.send(
        "shipment.shipped", _progress(shipment, shipment.shipped_at, f"picked up from {shipment.unit} by {courier}")
    )
    return shipment


def hand_over(uow: UnitOfWork, shipment_id: int, *, signed_by: str, courier: str) -> Shipment:
    """The local courier brings back the customer's signature. Sends `shipment.delivered`.

    Only a picked-up delivery can be delivered; asking again changes nothing.
    """
    shipment = _delivery(uow, shipment_id)
    if shipment.status == "delivered":
        return shipment
    if shipment.status != "picked_up":
        raise _wrong_state(shipment, "delivered")
    shipment.status = "delivered"
    shipment.delivered_by = courier
    shipment.signed_by = signed_by
    shipment.delivered_at = now()
    uow.send(
        "shipment.delivered",
        _progress(shipment, shipment.delivered_at, f"delivered by {courier}, signed for by {signed_by}"),
    )
    _found(uow.session, shipment)
    return shipment


# --- partners' tracking ---------------------------------------------------------------------------


def order_of_waybill(session: Session, waybill: str) -> str:
    """The order a waybill belongs to, whichever partner reports it; 404 if the mall never booked it."""
    order = session.scalar(select(Shipment.order).where(Shipment.waybill == waybill))
    if order is None:
        raise not_found("Waybill")
    return order


def _mark_shipped(uow: UnitOfWork, shipment: Shipment, at: datetime, detail: str) -> None:
    if shipment.shipped_at is None:
        shipment.shipped_at = at
        uow.send("shipment.shipped", _progress(shipment, at, detail))


def _apply(uow: UnitOfWork, shipment: Shipment, state: int, at: datetime, detail: str) -> None:
    """Move the shipment on for one event that is not older than what is known."""
    if state in MOVING:
        if shipment.status == "delivered":
            return  # a late scan after the signature says nothing new
        shipment.status = "in_transit"
        _mark_shipped(uow, shipment, at, detail)
    elif state == SIGNED:
        # Signed for means it was handed over too: orders hears "shipped" first if no scan said so.
        _mark_shipped(uow, shipment, at, detail)
        shipment.status = "delivered"
        if shipment.delivered_at is None:
            shipment.delivered_at = at
            uow.send("shipment.delivered", _progress(shipment, at, detail))
            _found(uow.session, shipment)
    else:
        # A problem, a refusal or a return is the courier's news of a parcel it holds: handed over, even
        # when no pickup scan came first (or it came late, older than what is known).
        _mark_shipped(uow, shipment, at, detail)
        shipment.status = FAILED[state]
        uow.send("shipment.failed", _progress(shipment, at, detail))


def record_tracking(
    uow: UnitOfWork,
    waybill: str,
    source: str,
    events: list[dict[str, Any]],
    *,
    timezone: str,
) -> dict[str, int]:
    """Take a partner's tracking report: new events join the timeline, repeated ones add nothing.

    Every new event is sent as `shipment.tracked`; only events not older than the last one known move
    the status (partners resend and reorder). Returns `{"accepted": n, "duplicates": m}`.
    """
    session = uow.session
    shipment = session.scalar(select(Shipment).where(Shipment.waybill == waybill).with_for_update(of=Shipment))
    if shipment is None:
        raise not_found("Waybill")
    local = ZoneInfo(timezone)
    accepted = duplicates = 0
    # Oldest first, so one report carrying a whole history moves the status step by step.
    timed = [(_utc(e["at"] if e["at"].tzinfo else e["at"].replace(tzinfo=local)), e) for e in events]
    for at, event in sorted(timed, key=lambda pair: pair[0]):
        state = event["state"]
        detail = event["detail"].strip()[:500] or STATE_NAMES[state]
        key = (
            TrackingEvent.waybill == waybill,
            TrackingEvent.at == at,
            TrackingEvent.state == state,
            TrackingEvent.detail == detail,
        )
        if session.scalar(select(TrackingEvent.id).where(*key)) is not None:
            duplicates += 1
            continue
        try:
            with session.begin_nested():  # the same report arriving twice at once: one of them stores it
                session.add(
                    TrackingEvent(waybill=waybill, source=source, state=state, detail=detail, at=at, received_at=now())
                )
        except IntegrityError:
            duplicates += 1
            continue
        accepted += 1
        uow.send("shipment.tracked", _progress(shipment, at, detail))
        if shipment.status == "cancelled":
            continue
        last = _utc(shipment.last_event_at)
        if last is not None and at < last:
            continue  # stale: it joins the timeline but changes no status
        shipment.last_event_at = at
        _apply(uow, shipment, state, at, detail)
    return {"accepted": accepted, "duplicates": duplicates}


# --- views ----------------------------------------------------------------------------------------


def delivery_view(shipment: Shipment) -> dict[str, Any]:
    return {
        "id": shipment.id,
        "order": shipment.order,
        "unit": shipment.unit,
        "status": shipment.status,
        "fulfilment_id": shipment.fulfilment_id,
        "address": shipment.address,
        "batch": shipment.batch.number if shipment.batch else None,
        "cod_amount": format_cents(shipment.cod_amount_cents),
        "picked_up_by": shipment.picked_up_by,
        "signed_by": shipment.signed_by,
    }


def shipments_of(session: Session, order: str) -> list[dict[str, Any]]:
    """Every shipment of an order with its tracking timeline."""
    shipments = session.scalars(select(Shipment).where(Shipment.order == order).order_by(Shipment.id)).all()
    waybills = [s.waybill for s in shipments if s.waybill]
    events: dict[str, list[TrackingEvent]] = {}
    if waybills:
        for event in session.scalars(
            select(TrackingEvent)
            .where(TrackingEvent.waybill.in_(waybills))
            .order_by(TrackingEvent.at, TrackingEvent.id)
        ):
            events.setdefault(event.waybill, []).append(event)
    return [
        {
            "id": s.id,
            "order": s.order,
            "fulfilment_id": s.fulfilment_id,
            "unit": s.unit,
            "delivery": s.delivery,
            "status": s.status,
            "address": s.address,
            "batch": s.batch.number if s.batch else None,
            "waybill": s.waybill,
            "carrier": s.carrier,
            "declared_value": format_cents(s.declared_value_cents),
            "insurance": format_cents(s.insurance_cents),
            "delivery_fee": format_cents(s.delivery_fee_cents),
            "cod_amount": format_cents(s.cod_amount_cents),
            "picked_up_by": s.picked_up_by,
            "signature": s.signature,
            "signed_by": s.signed_by,
            "shipped_at": _iso(s.shipped_at),
            "delivered_at": _iso(s.delivered_at),
            "last_event_at": _iso(s.last_event_at),
            "created_at": _iso(s.created_at),
            "events": [
                {"source": e.source, "state": e.state, "detail": e.detail, "at": _iso(e.at)}
                for e in events.get(s.waybill or "", [])
            ],
        }
        for s in shipments
    ]


# --- loss claims on the courier -----------------------------------------------------------------------


def claim_loss(uow: UnitOfWork, command: dict[str, Any]) -> None:
    """Open the claim on the courier for a parcel refunded to the customer as lost or damaged in transit,
    once per after-sales case (a re-sent command gets the same answer). It asks for what the customer was
    refunded, at most the declared value the premium was paid on; a parcel without a premium (the mall's
    own couriers) is recorded as not insured, with nothing to claim."""
    session = uow.session
    claim = session.scalar(select(LossClaim).where(LossClaim.case_id == command["case"]))
    if claim is None:
        shipment = session.scalar(select(Shipment).where(Shipment.fulfilment_id == command["fulfilment_id"]))
        if shipment is None or shipment.order != command["order"]:
            raise PermanentError(f"no shipment of order {command['order']} for fulfilment {command['fulfilment_id']}")
        insured = shipment.delivery == "courier" and shipment.insurance_cents > 0
        # (Signed for already, before the refund reached orders: nothing was lost.)
        delivered = command["problem"] == "lost" and shipment.delivered_at is not None
        claim = LossClaim(
            case_id=command["case"],
            order=shipment.order,
            fulfilment_id=shipment.fulfilment_id,
            unit=shipment.unit,
            waybill=shipment.waybill,
            carrier=shipment.carrier,
            problem=command["problem"],
            declared_value_cents=shipment.declared_value_cents,
            premium_cents=shipment.insurance_cents,
            refunded_cents=command["amount_cents"],
            claimed_cents=min(command["amount_cents"], shipment.declared_value_cents) if insured else 0,
            status="withdrawn" if delivered else ("open" if insured else "not_insured"),
            note="the parcel was delivered after all" if delivered else None,
            paid_cents=0,
            created_at=now(),
        )
        # (A copy racing this one on another worker fails on the case's key at commit and is retried.)
        session.add(claim)
        session.flush()
    uow.send(
        "loss.claimed",
        {"order": claim.order, "case": claim.case_id, "claim": claim.id, "claimed_cents": claim.claimed_cents},
    )


def _found(session: Session, shipment: Shipment) -> None:
    """A parcel claimed as lost was signed for after all: its open claim is withdrawn (nothing was lost),
    so nobody settles it; the order's timeline alerts customer service about the refund."""
    session.execute(
        update(LossClaim)
        .where(
            LossClaim.fulfilment_id == shipment.fulfilment_id,
            LossClaim.problem == "lost",
            LossClaim.status == "open",
        )
        .values(status="withdrawn", note="the parcel was delivered after all", settled_at=now(), settled_by="tracking")
        .execution_options(synchronize_session=False)
    )


def _claim(session: Session, claim_id: int) -> LossClaim:
    claim = session.get(LossClaim, claim_id, with_for_update=True)
    if claim is None:
        raise not_found(f"Claim {claim_id}")
    return claim


def settle_claim(session: Session, claim_id: int, paid_cents: int, by: str) -> LossClaim:
    """The courier paid `paid_cents` on the claim (at most what was claimed); the same again changes nothing."""
    claim = _claim(session, claim_id)
    if claim.status == "paid" and claim.paid_cents == paid_cents:
        return claim
    if claim.status != "open":
        raise ApiError(409, "claim_not_open", f"Claim {claim_id} is {claim.status}.")
    if not 1 <= paid_cents <= claim.claimed_cents:
        raise ApiError(
            422,
            "validation_error",
            "The courier pays more than nothing and at most what was claimed.",
            {"paid": [f"at most {format_cents(claim.claimed_cents)}"]},
        )
    claim.status, claim.paid_cents, claim.settled_at, claim.settled_by = "paid", paid_cents, now(), by
    return claim


def reject_claim(session: Session, claim_id: int, note: str, by: str) -> LossClaim:
    """The courier refused the claim; the same again changes nothing."""
    claim = _claim(session, claim_id)
    if claim.status == "rejected" and claim.note == note:
        return claim
    if claim.status != "open":
        raise ApiError(409, "claim_not_open", f"Claim {claim_id} is {claim.status}.")
    claim.status, claim.note, claim.settled_at, claim.settled_by = "rejected", note, now(), by
    return claim


def list_claims(session: Session, status: str | None, limit: int = 200) -> list[LossClaim]:
    query = select(LossClaim).order_by(LossClaim.id.desc()).limit(limit)
    if status:
        query = query.where(LossClaim.status == status)
    return list(session.scalars(query))


def claim_view(claim: LossClaim) -> dict[str, Any]:
    return {
        "id": claim.id,
        "case": claim.case_id,
        "order": claim.order,
        "unit": claim.unit,
        "waybill": claim.waybill,
        "carrier": claim.carrier,
        "problem": claim.problem,
        "declared_value": format_cents(claim.declared_value_cents),
        "premium": format_cents(claim.premium_cents),
        "refunded": format_cents(claim.refunded_cents),
        "claimed": format_cents(claim.claimed_cents),
        "status": claim.status,
        "paid": format_cents(claim.paid_cents),
        "note": claim.note,
        "settled_by": claim.settled_by,
        "created_at": _iso(claim.created_at),
        "settled_at": _iso(claim.settled_at),
    }


# --- what deliveries cost ---------------------------------------------------------------------------


def costs(session: Session, month: str, timezone: str) -> list[dict[str, Any]]:
    """Per unit, the parcels booked in `month` (the mall's time zone), their delivery fees and premiums, and
    what couriers paid on loss claims that month.

    Finance charges the fees and premiums to the unit in its monthly statement and credits the claims. A
    shipment counts in the month it was booked; one withdrawn before hand-over (cancelled) costs nothing and
    is left out; a claim counts in the month the courier paid it.
    """
    start, end = month_bounds(month, timezone)
    rows = session.execute(
        select(
            Shipment.unit,
            func.count().label("parcels"),
            func.coalesce(func.sum(Shipment.delivery_fee_cents), 0).label("fees"),
            func.coalesce(func.sum(Shipment.insurance_cents), 0).label("insurance"),
        )
        .where(Shipment.created_at >= start, Shipment.created_at < end, Shipment.status != "cancelled")
        .group_by(Shipment.unit)
        .order_by(Shipment.unit)
    ).all()
    paid = dict(
        session.execute(
            select(LossClaim.unit, func.sum(LossClaim.paid_cents))
            .where(LossClaim.status == "paid", LossClaim.settled_at >= start, LossClaim.settled_at < end)
            .group_by(LossClaim.unit)
        ).all()
    )
    units = {
        row.unit: {
            "unit": row.unit,
            "parcels": row.parcels,
            "logistics_cost_cents": int(row.fees),
            "insurance_cents": int(row.insurance),
            "claims_cents": 0,
        }
        for row in rows
    }
    for unit, amount in paid.items():
        units.setdefault(
            unit, {"unit": unit, "parcels": 0, "logistics_cost_cents": 0, "insurance_cents": 0, "claims_cents": 0}
        )["claims_cents"] = int(amount)
    return [units[unit] for unit in sorted(units)]
