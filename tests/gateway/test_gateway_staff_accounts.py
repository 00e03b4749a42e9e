"""Staff accounts managed by administrators: listing, disabling and enabling, role and unit changes, password
resets, who may do which, and the administrator log that records them and can be searched."""

from __future__ import annotations

import re

import pytest
from gateway_helpers import SUPERADMIN, bearer, login
from sqlalchemy import event, update

PASSWORD = "Staff-Pass-2026"


@pytest.fixture
def account_id(client, root):
    """`account_id("wang_fang")` -> the id of that staff account, as the staff list shows it."""

    def find(username: str) -> int:
        items = client.get("/api/admin/staff", query_string={"q": username}, headers=bearer(root)).json["items"]
        [match] = [item for item in items if item["username"] == username]
        return match["id"]

    return find


@pytest.fixture
def wang(make_account, account_id):
    """A tea-counter staff member: (id, token)."""
    token = make_account("wang_fang", "staff", unit="DS-TEA")
    return account_id("wang_fang"), token


def log_of(client, root, **filters):
    response = client.get("/api/admin/log", query_string=filters, headers=bearer(root))
    assert response.status_code == 200, response.json
    return response.json


def me(client, token):
    return client.get("/api/auth/me", headers=bearer(token))


def attempt_login(client, username, password=PASSWORD):
    return client.post("/api/auth/login", json={"username": username, "password": password})


def post(client, path, token, body=None):
    return client.post(path, json={} if body is None else body, headers=bearer(token))


# --- listing -------------------------------------------------------------------------------------


def test_administrators_list_staff_accounts_without_members_or_password_hashes(
    client, admin, wang, make_account, customer
):
    make_account("li_courier", "courier")
    response = client.get("/api/admin/staff", headers=bearer(admin))
    assert response.status_code == 200
    body = response.json
    assert [i["username"] for i in body["items"]] == ["li_courier", "root", "wang_fang", "zhao_admin"]
    assert body["total"] == 4 and body["page"] == 1
    [row] = [i for i in body["items"] if i["username"] == "wang_fang"]
    assert set(row) == {
        "id",
        "username",
        "role",
        "unit",
        "email",
        "phone",
        "status",
        "disabled_at",
        "created_at",
        "last_login_at",
    }
    assert (row["role"], row["unit"], row["status"], row["disabled_at"]) == ("staff", "DS-TEA", "active", None)
    assert "li_ming" not in response.get_data(as_text=True)  # the customer
    assert "argon2" not in response.get_data(as_text=True)


def test_the_staff_list_filters_by_role_unit_name_and_status(client, root, admin, wang, make_account):
    make_account("chen_tea", "staff", unit="SM-GUOMAO")
    make_account("li_courier", "courier")

    def names(**query):
        response = client.get("/api/admin/staff", query_string=query, headers=bearer(admin))
        assert response.status_code == 200, response.json
        return [i["username"] for i in response.json["items"]]

    assert names(role="staff") == ["chen_tea", "wang_fang"]
    assert names(unit="DS-TEA") == ["wang_fang"]
    assert names(q="FANG") == ["wang_fang"]
    assert names(role="admin") == ["zhao_admin"]
    post(client, f"/api/admin/staff/{wang[0]}/disable", admin)
    assert names(status="disabled") == ["wang_fang"]
    assert "wang_fang" not in names(status="active")
    page = client.get("/api/admin/staff", query_string={"per_page": 2, "page": 2}, headers=bearer(admin)).json
    assert page["total"] == 5 and [i["username"] for i in page["items"]] == ["root", "wang_fang"]


def test_the_last_log_in_is_shown_once_the_account_has_logged_in(client, root, make_account, account_id):
    client.post(
        "/api/admin/staff",
        json={"username": "sun_finance", "password": PASSWORD, "role": "finance"},
        headers=bearer(root),
    )
    user_id = account_id("sun_finance")
    assert client.get(f"/api/admin/staff/{user_id}", headers=bearer(root)).json["last_login_at"] is None
    login(client, "sun_finance", PASSWORD)
    shown = client.get(f"/api/admin/staff/{user_id}", headers=bearer(root)).json
    assert shown["last_login_at"] is not None and shown["last_login_at"] >= shown["created_at"]


@pytest.mark.parametrize(
    "query",
    [{"role": "customer"}, {"status": "gone"}, {"per_page": 0}, {"page": "x"}, {"unit": "DS TEA!"}],
)
def test_a_bad_staff_query_is_422(client, admin, query):
    response = client.get("/api/admin/staff", query_string=query, headers=bearer(admin))
    assert response.status_code == 422
    assert set(response.json["error"]["fields"]) == set(query)


@pytest.mark.parametrize("role", ["customer", "staff", "courier", "customer_service", "finance"])
def test_only_administrators_see_the_staff_list(client, make_account, customer, role):
    token = (
        customer[1]
        if role == "customer"
        else make_account(f"{role}_x", role, unit="DS-TEA" if role == "staff" else None)
    )
    response = client.get("/api/admin/staff", headers=bearer(token))
    assert response.status_code == 403 and response.json["error"]["code"] == "forbidden"


# --- disabling -----------------------------------------------------------------------------------


def test_a_disabled_account_is_logged_out_at_once_and_cannot_log_in(client, root, admin, wang):
    wang_id, token = wang
    assert me(client, token).status_code == 200
    response = post(client, f"/api/admin/staff/{wang_id}/disable", admin, {"reason": "left on 2026-11-30"})
    assert response.status_code == 200
    assert response.json["status"] == "disabled" and response.json["disabled_at"] is not None
    refused = me(client, token)
    assert refused.status_code == 401 and refused.json["error"]["code"] == "account_disabled"
    login_refused = attempt_login(client, "wang_fang")
    assert login_refused.status_code == 403 and login_refused.json["error"]["code"] == "account_disabled"
    wrong = attempt_login(client, "wang_fang", "Not-Her-Password")
    assert wrong.status_code == 401 and wrong.json["error"]["code"] == "invalid_credentials"
    [entry] = log_of(client, root, action="staff.disable")["items"]
    assert (entry["actor"], entry["target"]) == ("zhao_admin", f"user:{wang_id}")
    assert entry["detail"] == {
        "username": "wang_fang",
        "role": "staff",
        "unit": "DS-TEA",
        "reason": "left on 2026-11-30",
    }


def test_disabling_twice_answers_the_same_and_logs_once(client, root, admin, wang):
    wang_id, _ = wang
    first = post(client, f"/api/admin/staff/{wang_id}/disable", admin)
    second = post(client, f"/api/admin/staff/{wang_id}/disable", admin, {"reason": "again"})
    assert second.status_code == first.status_code == 200
    assert second.json == first.json
    assert len(log_of(client, root, action="staff.disable")["items"]) == 1


def test_an_enabled_account_logs_in_again_but_its_old_tokens_stay_ended(client, root, admin, wang):
    wang_id, token = wang
    post(client, f"/api/admin/staff/{wang_id}/disable", admin)
    enabled = post(client, f"/api/admin/staff/{wang_id}/enable", admin)
    assert enabled.status_code == 200 and enabled.json["status"] == "active" and enabled.json["disabled_at"] is None
    assert me(client, token).status_code == 401
    fresh = login(client, "wang_fang", PASSWORD)
    assert me(client, fresh).json["username"] == "wang_fang"
    shown = client.get(f"/api/admin/staff/{wang_id}", headers=bearer(admin)).json
    again = post(client, f"/api/admin/staff/{wang_id}/enable", admin)
    assert again.status_code == 200 and again.json == shown
    assert me(client, fresh).status_code == 200  # enabling an active account ends nothing
    assert [e["action"] for e in log_of(client, root, action="staff.*")["items"]][:2] == [
        "staff.enable",
        "staff.disable",
    ]
    assert len(log_of(client, root, action="staff.enable")["items"]) == 1


def test_a_disabled_account_keeps_its_history_and_its_name(client, root, admin, wang):
    wang_id, _ = wang
    post(client, f"/api/admin/staff/{wang_id}/disable", admin)
    shown = client.get(f"/api/admin/staff/{wang_id}", headers=bearer(admin)).json
    assert (shown["username"], shown["role"], shown["unit"]) == ("wang_fang", "staff", "DS-TEA")
    assert log_of(client, root, target=f"user:{wang_id}")["items"][-1]["action"] == "staff.create"
    taken = client.post(
        "/api/admin/staff",
        json={"username": "Wang_Fang", "password": PASSWORD, "role": "courier"},
        headers=bearer(admin),
    )
    assert taken.status_code == 409 and taken.json["error"]["code"] == "username_taken"


def test_an_administrator_cannot_disable_or_enable_another_administrator(client, admin, make_account, account_id):
    make_account("qian_admin", "admin")
    qian = account_id("qian_admin")
    for action in ("disable", "enable"):
        response = post(client, f"/api/admin/staff/{qian}/{action}", admin)
        assert response.status_code == 403 and response.json["error"]["code"] == "forbidden"


def test_the_super_administrator_disables_an_administrator_and_its_token_ends(client, root, admin, account_id):
    response = post(client, f"/api/admin/staff/{account_id('zhao_admin')}/disable", root)
    assert response.status_code == 200 and response.json["role"] == "admin"
    assert client.get("/api/admin/staff", headers=bearer(admin)).status_code == 401


def test_nobody_disables_their_own_account(client, root, admin, account_id):
    for token, username in ((root, "root"), (admin, "zhao_admin")):
        response = post(client, f"/api/admin/staff/{account_id(username)}/disable", token)
        assert response.status_code == 403 and response.json["error"]["code"] == "own_account"
        assert me(client, token).status_code == 200


def test_a_super_administrator_disables_another_but_never_the_last_one(client, gateway, root, account_id):
    from gateway import staff_services
    from gateway.services import Identity
    from shared.web import ApiError

    client.post(
        "/api/admin/staff",
        json={"username": "qian_root", "password": PASSWORD, "role": "superadmin"},
        headers=bearer(root),
    )
    root_id, qian_id = account_id("root"), account_id("qian_root")
    qian = login(client, "qian_root", PASSWORD)
    assert post(client, f"/api/admin/staff/{root_id}/disable", qian).status_code == 200
    assert me(client, root).status_code == 401
    # root's own request to disable qian_root, let in a moment before qian_root disabled root (the two
    # requests raced): qian_root is by now the last active super administrator.
    stale = Identity(root_id, "root", "superadmin", None)
    for change in (
        lambda session: staff_services.disable_staff(session, stale, qian_id),
        lambda session: staff_services.change_staff(session, stale, qian_id, {"role": "admin"}),
    ):
        with pytest.raises(ApiError) as refused, gateway.db.session() as session, session.begin():
            change(session)
        assert (refused.value.status, refused.value.code) == (409, "last_superadmin")
    assert me(client, qian).json["role"] == "superadmin"


def test_these_endpoints_never_touch_a_member(client, admin, root, customer):
    member_id, token = customer
    for method, path, body in (
        ("GET", f"/api/admin/staff/{member_id}", None),
        ("POST", f"/api/admin/staff/{member_id}/disable", {}),
        ("POST", f"/api/admin/staff/{member_id}/enable", {}),
        ("PATCH", f"/api/admin/staff/{member_id}", {"role": "courier"}),
        ("POST", f"/api/admin/staff/{member_id}/password", {"new_password": "Taken-Over-2026"}),
    ):
        response = client.open(path, method=method, json=body, headers=bearer(root))
        assert response.status_code == 404, (method, path)
        assert response.json["error"]["code"] == "not_found"
    assert me(client, token).json["role"] == "customer"
    assert login(client, "li_ming", "Jasmine-Tea-88")


@pytest.mark.parametrize(
    "path", ["/api/admin/staff/999", "/api/admin/staff/0/disable", f"/api/admin/staff/{2**40}/enable"]
)
def test_no_such_account_is_404(client, admin, path):
    response = client.open(path, method="GET" if path.endswith("999") else "POST", json={}, headers=bearer(admin))
    assert response.status_code == 404


def test_a_bad_disable_body_is_422(client, admin, wang):
    response = post(client, f"/api/admin/staff/{wang[0]}/disable", admin, {"reason": "x" * 201, "now": True})
    assert response.status_code == 422
    assert set(response.json["error"]["fields"]) == {"reason", "now"}
    assert me(client, wang[1]).status_code == 200


def test_the_token_check_refuses_a_disabled_account_in_its_one_statement(client, gateway, wang):
    """Even a token whose version still matches (disabling bumps it too) is refused, and checking costs the
    same single statement as before."""
    from gateway import services
    from gateway.models import User

    wang_id, token = wang
    with gateway.db.session() as session, session.begin():
        session.execute(update(User).where(User.id == wang_id).values(disabled_at=services.now()))
    statements = []
    engine = gateway.db.engine
    listen = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listen)
    try:
        with engine.begin() as connection, pytest.raises(services.ApiError) as refused:
            services.identify(connection, token, gateway.settings)
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    assert (refused.value.status, refused.value.code) == (401, "account_disabled")
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 1


# --- role and unit -------------------------------------------------------------------------------


def test_an_administrator_moves_staff_to_another_role_and_the_old_token_ends(client, root, admin, wang):
    wang_id, token = wang
    response = client.patch(f"/api/admin/staff/{wang_id}", json={"role": "courier"}, headers=bearer(admin))
    assert response.status_code == 200
    assert (response.json["role"], response.json["unit"]) == ("courier", None)  # leaving `staff` drops the unit
    assert me(client, token).status_code == 401
    assert attempt_login(client, "wang_fang").json["role"] == "courier"
    [entry] = log_of(client, root, action="staff.change")["items"]
    assert entry["detail"] == {"username": "wang_fang", "role": ["staff", "courier"], "unit": ["DS-TEA", None]}


def test_staff_move_to_another_unit(client, admin, wang):
    wang_id, token = wang
    response = client.patch(f"/api/admin/staff/{wang_id}", json={"unit": "SM-GUOMAO"}, headers=bearer(admin))
    assert response.status_code == 200 and response.json["unit"] == "SM-GUOMAO"
    assert me(client, token).status_code == 401
    assert me(client, login(client, "wang_fang", PASSWORD)).json["unit"] == "SM-GUOMAO"


def test_a_change_to_what_the_account_already_is_changes_nothing(client, root, admin, wang):
    wang_id, token = wang
    response = client.patch(
        f"/api/admin/staff/{wang_id}", json={"role": "staff", "unit": "DS-TEA"}, headers=bearer(admin)
    )
    assert response.status_code == 200
    assert me(client, token).status_code == 200
    assert log_of(client, root, action="staff.change")["items"] == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({}, "role"),
        ({"role": "customer"}, "role"),
        ({"role": "courier", "unit": "DS-TEA"}, "unit"),
        ({"role": "staff", "unit": None}, "unit"),
        ({"unit": "DS TEA!"}, "unit"),
        ({"role": "staff", "password": "Sneaky-Pass-1"}, "password"),
    ],
)
def test_a_bad_change_is_422_and_changes_nothing(client, admin, wang, change, field):
    wang_id, token = wang
    response = client.patch(f"/api/admin/staff/{wang_id}", json=change, headers=bearer(admin))
    assert response.status_code == 422
    assert field in response.json["error"]["fields"]
    assert me(client, token).json["role"] == "staff"


def test_the_rules_of_creating_an_account_hold_for_the_account_after_the_change(
    client, admin, make_account, account_id
):
    make_account("li_courier", "courier")
    courier = account_id("li_courier")
    unit_alone = client.patch(f"/api/admin/staff/{courier}", json={"unit": "DS-TEA"}, headers=bearer(admin))
    assert unit_alone.status_code == 422 and unit_alone.json["error"]["fields"] == {
        "unit": ["Only staff belong to a unit."]
    }
    no_unit = client.patch(f"/api/admin/staff/{courier}", json={"role": "staff"}, headers=bearer(admin))
    assert no_unit.status_code == 422 and no_unit.json["error"]["fields"] == {"unit": ["Staff belong to one unit."]}
    both = client.patch(f"/api/admin/staff/{courier}", json={"role": "staff", "unit": "DS-TEA"}, headers=bearer(admin))
    assert both.status_code == 200 and (both.json["role"], both.json["unit"]) == ("staff", "DS-TEA")


def test_only_the_super_administrator_grants_or_revokes_administration(
    client, root, admin, wang, make_account, account_id
):
    wang_id, _ = wang
    grant = client.patch(f"/api/admin/staff/{wang_id}", json={"role": "admin"}, headers=bearer(admin))
    assert grant.status_code == 403 and grant.json["error"]["code"] == "forbidden"
    make_account("qian_admin", "admin")
    qian = account_id("qian_admin")
    revoke = client.patch(f"/api/admin/staff/{qian}", json={"role": "finance"}, headers=bearer(admin))
    assert revoke.status_code == 403
    assert (
        client.patch(f"/api/admin/staff/{wang_id}", json={"role": "admin"}, headers=bearer(root)).json["role"]
        == "admin"
    )
    assert (
        client.patch(f"/api/admin/staff/{qian}", json={"role": "finance"}, headers=bearer(root)).json["role"]
        == "finance"
    )


def test_nobody_changes_their_own_role(client, root, admin, account_id):
    for token, username in ((root, "root"), (admin, "zhao_admin")):
        response = client.patch(
            f"/api/admin/staff/{account_id(username)}", json={"role": "finance"}, headers=bearer(token)
        )
        assert response.status_code == 403 and response.json["error"]["code"] == "own_account"


# --- passwords -----------------------------------------------------------------------------------


def test_an_administrator_resets_a_staff_password_and_the_old_log_ins_end(client, root, admin, wang):
    wang_id, token = wang
    response = post(client, f"/api/admin/staff/{wang_id}/password", admin, {"new_password": "Osmanthus-Tea-99"})
    assert response.status_code == 204
    assert me(client, token).status_code == 401
    assert attempt_login(client, "wang_fang").status_code == 401
    assert login(client, "wang_fang", "Osmanthus-Tea-99")
    [entry] = log_of(client, root, action="staff.password_reset")["items"]
    assert entry["detail"] == {"username": "wang_fang"}
    assert "Osmanthus" not in str(log_of(client, root))


def test_an_admin_reset_ends_the_codes_a_forgotten_password_emailed(client, app, root, admin, account_id):
    class Outbox:
        def __init__(self):
            self.sent = []

        def send(self, message):
            self.sent.append(message)

    app.config["MAILER"] = outbox = Outbox()
    body = {"username": "he_cs", "password": PASSWORD, "role": "customer_service", "email": "he@example.com"}
    assert client.post("/api/admin/staff", json=body, headers=bearer(admin)).status_code == 201
    assert client.post("/api/auth/password/forgot", json={"username": "he_cs"}).status_code == 202
    code = re.search(r"Your reset code: (\S+)", outbox.sent[-1].get_content()).group(1)
    post(client, f"/api/admin/staff/{account_id('he_cs')}/password", admin, {"new_password": "Osmanthus-Tea-99"})
    used = client.post("/api/auth/password/reset", json={"token": code, "new_password": "Attacker-Pass-1"})
    assert used.status_code == 422 and used.json["error"]["code"] == "invalid_reset_token"
    assert login(client, "he_cs", "Osmanthus-Tea-99")


def test_only_the_super_administrator_resets_an_administrators_password(client, root, admin, make_account, account_id):
    make_account("qian_admin", "admin")
    qian = account_id("qian_admin")
    refused = post(client, f"/api/admin/staff/{qian}/password", admin, {"new_password": "Osmanthus-Tea-99"})
    assert refused.status_code == 403
    assert (
        post(client, f"/api/admin/staff/{qian}/password", root, {"new_password": "Osmanthus-Tea-99"}).status_code == 204
    )
    own = post(client, f"/api/admin/staff/{account_id('root')}/password", root, {"new_password": "Osmanthus-Tea-99"})
    assert own.status_code == 403 and own.json["error"]["code"] == "own_account"
    assert login(client, *SUPERADMIN)


@pytest.mark.parametrize("body", [{}, {"new_password": "short"}, {"new_password": 12345678}])
def test_a_bad_new_password_is_422(client, admin, wang, body):
    response = post(client, f"/api/admin/staff/{wang[0]}/password", admin, body)
    assert response.status_code == 422 and "new_password" in response.json["error"]["fields"]
    assert me(client, wang[1]).status_code == 200
