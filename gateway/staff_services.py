"""Managing staff accounts (DOMAIN.md: administrators "add and remove administrators"): list them, disable and
enable them, change a role or unit, reset a password. No Flask here; every change is logged (services.audit).

An account is never deleted: the administrator log and orders' timelines name it. Removing one is disabling
it. Every change that alters what an account may do, or how it logs in, bumps its `token_version`: tokens
carry no session on the server, so that is what ends them at once (services.identify reads the version on
every request).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from shared.messaging import now
from shared.web import ApiError, not_found

from . import services
from .models import STAFF_ROLES, PasswordReset, User
from .services import ADMINS, Identity, iso


def staff_view(user: User) -> dict[str, Any]:
    """A staff account as administrators see one: never the password hash nor the token version."""
    return {
        "id": user.id,
        "username": user.username,
        "role": user.role,
        "unit": user.unit,
        "email": user.email,
        "phone": user.phone,
        "status": "disabled" if user.disabled_at is not None else "active",
        "disabled_at": iso(user.disabled_at) if user.disabled_at is not None else None,
        "created_at": iso(user.created_at),
        "last_login_at": iso(user.last_login_at) if user.last_login_at is not None else None,
    }


def list_staff(
    session: Session,
    *,
    role: str | None = None,
    unit: str | None = None,
    q: str | None = None,
    status: str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[User], int]:
    """Staff accounts (every role but customers) by username, one page, and how many match. `q` is part of a
    username or an email, in any case; `status` is `active` or `disabled`."""
    filters = [User.role.in_(STAFF_ROLES)]
    if role:
        filters.append(User.role == role)
    if unit:
        filters.append(User.unit == unit)
    if q:
        needle = q.lower()
        filters.append(
            or_(
                User.username_key.contains(needle, autoescape=True),
                func.lower(User.email).contains(needle, autoescape=True),
            )
        )
    if status == "active":
        filters.append(User.disabled_at.is_(None))
    elif status == "disabled":
        filters.append(User.disabled_at.is_not(None))
    total = session.scalar(select(func.count()).select_from(User).where(*filters)) or 0
    rows = session.scalars(
        select(User).where(*filters).order_by(User.username_key).limit(per_page).offset((page - 1) * per_page)
    ).all()
    return list(rows), total


def get_staff(session: Session, user_id: int) -> User:
    """One staff account; a member (customer) or no account is 404."""
    user = session.get(User, user_id)
    if user is None or user.role not in STAFF_ROLES:
        raise not_found("Staff account")
    return user


# --- changes -------------------------------------------------------------------------------------


def _active_superadmins(session: Session) -> list[int]:
    """Lock the rows of the active super administrators (by id, always in that order) and return their ids.

    Every change here takes these locks first, then the target's row: two super administrators disabling
    (or demoting) each other at the same moment are then one after the other, and the second sees that
    its target is the last one left. Staff changes are rare, so serialising them costs nothing.
    """
    statement = (
        select(User.id).where(User.role == "superadmin", User.disabled_at.is_(None)).order_by(User.id).with_for_update()
    )
    return list(session.scalars(statement))


def _target(session: Session, actor: Identity, user_id: int, new_role: str | None = None) -> User:
    """The account `actor` is about to change, locked; 404, or 403 when the actor may not change it.

    Nobody changes their own account here (their password: `POST /api/auth/password`); only the super
    administrator changes an administrator's account, or makes one (as only it adds them).
    """
    target = session.get(User, user_id, with_for_update=True, populate_existing=True)
    if target is None or target.role not in STAFF_ROLES:
        raise not_found("Staff account")
    if target.id == actor.id:
        raise ApiError(403, "own_account", "You cannot do this to your own account.")
    if (target.role in ADMINS or new_role in ADMINS) and actor.role != "superadmin":
        raise ApiError(403, "forbidden", "Only the super administrator manages administrators.")
    return target


def _keep_a_superadmin(target: User, superadmins: list[int]) -> None:
    if target.role == "superadmin" and target.disabled_at is None and superadmins == [target.id]:
        raise ApiError(409, "last_superadmin", "The mall's last active super administrator must stay.")


def _end_access(session: Session, user: User) -> None:
    """Every token of the account stops working, and so does every open emailed reset code."""
    user.token_version += 1
    session.execute(
        update(PasswordReset)
        .where(PasswordReset.user_id == user.id, PasswordReset.used_at.is_(None))
        .values(used_at=now())
    )


def disable_staff(session: Session, actor: Identity, user_id: int, reason: str | None = None) -> User:
    """Disable a staff account: it cannot log in, its tokens end now, it keeps its name and history.

    Administrators disable staff of other roles; only the super administrator disables administrators; the
    last active super administrator never. Disabling a disabled account changes (and logs) nothing.
    """
    superadmins = _active_superadmins(session)
    target = _target(session, actor, user_id)
    if target.disabled_at is None:
        _keep_a_superadmin(target, superadmins)
        target.disabled_at = now()
        _end_access(session, target)
        detail = {"username": target.username, "role": target.role, "unit": target.unit, "reason": reason}
        services.audit(session, actor, "staff.disable", f"user:{target.id}", detail)
    return target


def enable_staff(session: Session, actor: Identity, user_id: int) -> User:
    """Let a disabled staff account log in again (its old tokens stay ended); enabling an active one
    changes (and logs) nothing."""
    _active_superadmins(session)
    target = _target(session, actor, user_id)
    if target.disabled_at is not None:
        target.disabled_at = None
        services.audit(session, actor, "staff.enable", f"user:{target.id}", {"username": target.username})
    return target


def change_staff(session: Session, actor: Identity, user_id: int, changes: dict[str, Any]) -> User:
    """A new role or unit (a validated StaffChange) for a staff account, under the rules of creating one.

    A `staff` account needs a unit; leaving the role `staff` drops the unit; only the super administrator
    grants or revokes `admin` (or `superadmin`). The account's tokens end, so its next log-in carries the
    new role. A change to what the account already is changes (and logs) nothing.
    """
    superadmins = _active_superadmins(session)
    target = _target(session, actor, user_id, changes.get("role"))
    role = changes.get("role", target.role)
    if "unit" in changes:
        unit = changes["unit"]
    else:
        unit = target.unit if role == "staff" else None
    if role == "staff" and not unit:
        raise ApiError(422, "validation_error", "Some fields are not valid.", {"unit": ["Staff belong to one unit."]})
    if role != "staff" and unit:
        raise ApiError(
            422, "validation_error", "Some fields are not valid.", {"unit": ["Only staff belong to a unit."]}
        )
    changed = {
        name: [before, after]
        for name, before, after in (("role", target.role, role), ("unit", target.unit, unit))
        if before != after
    }
    if not changed:
        return target
    if role != "superadmin":
        _keep_a_superadmin(target, superadmins)
    target.role, target.unit = role, unit
    _end_access(session, target)
    services.audit(session, actor, "staff.change", f"user:{target.id}", {"username": target.username} | changed)
    return target


def reset_staff_password(session: Session, actor: Identity, user_id: int, new_password: str) -> User:
    """Set a staff account's password (a member forgot it, or it leaked): its tokens and any open emailed
    reset code end. Administrators reset staff's; only the super administrator an administrator's."""
    _active_superadmins(session)
    target = _target(session, actor, user_id)
    target.password_hash = services.hasher.hash(new_password)
    _end_access(session, target)
    services.audit(session, actor, "staff.password_reset", f"user:{target.id}", {"username": target.username})
    return target
