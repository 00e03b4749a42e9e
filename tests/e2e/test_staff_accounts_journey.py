"""A leaver locked out on the running mall: an administrator disables a counter's staff account, its token stops
working at once and it cannot log in; enabled again, it logs in with a new token."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e


def test_an_administrator_disables_a_staff_account_and_its_token_stops_working(mall, sku_prefix):
    unit = mall.unit(f"DS-{sku_prefix}")
    token = mall.staff("staff", unit)
    me = mall.ok("GET", "/api/auth/me", token=token)
    assert mall.ok("GET", "/api/staff/tasks?status=open", token=token) is not None
    listed = mall.ok("GET", f"/api/admin/staff?unit={unit}", token=mall.admin)["items"]
    assert [(a["id"], a["status"]) for a in listed] == [(me["id"], "active")]
    assert listed[0]["last_login_at"] is not None

    disabled = mall.ok("POST", f"/api/admin/staff/{me['id']}/disable", {"reason": "left"}, mall.admin)
    assert disabled["status"] == "disabled"
    status, refused = mall.call("GET", "/api/staff/tasks?status=open", token=token)
    assert status == 401 and refused["error"]["code"] == "account_disabled", refused
    status, login = mall.call("POST", "/api/auth/login", {"username": me["username"], "password": "Staff-Pass-12"})
    assert status == 403 and login["error"]["code"] == "account_disabled", login
    logged = mall.ok("GET", f"/api/admin/log?target=user:{me['id']}&action=staff.*", token=mall.admin)["items"]
    assert [e["action"] for e in logged] == ["staff.disable", "staff.create"]

    mall.ok("POST", f"/api/admin/staff/{me['id']}/enable", {}, mall.admin)
    assert mall.call("GET", "/api/staff/tasks?status=open", token=token)[0] == 401  # the old token stays ended
    again = mall.login(me["username"], "Staff-Pass-12")
    assert mall.ok("GET", "/api/auth/me", token=again)["unit"] == unit
