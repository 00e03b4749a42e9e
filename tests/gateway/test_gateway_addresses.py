"""A member's saved delivery addresses: one default among them, capped, validated as an order's address, private."""

import pytest
from gateway_helpers import ADDRESS, bearer
from sqlalchemy.exc import IntegrityError

HOME = ADDRESS | {"line": "1 Minzu Avenue"}
OFFICE = ADDRESS | {"line": "88 Jinhu Road", "name": "Li Ming (office)"}
PARENTS = ADDRESS | {"city": "Guilin", "line": "5 Zhongshan Road", "lat": 25.27, "lon": 110.29}


def save(client, token, address, **extra):
    return client.post("/api/addresses", json=address | extra, headers=bearer(token))


def listed(client, token):
    response = client.get("/api/addresses", headers=bearer(token))
    assert response.status_code == 200
    return response.json["items"]


def defaults(client, token):
    return [a["line"] for a in listed(client, token) if a["is_default"]]


def test_the_first_address_saved_is_the_default_and_comes_back_with_its_id(client, customer):
    _, token = customer
    response = save(client, token, HOME, is_default=False)
    assert response.status_code == 201
    assert response.json == {"id": response.json["id"], **HOME, "is_default": True}
    assert listed(client, token) == [response.json]


def test_a_later_address_is_the_default_only_when_asked(client, customer):
    _, token = customer
    save(client, token, HOME)
    office = save(client, token, OFFICE).json
    assert office["is_default"] is False
    assert defaults(client, token) == [HOME["line"]]
    parents = save(client, token, PARENTS, is_default=True).json
    assert parents["is_default"] is True
    assert defaults(client, token) == [PARENTS["line"]]
    assert [a["line"] for a in listed(client, token)] == [PARENTS["line"], OFFICE["line"], HOME["line"]]


def test_making_an_address_the_default_moves_the_default_to_it(client, customer):
    _, token = customer
    save(client, token, HOME)
    office = save(client, token, OFFICE).json
    response = client.post(f"/api/addresses/{office['id']}/default", json={}, headers=bearer(token))
    assert response.status_code == 200 and response.json == office | {"is_default": True}
    assert defaults(client, token) == [OFFICE["line"]]


def test_deleting_the_default_makes_the_newest_address_left_the_default(client, customer):
    _, token = customer
    home = save(client, token, HOME).json
    save(client, token, OFFICE)
    parents = save(client, token, PARENTS).json
    assert client.delete(f"/api/addresses/{home['id']}", headers=bearer(token)).status_code == 204
    assert defaults(client, token) == [PARENTS["line"]]
    assert client.delete(f"/api/addresses/{parents['id']}", headers=bearer(token)).status_code == 204
    assert defaults(client, token) == [OFFICE["line"]]
    assert client.delete(f"/api/addresses/{home['id']}", headers=bearer(token)).status_code == 404


def test_deleting_another_address_leaves_the_default_alone(client, customer):
    _, token = customer
    save(client, token, HOME)
    office = save(client, token, OFFICE).json
    assert client.delete(f"/api/addresses/{office['id']}", headers=bearer(token)).status_code == 204
    assert [a["line"] for a in listed(client, token)] == [HOME["line"]]
    assert defaults(client, token) == [HOME["line"]]


def test_an_address_is_replaced_whole_and_keeps_its_default_unless_told(client, customer):
    _, token = customer
    home = save(client, token, HOME).json
    office = save(client, token, OFFICE).json
    moved = HOME | {"line": "9 Youai Road", "lat": 22.85}
    response = client.put(f"/api/addresses/{home['id']}", json=moved, headers=bearer(token))
    assert response.status_code == 200 and response.json == {"id": home["id"], **moved, "is_default": True}
    response = client.put(f"/api/addresses/{office['id']}", json=OFFICE | {"is_default": True}, headers=bearer(token))
    assert response.json["is_default"] is True
    assert defaults(client, token) == [OFFICE["line"]]


def test_the_default_is_moved_never_removed(client, customer):
    _, token = customer
    home = save(client, token, HOME).json
    response = client.put(f"/api/addresses/{home['id']}", json=HOME | {"is_default": False}, headers=bearer(token))
    assert response.status_code == 409 and response.json["error"]["code"] == "default_address_required"
    assert defaults(client, token) == [HOME["line"]]


def test_a_member_saves_at_most_twenty_addresses(client, customer):
    _, token = customer
    for n in range(20):
        assert save(client, token, HOME | {"line": f"{n} Minzu Avenue"}).status_code == 201
    response = save(client, token, OFFICE)
    assert response.status_code == 409
    assert response.json["error"]["code"] == "too_many_addresses" and response.json["error"]["message"]
    assert len(listed(client, token)) == 20


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda a: a.pop("city"), "city"),
        (lambda a: a.update(name=""), "name"),
        (lambda a: a.update(line="x" * 201), "line"),
        (lambda a: a.update(lat=95), "lat"),
        (lambda a: a.update(lon="east"), "lon"),
        (lambda a: a.update(phone=None), "phone"),
        (lambda a: a.update(is_default="perhaps"), "is_default"),
        (lambda a: a.update(city="Nan\x00ning"), "city"),
    ],
)
def test_a_bad_address_is_422_naming_the_field_and_saves_nothing(client, customer, change, field):
    _, token = customer
    address = dict(HOME)
    change(address)
    response = client.post("/api/addresses", json=address, headers=bearer(token))
    assert response.status_code == 422
    assert response.json["error"]["code"] == "validation_error" and field in response.json["error"]["fields"]
    home = save(client, token, HOME).json
    response = client.put(f"/api/addresses/{home['id']}", json=address, headers=bearer(token))
    assert response.status_code == 422 and field in response.json["error"]["fields"]
    assert listed(client, token) == [home]


def test_another_members_address_is_not_found(client, make_customer):
    _, li = make_customer("li_ming")
    _, wang = make_customer("wang_fang")
    home = save(client, li, HOME).json
    save(client, wang, OFFICE)
    assert [a["line"] for a in listed(client, wang)] == [OFFICE["line"]]
    for method, path, body in [
        ("put", f"/api/addresses/{home['id']}", OFFICE),
        ("delete", f"/api/addresses/{home['id']}", None),
        ("post", f"/api/addresses/{home['id']}/default", {}),
    ]:
        response = getattr(client, method)(path, json=body, headers=bearer(wang))
        assert response.status_code == 404 and response.json["error"]["code"] == "not_found"
    assert listed(client, li) == [home]


def test_only_customers_have_addresses(client, admin, customer):
    _, token = customer
    home = save(client, token, HOME).json
    assert client.get("/api/addresses").status_code == 401
    assert client.get("/api/addresses", headers=bearer(admin)).status_code == 403
    assert save(client, admin, HOME).status_code == 403
    assert client.delete(f"/api/addresses/{home['id']}", headers=bearer(admin)).status_code == 403


def test_the_database_keeps_at_most_one_default_per_member(gateway, customer):
    from gateway.models import Address
    from shared.messaging import now

    member_id, _ = customer

    def default_address(line):
        return Address(member_id=member_id, **HOME | {"line": line}, is_default=True, created_at=now())

    with gateway.db.session() as session, session.begin():
        session.add(default_address("1 Minzu Avenue"))
    with pytest.raises(IntegrityError), gateway.db.session() as session, session.begin():
        session.add(default_address("88 Jinhu Road"))
