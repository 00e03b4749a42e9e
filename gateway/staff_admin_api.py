"""Staff accounts for administrators (DOMAIN.md "What staff do"): list them, disable and enable them, change a
role or unit, reset a password. Adding one stays `POST /api/admin/staff` (API.md, `api.create_staff`)."""

from __future__ import annotations

from flask import Blueprint, g

from . import schemas, staff_services
from .api import load_json, load_query, requires
from .config import runtime
from .services import ADMINS

staff_admin = Blueprint("staff_admin", __name__, url_prefix="/api/admin/staff")


@staff_admin.get("")
@requires(*ADMINS)
def list_staff():
    """Staff accounts by username: `?role=staff&unit=DS-TEA&q=wang&status=active|disabled&page=&per_page=` ->
    `{items: [{id, username, role, unit, email, phone, status, disabled_at, created_at, last_login_at}],
    total, page, per_page}`. Members (customers) are not staff: `GET /api/admin/members` finds them."""
    query = load_query(schemas.StaffQuery)
    with runtime.db.session() as session, session.begin():
        found, total = staff_services.list_staff(session, **query)
        items = [staff_services.staff_view(user) for user in found]
    return {"items": items, "total": total, "page": query["page"], "per_page": query["per_page"]}


@staff_admin.get("/<id:user_id>")
@requires(*ADMINS)
def get_staff(user_id: int):
    """One staff account (as in the list); 404 for a member or no account."""
    with runtime.db.session() as session, session.begin():
        return staff_services.staff_view(staff_services.get_staff(session, user_id))


@staff_admin.post("/<id:user_id>/disable")
@requires(*ADMINS)
def disable_staff(user_id: int):
    """Remove a staff account from service: `{"reason"?: "left on 2026-11-30"}` -> the account, `status:
    "disabled"`. It cannot log in (403 `account_disabled`) and its tokens stop working at once; its name and
    history stay. Only the super administrator disables administrators; nobody their own account (403
    `own_account`) or the last active super administrator (409 `last_superadmin`). Again: the same answer."""
    body = load_json(schemas.StaffDisable)
    with runtime.db.session() as session, session.begin():
        user = staff_services.disable_staff(session, g.me, user_id, body.get("reason"))
        return staff_services.staff_view(user)


@staff_admin.post("/<id:user_id>/enable")
@requires(*ADMINS)
def enable_staff(user_id: int):
    """Let a disabled staff account log in again -> the account, `status: "active"`; its old tokens stay
    ended. The rules of disabling apply; again: the same answer."""
    load_json(schemas.Empty)
    with runtime.db.session() as session, session.begin():
        return staff_services.staff_view(staff_services.enable_staff(session, g.me, user_id))


@staff_admin.patch("/<id:user_id>")
@requires(*ADMINS)
def change_staff(user_id: int):
    """A new role or unit: `{"role"?: "staff", "unit"?: "DS-TEA"}` -> the account. A `staff` account needs a
    unit and no other role has one (leaving `staff` drops it); only the super administrator grants or
    revokes `admin`. The account's tokens end, so the new role holds from its next log-in."""
    body = load_json(schemas.StaffChange)
    with runtime.db.session() as session, session.begin():
        return staff_services.staff_view(staff_services.change_staff(session, g.me, user_id, body))


@staff_admin.post("/<id:user_id>/password")
@requires(*ADMINS)
def reset_password(user_id: int):
    """Set a staff account's password: `{"new_password": "..."}` -> 204; its tokens end. Administrators reset
    staff's, the super administrator also administrators'; your own: `POST /api/auth/password`."""
    body = load_json(schemas.StaffPasswordReset)
    with runtime.db.session() as session, session.begin():
        staff_services.reset_staff_password(session, g.me, user_id, body["new_password"])
    return "", 204
