"""Searching members, for administrators and customer service; never a password hash."""

import pytest
from gateway_helpers import bearer, login


@pytest.fixture
def members(client):
    people = [
        ("li_ming", "Li.Ming@example.cn", "138 0000 1111"),
        ("wang_fang", "wang@example.cn", "139-2222-3333"),
        ("liu_yang", None, None),
    ]
    ids = {}
    for username, email, phone in people:
        body = {"username": username, "password": "Jasmine-Tea-88", "email": email, "phone": phone}
        ids[username] = client.post("/api/auth/register", json=body).json["id"]
    return ids


def search(client, token, **query):
    response = client.get("/api/admin/members", query_string=query, headers=bearer(token))
    assert response.status_code == 200, response.json
    return response.json


def names(found):
    return [m["username"] for m in found["items"]]


def test_members_are_found_by_part_of_their_username_email_or_phone(client, admin, members):
    assert names(search(client, admin, q="LI_")) == ["li_ming"]
    assert names(search(client, admin, q="li")) == ["liu_yang", "li_ming"]  # newest first
    assert names(search(client, admin, q="wang@EXAMPLE")) == ["wang_fang"]
    assert names(search(client, admin, q="13800001111")) == ["li_ming"]
    assert names(search(client, admin, q="2222 3333")) == ["wang_fang"]


def test_a_member_is_shown_without_any_secret(client, admin, members):
    [li] = search(client, admin, q="li_ming")["items"]
    assert set(li) == {"id", "username", "email", "phone", "created_at"}
    assert li["id"] == members["li_ming"] and li["email"] == "Li.Ming@example.cn"


def test_staff_accounts_are_not_members(client, admin, make_account, members):
    make_account("li_counter", "staff", unit="DS-TEA")
    assert names(search(client, admin, q="li")) == ["liu_yang", "li_ming"]
    assert search(client, admin)["total"] == 3


def test_wildcards_in_the_query_are_plain_characters(client, admin, members):
    assert search(client, admin, q="%")["total"] == 0
    assert search(client, admin, q="_")["total"] == 3  # every username here has one


def test_members_are_paged(client, admin, members):
    first = search(client, admin, per_page=2)
    second = search(client, admin, per_page=2, page=2)
    assert names(first) + names(second) == ["liu_yang", "wang_fang", "li_ming"]
    assert first["total"] == 3 and (first["page"], first["per_page"]) == (1, 2)


def test_customer_service_searches_members_and_customers_cannot(client, make_account, members):
    service = make_account("cs_li", "customer_service")
    assert names(search(client, service, q="wang")) == ["wang_fang"]
    token = login(client, "li_ming", "Jasmine-Tea-88")
    assert client.get("/api/admin/members", headers=bearer(token)).status_code == 403
    assert client.get("/api/admin/members").status_code == 401


def test_a_query_that_is_not_valid_is_refused(client, admin):
    for query in ({"q": "x" * 101}, {"page": "0"}, {"per_page": "101"}, {"page": "two"}):
        response = client.get("/api/admin/members", query_string=query, headers=bearer(admin))
        assert response.status_code == 422, query
        assert response.json["error"]["code"] == "validation_error"


def test_the_search_runs_on_postgresql(monkeypatch):
    from tests.infra import fresh_postgres_database, postgres_available

    if not postgres_available():
        pytest.skip("PostgreSQL is not reachable")
    from gateway import services
    from gateway.config import runtime
    from shared.testing import fresh_database

    url = fresh_postgres_database("mall_test_gateway_members")
    monkeypatch.setenv("MALL_DATABASE_URL_GATEWAY", url)
    fresh_database(runtime, url)
    try:
        with runtime.db.session() as session, session.begin():
            people = (("li_ming", "Li.Ming@example.cn", "138 0000 1111"), ("wang_fang", None, None))
            for username, email, phone in people:
                account = {"username": username, "username_key": username, "password_hash": "x", "token_version": 1}
                person = {"email": email, "phone": phone, "role": "customer", "created_at": services.now()}
                session.add(services.User(**account, **person))
        with runtime.db.session() as session, session.begin():
            by_phone, total = services.search_members(session, "0000-1111", 1, 20)
            by_email, _ = services.search_members(session, "LI.MING@", 1, 20)
            literal, none = services.search_members(session, "%", 1, 20)
        assert [u.username for u in by_phone] == ["li_ming"] and total == 1
        assert [u.username for u in by_email] == ["li_ming"]
        assert literal == [] and none == 0
    finally:
        runtime.reset()
