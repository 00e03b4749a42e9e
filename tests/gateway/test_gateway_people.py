"""Accounts, tokens and the login throttle."""

import time

import jwt
from gateway_helpers import SUPERADMIN, bearer, login


def test_a_visitor_registers_and_logs_in_as_a_customer(client):
    response = client.post(
        "/api/auth/register",
        json={
            "username": "li_ming",
            "password": "Jasmine-Tea-88",
            "email": "li.ming@example.cn",
            "phone": "13800000000",
        },
    )
    assert response.status_code == 201
    assert response.json == {"id": response.json["id"], "username": "li_ming"}
    answer = client.post("/api/auth/login", json={"username": "li_ming", "password": "Jasmine-Tea-88"}).json
    assert answer["token_type"] == "Bearer" and answer["role"] == "customer" and answer["access_token"]
    me = client.get("/api/auth/me", headers=bearer(answer["access_token"])).json
    assert me["username"] == "li_ming" and me["role"] == "customer"


def test_a_username_is_taken_whatever_its_case(client, customer):
    response = client.post("/api/auth/register", json={"username": "LI_MING", "password": "Another-Pass-1"})
    assert response.status_code == 409
    assert response.json["error"]["code"] == "username_taken"


def test_a_short_password_or_a_missing_username_is_refused_with_reasons(client):
    response = client.post("/api/auth/register", json={"password": "short"})
    assert response.status_code == 422
    assert set(response.json["error"]["fields"]) == {"username", "password"}
    assert response.json["error"]["code"] == "validation_error"


def test_a_body_that_is_not_json_is_a_400_in_the_error_shape(client):
    response = client.post("/api/auth/register", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid_json"


def test_a_wrong_password_is_401(client, customer):
    response = client.post("/api/auth/login", json={"username": "li_ming", "password": "Wrong-Pass-99"})
    assert response.status_code == 401
    assert response.json["error"]["code"] == "invalid_credentials"


def test_an_unknown_username_gets_the_same_401(client):
    response = client.post("/api/auth/login", json={"username": "nobody_here", "password": "Wrong-Pass-99"})
    assert response.status_code == 401
    assert response.json["error"]["code"] == "invalid_credentials"


def test_too_many_failed_logins_for_a_username_are_throttled_even_with_the_right_password(client, customer, gateway):
    limit = gateway.settings.login_attempts_per_minute
    for i in range(limit):
        response = client.post(
            "/api/auth/login",
            json={"username": "li_ming", "password": "Wrong-Pass-99"},
            environ_base={"REMOTE_ADDR": f"10.0.0.{i + 1}"},
        )
        assert response.status_code == 401
    response = client.post("/api/auth/login", json={"username": "li_ming", "password": "Jasmine-Tea-88"})
    assert response.status_code == 429
    assert response.json["error"]["code"] == "too_many_attempts"
    assert 1 <= int(response.headers["Retry-After"]) <= 60


def test_too_many_failed_logins_from_one_address_are_throttled_across_usernames(client, gateway, make_customer):
    make_customer("wang_fang")
    limit = gateway.settings.login_attempts_per_minute
    for i in range(limit):
        client.post("/api/auth/login", json={"username": f"guess_{i}", "password": "Wrong-Pass-99"})
    response = client.post("/api/auth/login", json={"username": "wang_fang", "password": "Jasmine-Tea-88"})
    assert response.status_code == 429
    elsewhere = client.post(
        "/api/auth/login",
        json={"username": "wang_fang", "password": "Jasmine-Tea-88"},
        environ_base={"REMOTE_ADDR": "192.168.1.20"},
    )
    assert elsewhere.status_code == 200


def test_failed_logins_are_counted_in_the_database_so_every_gateway_process_agrees(client, customer, gateway):
    from sqlalchemy import func, select

    from gateway.models import LoginFailure

    client.post("/api/auth/login", json={"username": "li_ming", "password": "Wrong-Pass-99"})
    with gateway.db.session() as session:
        assert session.scalar(select(func.count(LoginFailure.id))) == 2  # by username and by address


def test_a_password_change_ends_the_old_tokens(client, customer):
    _, token = customer
    response = client.post(
        "/api/auth/password",
        json={"old_password": "Jasmine-Tea-88", "new_password": "Oolong-Tea-99"},
        headers=bearer(token),
    )
    assert response.status_code == 204
    assert client.get("/api/auth/me", headers=bearer(token)).status_code == 401
    assert client.post("/api/auth/login", json={"username": "li_ming", "password": "Jasmine-Tea-88"}).status_code == 401
    assert login(client, "li_ming", "Oolong-Tea-99")


def test_a_password_change_needs_the_current_password(client, customer):
    _, token = customer
    response = client.post(
        "/api/auth/password",
        json={"old_password": "Not-My-Password", "new_password": "Oolong-Tea-99"},
        headers=bearer(token),
    )
    assert response.status_code == 422
    assert "old_password" in response.json["error"]["fields"]


def test_a_missing_token_is_401(client):
    response = client.get("/api/wallet")
    assert response.status_code == 401
    assert response.json["error"]["code"] == "unauthorized"


def test_an_expired_token_is_401(client, customer, gateway):
    from gateway.services import _signing_key

    member_id, _ = customer
    stale = int(time.time()) - 7200
    token = jwt.encode(
        {"sub": str(member_id), "role": "customer", "unit": None, "ver": 1, "iat": stale, "exp": stale + 3600},
        _signing_key(gateway.settings),
        algorithm="HS256",
    )
    response = client.get("/api/wallet", headers=bearer(token))
    assert response.status_code == 401
    assert response.json["error"]["code"] == "token_expired"


def test_an_unsigned_token_is_refused(client, customer):
    member_id, _ = customer
    forged = jwt.encode(
        {"sub": "1", "role": "superadmin", "unit": None, "ver": 1, "exp": int(time.time()) + 3600},
        None,
        algorithm="none",
    )
    assert client.get("/api/admin/log", headers=bearer(forged)).status_code == 401


def test_a_token_signed_with_another_secret_is_refused(client, customer):
    member_id, _ = customer
    forged = jwt.encode(
        {"sub": str(member_id), "role": "customer", "ver": 1, "exp": int(time.time()) + 3600},
        "someone-elses-secret-that-is-long-enough",
        algorithm="HS256",
    )
    assert client.get("/api/wallet", headers=bearer(forged)).status_code == 401


def test_the_bootstrap_super_administrator_is_created_once(gateway, inner):
    from sqlalchemy import func, select

    from gateway.app import create_app
    from gateway.models import User

    for _ in range(3):
        create_app({"TESTING": True, "BOOTSTRAP_ADMIN": ":".join(SUPERADMIN)}, inner=inner)
    with gateway.db.session() as session:
        assert session.scalar(select(func.count(User.id)).where(User.role == "superadmin")) == 1


def test_a_bootstrap_racing_another_process_loses_quietly(gateway, monkeypatch):
    from gateway import services

    with gateway.db.session() as first, first.begin():
        assert services.bootstrap_admin(first, "root:Root-Pass-2026")
    # As if this process looked before the other one committed: only the unique index stops it.
    monkeypatch.setattr(services, "find_user", lambda session, username: None)
    with gateway.db.session() as second, second.begin():
        assert not services.bootstrap_admin(second, "ROOT:Root-Pass-2026")


def test_logging_out_ends_every_token_of_the_account(client, make_customer):
    _, first = make_customer("zhang_san")
    second = login(client, "zhang_san", "Jasmine-Tea-88")  # another device
    assert client.post("/api/auth/logout", json={}, headers=bearer(first)).status_code == 204
    for token in (first, second):
        assert client.get("/api/auth/me", headers=bearer(token)).status_code == 401
    again = login(client, "zhang_san", "Jasmine-Tea-88")
    assert client.get("/api/auth/me", headers=bearer(again)).status_code == 200


def test_a_member_changes_their_email_and_phone_and_nothing_else(client, customer):
    _, token = customer
    changed = client.patch(
        "/api/auth/me", json={"email": "li@example.com", "phone": "+86 138 0000 0000"}, headers=bearer(token)
    )
    assert changed.status_code == 200
    assert (changed.json["email"], changed.json["phone"], changed.json["role"]) == (
        "li@example.com",
        "+86 138 0000 0000",
        "customer",
    )
    assert client.get("/api/auth/me", headers=bearer(token)).json["email"] == "li@example.com"
    cleared = client.patch("/api/auth/me", json={"phone": None}, headers=bearer(token))
    assert cleared.json["phone"] is None and cleared.json["email"] == "li@example.com"
    for body in ({}, {"email": "not-an-email"}, {"phone": "call me"}, {"role": "admin"}, {"username": "root"}):
        refused = client.patch("/api/auth/me", json=body, headers=bearer(token))
        assert refused.status_code == 422, body
    assert client.get("/api/auth/me", headers=bearer(token)).json["role"] == "customer"
