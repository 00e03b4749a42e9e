"""The gateway's use cases: accounts, tokens, login throttling, the administrator log, order placement, partner
payloads. No Flask here; the blueprints call these with a session and plain values."""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import logging
import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared.config import Settings
from shared.db import direct
from shared.http import ServiceUnavailable
from shared.logs import correlation
from shared.messaging import now
from shared.money import format_cents, to_cents
from shared.web import ApiError

from .models import AdminLogEntry, LoginFailure, OrderRef, PasswordReset, User

log = logging.getLogger("mall.gateway")

#: argon2id with the library's defaults (memory-hard); tests swap in a cheaper one.
hasher = PasswordHasher()

ADMINS = ("admin", "superadmin")
STAFF_VIEWERS = ("customer_service", "admin", "superadmin")
#: Who sees the money side: order copies, statements, sales reports.
FINANCE = ("finance", "admin", "superadmin")
LOGIN_WINDOW = timedelta(minutes=1)
MAX_LINE_QUANTITY = 100_000
#: How many placed orders one confirmation round asks orders about (at most 500 per call).
CONFIRM_BATCH = 200
#: The longest the gateway waits between two re-sends of one order.
MAX_CONFIRM_WAIT_SECONDS = 600


@dataclass(frozen=True)
class Identity:
    """Who is calling, as the token (checked against the database) says."""

    id: int
    username: str
    role: str
    unit: str | None

    @property
    def is_admin(self) -> bool:
        return self.role in ADMINS


class RateLimited(ApiError):
    """Too many failed logins for a username or a client address; `retry_after` in seconds."""

    def __init__(self, retry_after: int):
        super().__init__(429, "too_many_attempts", "Too many failed logins; try again later.")
        self.retry_after = retry_after


def _aware(at: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything the gateway stores is UTC."""
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def iso(at: datetime) -> str:
    return _aware(at).isoformat()


# --- accounts ------------------------------------------------------------------------------------


def username_key(username: str) -> str:
    return username.strip().casefold()


def find_user(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username_key == username_key(username)))


def _new_user(session: Session, *, username: str, password: str, role: str, unit=None, email=None, phone=None) -> User:
    """Insert an account; a name taken (in any case, even by a concurrent request) is 409."""
    if find_user(session, username) is not None:
        raise ApiError(409, "username_taken", "This username is taken.", {"username": ["Already taken."]})
    user = User(
        username=username.strip(),
        username_key=username_key(username),
        password_hash=hasher.hash(password),
        email=email,
        phone=phone,
        role=role,
        unit=unit,
        token_version=1,
        created_at=now(),
    )
    try:
        with session.begin_nested():
            session.add(user)
            session.flush()
    except IntegrityError as exc:
        raise ApiError(409, "username_taken", "This username is taken.", {"username": ["Already taken."]}) from exc
    return user


def register(session: Session, data: dict[str, Any]) -> User:
    """A new member (customer); `data` is a validated Registration."""
    return _new_user(
        session,
        username=data["username"],
        password=data["password"],
        role="customer",
        email=data.get("email"),
        phone=data.get("phone"),
    )


def create_staff(session: Session, actor: Identity, data: dict[str, Any]) -> User:
    """An administrator adds a staff account; only the super administrator may add administrators."""
    if data["role"] in ADMINS and actor.role != "superadmin":
        raise ApiError(403, "forbidden", "Only the super administrator may add administrators.")
    user = _new_user(
        session,
        username=data["username"],
        password=data["password"],
        role=data["role"],
        unit=data.get("unit"),
        email=data.get("email"),
        phone=data.get("phone"),
    )
    audit(
        session,
        actor,
        "staff.create",
        f"user:{user.id}",
        {"username": user.username, "role": user.role, "unit": user.unit},
    )
    return user


_dummy_hash: str | None = None


def _burn_a_verification(password: str) -> None:
    """Spend the time a real check takes, so an unknown username answers as slowly as a wrong password."""
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = hasher.hash(secrets.token_urlsafe(16))
    try:
        hasher.verify(_dummy_hash, password)
    except (VerificationError, InvalidHashError):
        pass


def _throttle_keys(username: str, client: str | None) -> list[str]:
    keys = [f"user:{username_key(username)}"[:128]]
    if client:
        keys.append(f"ip:{client}"[:128])
    return keys


def authenticate(session: Session, username: str, password: str, client: str | None, limit: int) -> User | None:
    """The account these credentials open, or None (the failure is recorded in this transaction); its
    `last_login_at` is set. A disabled account with the right password is 403 `account_disabled`.

    Raises RateLimited when the username or the client address failed `limit` times in the last minute;
    the count lives in the gateway's database so every gateway process sees the same one.
    """
    at = now()
    window_start = at - LOGIN_WINDOW
    keys = _throttle_keys(username, client)
    session.execute(delete(LoginFailure).where(LoginFailure.key.in_(keys), LoginFailure.at < window_start))
    for key in keys:
        count, oldest = session.execute(
            select(func.count(LoginFailure.id), func.min(LoginFailure.at)).where(
                LoginFailure.key == key, LoginFailure.at >= window_start
            )
        ).one()
        if count >= limit:
            wait = (_aware(oldest) + LOGIN_WINDOW - at).total_seconds()
            raise RateLimited(max(1, math.ceil(wait)))
    user = find_user(session, username)
    ok = False
    if user is None:
        _burn_a_verification(password)
    else:
        try:
            ok = hasher.verify(user.password_hash, password)
        except (VerificationError, InvalidHashError):
            ok = False
    if not ok:
        for key in keys:
            session.add(LoginFailure(key=key, at=at))
        return None
    if user.disabled_at is not None:
        # Only with the right password: the caller learns nothing about an account it cannot open. Not a
        # failure either (throttling is for guessing), and the member's earlier failures stay counted.
        raise ApiError(403, "account_disabled", "This account is disabled; ask an administrator.")
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(password)
    user.last_login_at = at  # flushed with this transaction's other writes: no extra round trip
    session.execute(delete(LoginFailure).where(LoginFailure.key == keys[0]))
    return user


def change_password(session: Session, user_id: int, old_password: str, new_password: str) -> None:
    """Set a new password and end every token issued before (their `ver` no longer matches)."""
    user = session.get(User, user_id)
    if user is None:
        raise ApiError(401, "invalid_token", "This account no longer exists.")
    try:
        hasher.verify(user.password_hash, old_password)
    except (VerificationError, InvalidHashError) as exc:
        raise ApiError(
            422, "wrong_password", "The current password is not right.", {"old_password": ["Does not match."]}
        ) from exc
    user.password_hash = hasher.hash(new_password)
    user.token_version += 1


#: At most this many reset links a member may have working at once: asking more often sends nothing more.
MAX_OPEN_RESETS = 3


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def request_password_reset(session: Session, username: str, settings: Settings) -> tuple[str, str] | None:
    """A reset link for the account, when it exists and has an email: `(email, token)` to send after the
    commit, else None. The caller answers the same either way, so nobody learns which names exist. The
    token is random (256 bits); only its hash is kept."""
    user = find_user(session, username)
    if user is None or not user.email or user.disabled_at is not None:  # (a disabled account gets no code)
        return None
    at = now()
    session.execute(select(User.id).where(User.id == user.id).with_for_update())  # (one request at a time)
    open_ = session.scalar(
        select(func.count(PasswordReset.id)).where(
            PasswordReset.user_id == user.id, PasswordReset.used_at.is_(None), PasswordReset.expires_at > at
        )
    )
    if open_ >= MAX_OPEN_RESETS:
        log.info("password reset for user %d not sent: %d links still open", user.id, open_)
        return None
    token = secrets.token_urlsafe(32)
    session.add(
        PasswordReset(
            user_id=user.id,
            token_hash=_token_hash(token),
            created_at=at,
            expires_at=at + timedelta(minutes=settings.password_reset_minutes),
        )
    )
    return user.email, token


def reset_password(session: Session, token: str, new_password: str) -> None:
    """Set the password the link's account asked for, once, before the link expires; every token (log-in)
    issued before stops working, and every other open link of the account with it."""
    at = now()
    reset = session.scalar(
        select(PasswordReset).where(PasswordReset.token_hash == _token_hash(token)).with_for_update()
    )
    if reset is None or reset.used_at is not None or _aware(reset.expires_at) <= at:
        raise ApiError(
            422,
            "invalid_reset_token",
            "This reset link is not valid (used, expired or mistyped).",
            {"token": ["Not valid."]},
        )
    user = session.get(User, reset.user_id, with_for_update=True)
    if user.disabled_at is not None:  # disabled after the code was sent
        raise ApiError(
            422,
            "invalid_reset_token",
            "This reset link is not valid (used, expired or mistyped).",
            {"token": ["Not valid."]},
        )
    user.password_hash = hasher.hash(new_password)
    user.token_version += 1
    session.execute(
        update(PasswordReset)
        .where(PasswordReset.user_id == user.id, PasswordReset.used_at.is_(None))
        .values(used_at=at)
    )


def reset_message(settings: Settings, email: str, token: str) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"] = settings.mail_from, email
    message["Subject"] = "Reset your mall password"
    message.set_content(
        "Someone (we hope you) asked to reset the password of your account at the mall.\n\n"
        f"Your reset code: {token}\n\n"
        f"It works once, for {settings.password_reset_minutes} minutes: send it with your new password to "
        "POST /api/auth/password/reset, or paste it into the shop's reset page.\n"
        "If you did not ask, ignore this email: your password stays as it is.\n"
    )
    return message


def log_out(session: Session, user_id: int) -> None:
    """End every token of the account: tokens carry no server-side session, so logging out is a new
    `token_version`, which logs the account out everywhere (every device)."""
    user = session.get(User, user_id, with_for_update=True)
    if user is not None:
        user.token_version += 1


def update_profile(session: Session, user_id: int, changes: dict[str, Any]) -> User:
    """Change the account's email or phone (None clears it)."""
    user = session.get(User, user_id, with_for_update=True)
    if user is None:
        raise ApiError(401, "invalid_token", "This account no longer exists.")
    for key in ("email", "phone"):
        if key in changes:
            setattr(user, key, changes[key])
    return user


def profile(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "role": user.role,
        "unit": user.unit,
        "email": user.email,
        "phone": user.phone,
    }


def bootstrap_admin(session: Session, spec: str | None) -> bool:
    """Create the super administrator named by MALL_BOOTSTRAP_ADMIN ("username:password") if missing.

    Safe to run in every gateway process at once: a concurrent insert of the same name just loses.
    """
    if not spec or ":" not in spec:
        return False
    username, password = spec.split(":", 1)
    if not username.strip() or not password:
        return False
    if find_user(session, username) is not None:
        return False
    try:
        user = _new_user(session, username=username, password=password, role="superadmin")
    except ApiError:
        return False
    session.add(
        AdminLogEntry(
            actor="system",
            action="superadmin.bootstrap",
            target=f"user:{user.id}",
            detail=json.dumps({"username": user.username}),
            at=now(),
        )
    )
    return True


def member_exists(session: Session, member_id: int) -> bool:
    user = session.get(User, member_id)
    return user is not None and user.role == "customer"


def _digits(column):
    """A phone number as stored, without the spaces and dashes people write in it."""
    return func.replace(func.replace(column, " ", ""), "-", "")


def search_members(session: Session, q: str | None, page: int, per_page: int) -> tuple[list[User], int]:
    """Members (customers) whose username, email or phone contains `q` (any case; a phone also without its
    spaces and dashes), newest first, one page, and how many match. Staff accounts are not members."""
    filters = [User.role == "customer"]
    if q:
        needle = q.lower()
        matches = [
            User.username_key.contains(needle, autoescape=True),
            func.lower(User.email).contains(needle, autoescape=True),
        ]
        number = q.replace(" ", "").replace("-", "")
        if number:
            matches.append(_digits(User.phone).contains(number, autoescape=True))
        filters.append(or_(*matches))
    total = session.scalar(select(func.count()).select_from(User).where(*filters)) or 0
    rows = session.scalars(
        select(User).where(*filters).order_by(User.id.desc()).limit(per_page).offset((page - 1) * per_page)
    ).all()
    return list(rows), total


def member_view(user: User) -> dict[str, Any]:
    """A member as customer service sees one: never the password hash nor the token version."""
    return {
        "id": user.id,
        "username": user.username,
        "email": user.email,
        "phone": user.phone,
        "created_at": iso(user.created_at),
    }


# --- tokens --------------------------------------------------------------------------------------


def _signing_key(settings: Settings) -> bytes:
    # A 32-byte key derived from the configured secret: HS256 wants at least the hash's size, and a
    # short MALL_JWT_SECRET should not weaken (or warn about) every token.
    return hmac.new(settings.jwt_secret.encode(), b"mall gateway access token", hashlib.sha256).digest()


def issue_token(user: User, settings: Settings) -> str:
    issued = int(now().timestamp())
    claims = {
        "sub": str(user.id),
        "role": user.role,
        "unit": user.unit,
        "ver": user.token_version,
        "iat": issued,
        "exp": issued + settings.token_ttl_seconds,
    }
    return jwt.encode(claims, _signing_key(settings), algorithm="HS256")


@dataclass(frozen=True)
class PlacedBefore:
    """The order a caller already placed under the Idempotency-Key they sent again."""

    number: str
    request_hash: str


_users, _refs = User.__table__, OrderRef.__table__

#: Who a token names (its `token_version` is checked against the claim, and whether the account is disabled)
#: and, in the same statement, the order they placed under an Idempotency-Key (`:key`; NULL matches none).
#: Built once, so SQLAlchemy reuses its compiled form: every authenticated request runs it.
_CALLER = (
    select(
        _users.c.username,
        _users.c.role,
        _users.c.unit,
        _users.c.token_version,
        _users.c.disabled_at,
        _refs.c.number,
        _refs.c.request_hash,
    )
    .select_from(
        _users.outerjoin(_refs, and_(_refs.c.member_id == _users.c.id, _refs.c.idempotency_key == bindparam("key")))
    )
    .where(_users.c.id == bindparam("id"))
)


def identify(
    connection: Connection, token: str, settings: Settings, idempotency_key: str | None = None
) -> tuple[Identity, PlacedBefore | None]:
    """The caller a bearer token names; 401 when it is forged, expired, revoked or of another algorithm, or
    its account is disabled (`account_disabled`).

    With an `idempotency_key`, also the order this caller placed under it before (None if none): one
    round trip to the database for both. The token's version is read on every call, so a password
    change ends the tokens issued before it at once.
    """
    try:
        claims = jwt.decode(
            token, _signing_key(settings), algorithms=["HS256"], options={"require": ["exp", "sub", "ver"]}
        )
    except jwt.ExpiredSignatureError as exc:
        raise ApiError(401, "token_expired", "The token has expired; log in again.") from exc
    except jwt.InvalidTokenError as exc:
        raise ApiError(401, "invalid_token", "The token is not valid.") from exc
    try:
        user_id = int(claims["sub"])
    except (TypeError, ValueError):
        row = None
    else:
        row = connection.execute(_CALLER, {"id": user_id, "key": idempotency_key}).first()
    if row is not None and row.disabled_at is not None:
        # Disabling also bumps the version, so the token fails either way; this says why.
        raise ApiError(401, "account_disabled", "This account is disabled; ask an administrator.")
    if row is None or row.token_version != claims["ver"]:
        raise ApiError(401, "invalid_token", "The token is no longer valid; log in again.")
    placed = PlacedBefore(row.number, row.request_hash) if row.number is not None else None
    return Identity(user_id, row.username, row.role, row.unit), placed


# --- the administrator log -----------------------------------------------------------------------


def audit(session: Session, actor: Identity, action: str, target: str, detail: dict[str, Any] | None = None) -> None:
    """Write one administrator log row (in the caller's transaction)."""
    session.add(
        AdminLogEntry(
            actor=actor.username,
            action=action,
            target=str(target)[:200],
            detail=json.dumps(detail or {}, default=str, ensure_ascii=False),
            at=now(),
        )
    )


def admin_log(
    session: Session,
    *,
    actor: str | None = None,
    action: str | None = None,
    target: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before: int | None = None,
    limit: int = 100,
) -> tuple[list[dict], int | None]:
    """The administrator actions that match every filter given, newest first, at most `limit` of them, and
    the `before` that reads the next page (None on the last one).

    `actor` is a username and `target` a target (`user:12`, `product:TEA-LONGJING-250G`), both exact;
    `action` is exact, or a family when it ends in `.*` (`staff.*`); `since` is inclusive and `until`
    exclusive (UTC); `before` is an entry id, for keyset paging: entries written meanwhile do not shift
    the pages, as page numbers would on a log that grows at the top.
    """
    query = select(AdminLogEntry)
    if actor:
        query = query.where(AdminLogEntry.actor == actor)
    if action and action.endswith(".*"):
        query = query.where(AdminLogEntry.action.startswith(action[:-1], autoescape=True))
    elif action:
        query = query.where(AdminLogEntry.action == action)
    if target:
        query = query.where(AdminLogEntry.target == target)
    if since is not None:
        query = query.where(AdminLogEntry.at >= since)
    if until is not None:
        query = query.where(AdminLogEntry.at < until)
    if before is not None:
        query = query.where(AdminLogEntry.id < before)
    rows = session.scalars(query.order_by(AdminLogEntry.id.desc()).limit(limit + 1)).all()
    more = len(rows) > limit
    items = [
        {
            "id": entry.id,
            "actor": entry.actor,
            "action": entry.action,
            "target": entry.target,
            "detail": json.loads(entry.detail),
            "at": iso(entry.at),
        }
        for entry in rows[:limit]
    ]
    return items, (items[-1]["id"] if more else None)


# --- orders --------------------------------------------------------------------------------------

_BASE32 = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's: ASCII order, no I/L/O/U


def new_order_number(at: datetime, timezone: str) -> str:
    """`M` + the mall's date + the second of the day + 4 random characters: short, unique, sortable."""
    local = at.astimezone(ZoneInfo(timezone))
    second = local.hour * 3600 + local.minute * 60 + local.second
    stamp = "".join(_BASE32[(second >> shift) & 31] for shift in (15, 10, 5, 0))
    tail = "".join(secrets.choice(_BASE32) for _ in range(4))
    return f"M{local:%Y%m%d}{stamp}{tail}"


def request_hash(body: dict[str, Any]) -> str:
    """The fingerprint of a validated order request, to tell a retry from a different order under one key."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def unknown_skus(items: list[dict[str, Any]], products: dict[str, dict]) -> dict[str, list[str]]:
    """Per-item reasons for SKUs the catalogue does not know: {"items.1.sku": ["Unknown product."]}."""
    return {
        f"items.{i}.sku": ["No product has this SKU."] for i, item in enumerate(items) if item["sku"] not in products
    }


def withdrawn_skus(items: list[dict[str, Any]], products: dict[str, dict]) -> dict[str, list[str]]:
    """Per-item reasons for products an administrator withdrew from sale: {"items.0.sku": ["Withdrawn ..."]}.

    A product without `on_sale` (a catalogue from before withdrawals) is on sale."""
    return {
        f"items.{i}.sku": ["This product is withdrawn from sale."]
        for i, item in enumerate(items)
        if not products[item["sku"]].get("on_sale", True)
    }


def order_lines(items: list[dict[str, Any]], products: dict[str, dict]) -> list[dict[str, Any]]:
    """The PlaceOrder lines: one per SKU (duplicates merged), priced and routed from the catalogue."""
    merged: dict[str, int] = {}
    for item in items:
        merged[item["sku"]] = merged.get(item["sku"], 0) + item["quantity"]
    too_many = {
        f"items.{i}.quantity": [f"At most {MAX_LINE_QUANTITY} of one product."]
        for i, item in enumerate(items)
        if merged[item["sku"]] > MAX_LINE_QUANTITY
    }
    if too_many:
        raise ApiError(422, "validation_error", "Some fields are not valid.", too_many)
    lines = []
    for sku, quantity in merged.items():
        product = products[sku]
        lines.append(
            {
                "sku": product["sku"],
                "name": product["name"],
                "quantity": quantity,
                "unit_price_cents": to_cents(product["price"]),
                "division": product["division"],
                "unit": product.get("unit"),
            }
        )
    return lines


def find_order_ref(session: Session, member_id: int, key: str) -> OrderRef | None:
    return session.scalar(select(OrderRef).where(OrderRef.member_id == member_id, OrderRef.idempotency_key == key))


def replay(ref: OrderRef | PlacedBefore, digest: str) -> str:
    """The number of the order a retried request already placed; 409 when the key came with another body."""
    if ref.request_hash != digest:
        raise ApiError(409, "idempotency_key_reused", "This Idempotency-Key was used for a different order request.")
    return ref.number


def place_order_command(number: str, member_id: int, snapshot: dict[str, Any]) -> dict[str, Any]:
    """The `orders.place_order` payload of an order, from its snapshot: the same at placement and at each re-send."""
    return {
        "number": number,
        "member_id": member_id,
        "payment_method": snapshot["payment_method"],
        "address": snapshot["address"],
        "lines": snapshot["lines"],
    } | ({"invoice": snapshot["invoice"]} if snapshot.get("invoice") else {})


#: The order reference's insert, a Core statement built once: the ORM's flush of the one new object cost
#: about 0.3 ms of CPU an order.
_INSERT_REF = direct(insert(_refs))


def place_order(
    runtime,
    member_id: int,
    key: str | None,
    body: dict[str, Any],
    lines: list[dict[str, Any]],
    *,
    digest: str | None = None,
    alongside: Callable[[Session], None] | None = None,
) -> tuple[str, bool]:
    """Record the order and send `orders.place_order` in one gateway transaction (the outbox).

    Returns (number, placed_now). Under the same member and key, a request placed before (even by a
    concurrent request that won the race) returns its number instead of a second order. The ref's
    `confirm_by` is when orders should have the order (see confirm_or_resend).

    `digest` tells a retry from another request under the same key (default: `request_hash(body)`; the
    cart's checkout fingerprints its own request, since it builds `body` from the cart). `alongside(session)`
    runs in the same transaction once the ref and its message are written (the checkout removes the cart
    lines it bought): if it raises, nothing is placed; a retry that lost the race never runs it.
    """
    digest = digest or request_hash(body)
    total = sum(line["quantity"] * line["unit_price_cents"] for line in lines)
    snapshot = {"lines": lines, "address": body["address"], "payment_method": body["payment_method"]}
    if body.get("invoice"):
        snapshot["invoice"] = body["invoice"]
    deadline = timedelta(seconds=runtime.settings.reply_deadline_seconds)
    for _ in range(5):
        number = new_order_number(now(), runtime.settings.timezone)
        try:
            with runtime.unit_of_work(number) as uow:
                placed_at = now()
                uow.session.execute(
                    _INSERT_REF,
                    dict(
                        number=number,
                        member_id=member_id,
                        idempotency_key=key,
                        request_hash=digest,
                        total_cents=total,
                        snapshot=json.dumps(snapshot, ensure_ascii=False),
                        created_at=placed_at,
                        confirm_by=placed_at + deadline,
                        resends=0,
                    ),
                )
                uow.send("orders.place_order", place_order_command(number, member_id, snapshot))
                if alongside is not None:
                    alongside(uow.session)
            return number, True
        except IntegrityError:
            if key:
                with runtime.db.session() as session, session.begin():
                    ref = find_order_ref(session, member_id, key)
                if ref is not None:
                    return replay(ref, digest), False
            log.warning("order number %s collided; drawing another", number)
    raise ApiError(409, "conflict", "The order could not be numbered; please try again.")


def resend_wait(settings: Settings, resends: int) -> timedelta:
    """How long to wait for orders after the `resends`-th re-send: the reply deadline doubled each time, capped."""
    return timedelta(seconds=min(settings.reply_deadline_seconds * 2 ** min(resends, 32), MAX_CONFIRM_WAIT_SECONDS))


def confirm_or_resend(runtime, inner, at: datetime | None = None, limit: int | None = None) -> tuple[int, int]:
    """The deadline of the gateway -> orders hop: returns (confirmed, resent).

    The refs whose `confirm_by` has passed (oldest first) are checked with one question to orders (which
    of these numbers do you have?), asked while no row is locked. Then, in one transaction: an order
    orders has needs no more checking (`confirm_by` NULL); any other gets `orders.place_order` again
    through the outbox, with the payload of its placement, and a later `confirm_by` (backoff). Orders
    ignores a number it already has, so a re-send that crossed the first delivery is harmless.

    Safe in every gateway process at once: the refs are locked with SKIP LOCKED (PostgreSQL; on SQLite the
    transaction holds the write lock) and checked again under the lock, so one ref is re-sent once. When
    orders does not answer nothing changes and the next round asks again.
    """
    at = at or now()
    limit = limit or CONFIRM_BATCH
    with runtime.db.session() as session, session.begin():
        due = list(
            session.scalars(
                select(OrderRef.number).where(OrderRef.confirm_by <= at).order_by(OrderRef.confirm_by).limit(limit)
            )
        )
    if not due:
        return 0, 0
    try:
        known = set(inner.known_orders(due))
    except (ServiceUnavailable, ApiError) as exc:
        log.warning("could not ask orders which of %d placed order(s) it has; will ask again: %s", len(due), exc)
        return 0, 0
    confirmed = 0
    resent: list[tuple[str, datetime, int, datetime]] = []
    with runtime.unit_of_work("-") as uow:
        query = (
            select(OrderRef)
            .where(OrderRef.number.in_(due), OrderRef.confirm_by <= at)  # again: another process may have done it
            .order_by(OrderRef.confirm_by)
        )
        if uow.session.bind.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        for ref in uow.session.scalars(query):
            if ref.number in known:
                ref.confirm_by = None
                confirmed += 1
                continue
            ref.resends += 1
            ref.confirm_by = at + resend_wait(runtime.settings, ref.resends)
            command = place_order_command(ref.number, ref.member_id, json.loads(ref.snapshot))
            uow.send("orders.place_order", command, correlation_id=ref.number)
            resent.append((ref.number, ref.created_at, ref.resends, ref.confirm_by))
    for number, placed_at, resends, confirm_by in resent:  # committed: the outbox has them
        with correlation(number):
            log.warning(
                "orders does not have order %s placed at %s; sent it again (re-send %d, next check at %s)",
                number,
                iso(placed_at),
                resends,
                iso(confirm_by),
            )
    return confirmed, len(resent)


def placed_view(ref: OrderRef) -> dict[str, Any]:
    """How an order looks before the orders service has taken it in: placed, payment pending."""
    snapshot = json.loads(ref.snapshot)
    placed_at = iso(ref.created_at)
    return {
        "number": ref.number,
        "status": "placed",
        "total": format_cents(ref.total_cents),
        "items": [
            {
                "sku": line["sku"],
                "name": line["name"],
                "quantity": line["quantity"],
                "price": format_cents(line["unit_price_cents"]),
                "amount": format_cents(line["unit_price_cents"] * line["quantity"]),
                "unit": line["unit"],
            }
            for line in snapshot["lines"]
        ],
        "address": snapshot["address"],
        "payment": {"method": snapshot["payment_method"], "status": "pending"},
        "fulfilments": [],
        "timeline": [{"at": placed_at, "event": "placed"}],
        "placed_at": placed_at,
    }


def mask_username(username: str) -> str:
    """How a reviewer is shown to everyone else: first and last character ("w***g"), never the whole name."""
    return f"{username[0]}***{username[-1]}" if len(username) > 1 else "***"


def masked_usernames(session: Session, member_ids: set[int]) -> dict[int, str]:
    if not member_ids:
        return {}
    rows = session.execute(select(User.id, User.username).where(User.id.in_(sorted(member_ids)))).all()
    return {member_id: mask_username(username) for member_id, username in rows}


def order_refs_of(session: Session, member_id: int) -> list[OrderRef]:
    return list(
        session.scalars(select(OrderRef).where(OrderRef.member_id == member_id).order_by(OrderRef.created_at.desc()))
    )


def public_order(order: dict[str, Any]) -> dict[str, Any]:
    """The orders service's view as customers see it (the member id is the gateway's business)."""
    return {k: v for k, v in order.items() if k != "member_id"}


# --- partners ------------------------------------------------------------------------------------


def kuaidi100_sign(param: str, salt: str) -> str:
    return hashlib.md5((param + salt).encode()).hexdigest().upper()


def signature_matches(given: str | None, expected: str) -> bool:
    return bool(given) and hmac.compare_digest(given.encode(), expected.encode())


def aftership_sign(raw_body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), raw_body, hashlib.sha256).digest()).decode()


#: Alipay's own clock: every time in its messages is Beijing time, whatever the mall's time zone.
ALIPAY_TIMEZONE = "Asia/Shanghai"


def alipay_signed_text(fields: dict[str, str]) -> str:
    """What Alipay signs: every field but `sign` and `sign_type`, empty ones left out, sorted by name, as k=v&k=v."""
    return "&".join(f"{k}={v}" for k, v in sorted(fields.items()) if k not in ("sign", "sign_type") and v != "")


def alipay_signature_valid(fields: dict[str, str], public_key) -> bool:
    """RSA2: an RSA signature (PKCS#1 v1.5) with SHA-256 of `alipay_signed_text`, base64 in `sign`."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    if fields.get("sign_type", "RSA2") != "RSA2" or not fields.get("sign"):
        return False
    try:
        signature = base64.b64decode(fields["sign"], validate=True)
        public_key.verify(signature, alipay_signed_text(fields).encode(), padding.PKCS1v15(), hashes.SHA256())
    except (binascii.Error, ValueError, InvalidSignature):
        return False
    return True


@functools.lru_cache(maxsize=4)
def _alipay_key(path: str, modified: float):
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    text = Path(path).read_text().strip()
    if "-----BEGIN" not in text:  # Alipay's console hands the key out as bare base64
        text = "-----BEGIN PUBLIC KEY-----\n" + text + "\n-----END PUBLIC KEY-----"
    return load_pem_public_key(text.encode())


def alipay_public_key(path: str | None):
    """The key `MALL_ALIPAY_PUBLIC_KEY` names (PEM, or the bare base64 Alipay's console shows), read again
    when the file changes (a rotated key); None when none is configured."""
    if not path:
        return None
    try:
        return _alipay_key(path, Path(path).stat().st_mtime)
    except (OSError, ValueError) as exc:
        log.error("the Alipay public key at %s cannot be read: %s", path, exc)
        return None


def alipay_notice(notice: dict[str, Any]) -> dict[str, Any]:
    """Alipay's notification as billing's `POST /internal/payments/notify` takes it."""
    paid_at = None
    if notice.get("gmt_payment"):
        paid_at = (
            datetime.strptime(notice["gmt_payment"].strip(), "%Y-%m-%d %H:%M:%S")
            .replace(tzinfo=ZoneInfo(ALIPAY_TIMEZONE))
            .isoformat()
        )
    return {
        "out_trade_no": notice["out_trade_no"],
        "trade_no": notice["trade_no"],
        "amount": format_cents(notice["total_amount"]),
        "trade_status": notice["trade_status"],
        "paid_at": paid_at,
    }


def _mall_time(text: str | None, timezone: str) -> str | None:
    """Kuaidi100's "2026-11-24 10:00:00" (the mall's local time) as an aware ISO timestamp."""
    if not text:
        return None
    for pattern in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"):
        try:
            return datetime.strptime(text.strip(), pattern).replace(tzinfo=ZoneInfo(timezone)).isoformat()
        except ValueError:
            continue
    raise ValueError(f"not a Kuaidi100 time: {text!r}")


def base_state(state: int) -> int:
    """Kuaidi100's extended states as the seven basic ones: 301 -> 3, 14 (refused) -> 4, customs etc. -> 0."""
    if state >= 100:
        state //= 100
    elif state == 14:
        state = 4
    return state if 0 <= state <= 6 else 0


def kuaidi100_tracking(push: dict[str, Any], timezone: str) -> dict[str, Any]:
    """A validated Kuaidi100 push as logistics' tracking call, oldest event first.

    Kuaidi100 lists events newest first and gives one state for the whole waybill: the newest event
    carries it, older ones count as in transit (0).
    """
    result = push["lastResult"]
    events = []
    for i, entry in enumerate(result["data"]):
        at = _mall_time(entry.get("time") or entry.get("ftime"), timezone)
        if at is None:
            raise ValueError("a Kuaidi100 event without a time")
        events.append({"state": base_state(result["state"]) if i == 0 else 0, "detail": entry["context"], "at": at})
    events.reverse()
    return {"source": "kuaidi100", "waybill": result["nu"], "events": events}


#: AfterShip tags as Kuaidi100 states; InfoReceived (label printed, nothing moved) carries no news.
AFTERSHIP_STATES = {"InTransit": 0, "OutForDelivery": 5, "Delivered": 3, "AttemptFail": 2, "Exception": 2}


def _aftership_time(push: dict[str, Any]) -> str | None:
    msg = push["msg"]
    candidates = [c.get("checkpoint_time") for c in reversed(msg.get("checkpoints") or []) if isinstance(c, dict)]
    candidates.append(msg.get("updated_at"))
    for text in candidates:
        if not text or not isinstance(text, str):
            continue
        try:
            at = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            continue
        return (at if at.tzinfo else at.replace(tzinfo=UTC)).isoformat()
    ts = push.get("ts")
    if isinstance(ts, int | float) and not isinstance(ts, bool):
        return datetime.fromtimestamp(ts, UTC).isoformat()
    return None


def aftership_tracking(push: dict[str, Any]) -> dict[str, Any] | None:
    """A validated AfterShip webhook as logistics' tracking call; None when the tag carries no news."""
    msg = push["msg"]
    state = AFTERSHIP_STATES.get(msg["tag"])
    if state is None:
        return None
    at = _aftership_time(push)
    if at is None:
        raise ValueError("an AfterShip event without a time")
    detail = msg.get("subtag_message") or msg["tag"]
    return {
        "source": "aftership",
        "waybill": msg["tracking_number"],
        "events": [{"state": state, "detail": detail, "at": at}],
    }
