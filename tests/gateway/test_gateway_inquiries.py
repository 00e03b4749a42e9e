"""Inquiries (咨询) through the gateway: customers ask, the unit that sells the product (or customer service) answers
from the stock figure, the customer reads the answer, and answered public ones show on the product's page."""

import pytest
from gateway_helpers import bearer

QUESTION = {"question": "Is the 250 g tin in stock? I would like three.", "quantity": 3}


@pytest.fixture
def world(catalogue, inner):
    """Beside the tea counter and the Guomao branch: a cosmetics counter, and the Baisheng branch with rice."""
    for code, kind, division in (
        ("DS-COSMETICS", "counter", "department_store"),
        ("SM-BAISHENG", "branch", "supermarket"),
    ):
        unit = {
            "code": code,
            "name": code,
            "kind": kind,
            "division": division,
            "city": "Nanning",
            "lat": 22.8,
            "lon": 108.3,
        }
        inner.create_unit(unit)  # fmt: skip
    inner.stock_in({"unit": "SM-BAISHENG", "sku": "RICE-JASMINE-5KG", "quantity": 40})
    inner.stock_in({"unit": "DS-TEA", "sku": "RICE-JASMINE-5KG", "quantity": 2})  # stray stock a counter cannot sell
    inner.calls.clear()
    return catalogue


def ask(client, token, product_id, body=None, **headers):
    return client.post(
        f"/api/products/{product_id}/inquiries",
        json=QUESTION if body is None else body,
        headers=bearer(token) | headers,
    )


def staff_list(client, token, query=""):
    response = client.get(f"/api/staff/inquiries{query}", headers=bearer(token))
    assert response.status_code == 200, response.json
    return response.json


def answer(client, token, inquiry_id, text="Yes, 5 tins at the counter.", available=5):
    body = {"answer": text} | ({} if available is None else {"available": available})
    return client.post(f"/api/staff/inquiries/{inquiry_id}/answer", json=body, headers=bearer(token))


def test_the_counter_answers_from_the_stock_figure_and_the_customer_reads_it(
    client, world, inner, make_customer, make_account, root
):
    member_id, token = make_customer("wang_fang")
    asked = ask(client, token, world["tea"]["id"])
    assert asked.status_code == 201
    assert asked.json["status"] == "open" and asked.json["quantity"] == 3 and asked.json["answer"] is None
    assert asked.json["product"] == {"id": world["tea"]["id"], "sku": "TEA-LONGJING-250G", "name": world["tea"]["name"]}
    assert inner.inquiry_rows[asked.json["id"]]["member_id"] == member_id  # who the gateway says, never the body

    counter = make_account("zhou_tea", "staff", unit="DS-TEA")
    [waiting] = staff_list(client, counter)["items"]
    assert waiting["id"] == asked.json["id"] and waiting["asker"] == "w***g" and "member_id" not in waiting
    assert waiting["stock"] == {"available": 5, "units": [{"unit": "DS-TEA", "available": 5}]}

    answered = answer(client, counter, waiting["id"])
    assert answered.status_code == 200
    assert answered.json["status"] == "answered" and answered.json["available"] == 5
    assert answered.json["answered_by"] == "zhou_tea" and answered.json["answered_unit"] == "DS-TEA"
    assert staff_list(client, counter)["items"] == []  # open ones by default
    assert [i["id"] for i in staff_list(client, counter, "?status=answered")["items"]] == [waiting["id"]]

    [mine] = client.get("/api/inquiries", headers=bearer(token)).json["items"]
    assert mine["answer"] == "Yes, 5 tins at the counter." and mine["available"] == 5
    assert "answered_by" not in mine and "member_id" not in mine  # who answered is the mall's business

    [logged] = client.get("/api/admin/log?action=inquiry.answer", headers=bearer(root)).json["items"]
    assert logged["actor"] == "zhou_tea" and logged["target"] == f"inquiry:{waiting['id']}"
    assert logged["detail"] == {"product": "TEA-LONGJING-250G", "available": 5, "answer": "Yes, 5 tins at the counter."}


def test_another_units_staff_neither_see_nor_answer_it(client, world, customer, make_account):
    _, token = customer
    inquiry = ask(client, token, world["tea"]["id"]).json
    cosmetics = make_account("chen_cosmetics", "staff", unit="DS-COSMETICS")
    branch = make_account("liu_guomao", "staff", unit="SM-GUOMAO")
    for other in (cosmetics, branch):
        assert staff_list(client, other, "?status=all")["items"] == []
        refused = answer(client, other, inquiry["id"])
        assert refused.status_code == 404 and refused.json["error"]["code"] == "not_found"
    assert client.get("/api/inquiries", headers=bearer(token)).json["items"][0]["status"] == "open"


def test_every_supermarket_branch_answers_for_supermarket_goods_and_sees_only_branches_stock(
    client, world, customer, make_account
):
    _, token = customer
    inquiry = ask(client, token, world["rice"]["id"], {"question": "Do you have 5 kg bags?"}).json
    counter = make_account("zhou_tea", "staff", unit="DS-TEA")
    assert staff_list(client, counter)["items"] == []
    assert answer(client, counter, inquiry["id"]).status_code == 404
    guomao = make_account("liu_guomao", "staff", unit="SM-GUOMAO")
    [seen] = staff_list(client, guomao)["items"]
    assert seen["stock"] == {"available": 40, "units": [{"unit": "SM-BAISHENG", "available": 40}]}
    answered = answer(client, guomao, inquiry["id"], text="Baisheng has 40 bags.", available=40)
    assert answered.status_code == 200 and answered.json["answered_unit"] == "SM-GUOMAO"


def test_customer_service_sees_every_inquiry_with_the_member_and_answers_for_the_mall(
    client, world, make_customer, make_account
):
    member_id, token = make_customer("wang_fang")
    tea = ask(client, token, world["tea"]["id"]).json
    rice = ask(client, token, world["rice"]["id"], {"question": "Is it this year's crop?"}).json
    service = make_account("cs_li", "customer_service")
    listed = staff_list(client, service)["items"]
    assert [i["id"] for i in listed] == [tea["id"], rice["id"]]  # oldest first: waiting longest
    assert {i["member_id"] for i in listed} == {member_id}
    answered = answer(client, service, rice["id"], text="Yes, harvested in October.", available=None)
    assert answered.status_code == 200
    assert answered.json["answered_unit"] is None and answered.json["available"] is None
    assert [i["id"] for i in staff_list(client, service, "?status=all")["items"]] == [rice["id"], tea["id"]]


def test_the_same_answer_twice_is_logged_once_and_another_answer_is_refused(
    client, world, customer, make_account, root
):
    _, token = customer
    inquiry = ask(client, token, world["tea"]["id"]).json
    counter = make_account("zhou_tea", "staff", unit="DS-TEA")
    first, again = answer(client, counter, inquiry["id"]), answer(client, counter, inquiry["id"])
    assert first.status_code == again.status_code == 200 and first.json == again.json
    other = answer(client, counter, inquiry["id"], text="Sold out, sorry.", available=0)
    assert other.status_code == 409 and other.json["error"]["code"] == "already_answered"
    assert len(client.get("/api/admin/log?action=inquiry.answer", headers=bearer(root)).json["items"]) == 1


def test_the_product_page_shows_answered_public_questions_with_the_asker_masked(
    client, world, make_customer, make_account
):
    _, wang = make_customer("wang_fang")
    _, zhou = make_customer("zhou_min")
    tea = world["tea"]["id"]
    shown = ask(client, wang, tea, {"question": "Is it loose leaf?"}).json
    private = ask(client, zhou, tea, {"question": "Can I collect it tonight?", "public": False}).json
    waiting = ask(client, zhou, tea, {"question": "Any discount for ten?"}).json
    counter = make_account("zhou_tea", "staff", unit="DS-TEA")
    for inquiry in (shown, private):
        assert answer(client, counter, inquiry["id"], text="Yes.", available=None).status_code == 200
    page = client.get(f"/api/products/{tea}/inquiries")
    assert page.status_code == 200 and page.json["total"] == 1
    [public] = page.json["items"]
    assert public == {
        "id": shown["id"],
        "question": "Is it loose leaf?",
        "answer": "Yes.",
        "asker": "w***g",
        "created_at": shown["created_at"],
        "answered_at": public["answered_at"],
    }
    assert waiting["id"] not in [i["id"] for i in page.json["items"]]
    assert client.get("/api/products/99999/inquiries").status_code == 404


def test_a_customer_sees_only_their_own_inquiries_newest_first(client, world, make_customer):
    _, wang = make_customer("wang_fang")
    _, zhou = make_customer("zhou_min")
    first = ask(client, wang, world["tea"]["id"]).json
    second = ask(client, wang, world["rice"]["id"], {"question": "5 kg bags?"}).json
    ask(client, zhou, world["tea"]["id"])
    mine = client.get("/api/inquiries", headers=bearer(wang)).json
    assert [i["id"] for i in mine["items"]] == [second["id"], first["id"]] and mine["total"] == 2
    assert client.get("/api/inquiries?status=answered", headers=bearer(wang)).json["items"] == []


def test_who_may_do_what(client, world, customer, make_account):
    _, token = customer
    tea = world["tea"]["id"]
    assert client.post(f"/api/products/{tea}/inquiries", json=QUESTION).status_code == 401
    assert client.get("/api/inquiries").status_code == 401
    assert client.get("/api/staff/inquiries").status_code == 401
    inquiry = ask(client, token, tea).json
    counter = make_account("zhou_tea", "staff", unit="DS-TEA")
    assert ask(client, counter, tea).status_code == 403  # staff do not ask
    assert client.get("/api/staff/inquiries", headers=bearer(token)).status_code == 403
    assert answer(client, token, inquiry["id"]).status_code == 403
    courier = make_account("wang_courier", "courier")
    assert client.get("/api/staff/inquiries", headers=bearer(courier)).status_code == 403


def test_catalogs_refusals_reach_the_customer(client, world, inner, customer):
    _, token = customer
    tea = world["tea"]["id"]
    for n in range(3):
        assert ask(client, token, tea, {"question": f"Question {n}?"}).status_code == 201
    refused = ask(client, token, tea, {"question": "One more?"})
    assert refused.status_code == 409 and refused.json["error"]["code"] == "too_many_open_inquiries"
    inner.withdraw_product(world["rice"]["id"])
    withdrawn = ask(client, token, world["rice"]["id"])
    assert withdrawn.status_code == 409 and withdrawn.json["error"]["code"] == "product_withdrawn"
    assert ask(client, token, 99999).status_code == 404


def test_the_same_idempotency_key_asks_once(client, world, inner, customer):
    _, token = customer
    first = ask(client, token, world["tea"]["id"], **{"Idempotency-Key": "ask-tea-1"})
    again = ask(client, token, world["tea"]["id"], **{"Idempotency-Key": "ask-tea-1"})
    assert first.status_code == again.status_code == 201 and first.json["id"] == again.json["id"]
    assert len(inner.inquiry_rows) == 1
    assert ask(client, token, world["tea"]["id"], **{"Idempotency-Key": "x" * 101}).status_code == 422


def test_bad_input_is_422_before_the_catalogue_is_asked(client, world, inner, customer, make_account):
    _, token = customer
    tea = world["tea"]["id"]
    counter = make_account("zhou_tea", "staff", unit="DS-TEA")
    inner.calls.clear()
    bad = ask(client, token, tea, {"question": "  ", "quantity": 0, "public": "maybe", "member_id": 9})
    assert bad.status_code == 422
    assert set(bad.json["error"]["fields"]) == {"question", "quantity", "public", "member_id"}
    for body in ({"question": "x" * 501}, {"question": "ok?", "quantity": "3"}, {"question": "ok?", "quantity": True},
                 {"question": "ok?", "quantity": 2.5}, {}):  # fmt: skip
        assert ask(client, token, tea, body).status_code == 422, body
    not_json = client.post(
        f"/api/products/{tea}/inquiries", data=b"{", content_type="application/json", headers=bearer(token)
    )
    assert not_json.status_code == 400 and not_json.json["error"]["code"] == "invalid_json"
    refused = answer(client, counter, 1, text="", available=-1)
    assert refused.status_code == 422 and set(refused.json["error"]["fields"]) == {"answer", "available"}
    assert answer(client, counter, 1, text="x" * 1001).status_code == 422
    assert client.get("/api/staff/inquiries?status=closed", headers=bearer(counter)).status_code == 422
    assert client.get("/api/inquiries?page=0", headers=bearer(token)).status_code == 422
    assert client.get(f"/api/products/{tea}/inquiries?per_page=1000").status_code == 422
    assert inner.calls == []
    assert answer(client, counter, 99999999999).status_code == 404  # past the id range: not found, never a 500
    assert client.get("/api/products/99999999999/inquiries").status_code == 404
    assert answer(client, counter, 424242).status_code == 404
