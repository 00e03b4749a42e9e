"""Searching members (DOMAIN.md "Members: search members"), for administrators and customer service: the gateway
owns members, so it answers from its own database."""

from __future__ import annotations

from flask import Blueprint

from . import schemas, services
from .api import load_query, requires
from .config import runtime
from .services import STAFF_VIEWERS

members = Blueprint("members", __name__, url_prefix="/api/admin/members")


@members.get("")
@requires(*STAFF_VIEWERS)
def search_members():
    """Members whose username, email or phone contains `q`, newest first: `?q=138 0000&page=&per_page=` ->
    `{items: [{id, username, email, phone, created_at}], total, page, per_page}`. Staff accounts are not
    listed; no password hash ever leaves the gateway."""
    query = load_query(schemas.MemberQuery)
    with runtime.db.session() as session, session.begin():
        found, total = services.search_members(session, query.get("q"), query["page"], query["per_page"])
        items = [services.member_view(user) for user in found]
    return {"items": items, "total": total, "page": query["page"], "per_page": query["per_page"]}
