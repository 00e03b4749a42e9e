"""Inquiries (咨询): a customer asks about a product before buying; the selling unit or customer service answers once;
answered public inquiries show on the product's page."""

import pytest

from shared.testing import assert_text_refused, sent

LI, WANG = 7, 8


def ask(client, product_id, member_id=LI, question="Is the 250 g tin in stock?", **extra):
    body = {"member_id": member_id, "question": question} | extra
    return client.post(f"/internal/products/{product_id}/inquiries", json=body)


def answer(client, inquiry_id, text="Yes, 12 tins at the counter.", available=12, by="zhou_staff", unit="DS-TEA"):
    body = {"answer": text, "by": by, "unit": unit} | ({} if available is None else {"available": available})
    return client.post(f"/internal/inquiries/{inquiry_id}/answer", json=body)


@pytest.fixture
def tea(add_product):
    return add_product("TEA-LONGJING", division="department_store", unit="DS-TEA", category="Tea")


def test_a_customer_asks_and_the_unit_answers_with_how_many_it_can_supply(catalog, client, tea):
    asked = ask(client, tea["id"], quantity=3)
    assert asked.status_code == 201
    inquiry = asked.json
    assert inquiry["status"] == "open" and inquiry["quantity"] == 3 and inquiry["public"] is True
    assert inquiry["product"] == {"id": tea["id"], "sku": "TEA-LONGJING", "name": tea["name"],
                                  "division": "department_store", "unit": "DS-TEA"}  # fmt: skip
    assert inquiry["answer"] is None and inquiry["answered_at"] is None

    answered = answer(client, inquiry["id"])
    assert answered.status_code == 200 and answered.json["changed"] is True
    assert answered.json["status"] == "answered" and answered.json["available"] == 12
    assert answered.json["answered_by"] == "zhou_staff" and answered.json["answered_unit"] == "DS-TEA"
    assert answered.json["answered_at"] is not None
    assert client.get(f"/internal/inquiries/{inquiry['id']}").json["answer"] == "Yes, 12 tins at the counter."
    assert sent(catalog) == []  # an HTTP action of catalog's own rows: no message


def test_the_same_answer_again_changes_nothing_and_another_one_is_refused(client, tea):
    inquiry = ask(client, tea["id"]).json
    first = answer(client, inquiry["id"]).json
    again = answer(client, inquiry["id"], by="another_staff")
    assert again.status_code == 200 and again.json["changed"] is False
    assert again.json["answered_by"] == "zhou_staff" and again.json["answered_at"] == first["answered_at"]
    for other in (answer(client, inquiry["id"], text="No, sold out."), answer(client, inquiry["id"], available=3)):
        assert other.status_code == 409 and other.json["error"]["code"] == "already_answered"
    assert client.get(f"/internal/inquiries/{inquiry['id']}").json["answer"] == "Yes, 12 tins at the counter."


def test_an_answer_may_leave_out_the_stock_figure(client, tea):
    inquiry = ask(client, tea["id"], question="Is it this year's harvest?").json
    answered = answer(client, inquiry["id"], text="Yes, picked in April.", available=None, by="cs_li", unit=None)
    assert answered.status_code == 200
    assert answered.json["available"] is None and answered.json["answered_unit"] is None


def test_a_member_has_at_most_three_open_inquiries_about_one_product(client, tea, add_product):
    for n in range(3):
        assert ask(client, tea["id"], question=f"Question {n}").status_code == 201
    fourth = ask(client, tea["id"], question="Question 3")
    assert fourth.status_code == 409 and fourth.json["error"]["code"] == "too_many_open_inquiries"
    assert ask(client, tea["id"], member_id=WANG).status_code == 201  # another member's are their own
    first = client.get(f"/internal/inquiries?member_id={LI}&sort=oldest").json["items"][0]
    assert answer(client, first["id"]).status_code == 200  # an answer frees a place
    assert ask(client, tea["id"], question="Question 3").status_code == 201


def test_a_member_has_at_most_twenty_open_inquiries_in_all(client, add_product):
    from services.catalog.inquiries import MAX_OPEN_PER_MEMBER

    products = [add_product(f"TEA-{n}", division="department_store", unit="DS-TEA") for n in range(8)]
    asked = 0
    for product in products:
        for _ in range(3):
            if asked < MAX_OPEN_PER_MEMBER:
                assert ask(client, product["id"], question=f"Q{asked}").status_code == 201
                asked += 1
    refused = ask(client, products[-1]["id"], question="One more")
    assert refused.status_code == 409 and refused.json["error"]["code"] == "too_many_open_inquiries"


def test_the_same_idempotency_key_returns_the_same_inquiry(client, tea):
    first = ask(client, tea["id"], idempotency_key="ask-1")
    again = ask(client, tea["id"], idempotency_key="ask-1")
    assert first.status_code == again.status_code == 201 and first.json["id"] == again.json["id"]
    other = ask(client, tea["id"], question="Something else?", idempotency_key="ask-1")
    assert other.status_code == 409 and other.json["error"]["code"] == "idempotency_key_reused"
    assert ask(client, tea["id"], member_id=WANG, idempotency_key="ask-1").json["id"] != first.json["id"]
    assert client.get(f"/internal/inquiries?member_id={LI}").json["total"] == 1


def test_nothing_is_asked_about_an_unknown_or_withdrawn_product(client, tea):
    assert ask(client, 999).status_code == 404
    client.post(f"/internal/products/{tea['id']}/withdraw")
    refused = ask(client, tea["id"])
    assert refused.status_code == 409 and refused.json["error"]["code"] == "product_withdrawn"


def test_staff_lists_what_their_unit_sells_and_supermarket_branches_every_supermarket_product(client, tea, add_product):
    tv = add_product("TV-55", division="electronics", unit="EL-WAREHOUSE")
    rice = add_product("RICE-5KG", division="supermarket", unit=None)
    hamper = add_product("HAMPER", division="department_store", unit="SM-GUOMAO")  # a branch's own product
    for product in (tea, tv, rice, hamper):
        assert ask(client, product["id"]).status_code == 201

    def skus(query):
        return [i["product"]["sku"] for i in client.get(f"/internal/inquiries?{query}").json["items"]]

    assert skus("unit=DS-TEA") == ["TEA-LONGJING"]
    assert skus("unit=SM-GUOMAO&branch=1&sort=oldest") == ["RICE-5KG", "HAMPER"]
    assert skus("unit=SM-GUOMAO") == ["HAMPER"]
    assert skus("status=open&sort=oldest") == ["TEA-LONGJING", "TV-55", "RICE-5KG", "HAMPER"]
    assert skus("status=all") == ["HAMPER", "RICE-5KG", "TV-55", "TEA-LONGJING"]  # newest first
    [tea_inquiry] = client.get("/internal/inquiries?unit=DS-TEA").json["items"]
    answer(client, tea_inquiry["id"])
    assert skus("status=open&sort=oldest") == ["TV-55", "RICE-5KG", "HAMPER"]
    assert skus("status=answered") == ["TEA-LONGJING"]
    assert skus(f"product_id={rice['id']}&member_id={LI}") == ["RICE-5KG"]
    assert skus(f"member_id={WANG}") == []
    page = client.get("/internal/inquiries?per_page=3&page=2").json
    assert page["total"] == 4 and len(page["items"]) == 1


def test_the_products_page_shows_answered_public_inquiries_newest_answer_first(client, tea):
    shown = ask(client, tea["id"], question="Is it loose leaf?").json
    private = ask(client, tea["id"], member_id=WANG, question="Can I pick it up tonight?", public=False).json
    waiting = ask(client, tea["id"], question="Any discount for ten?").json
    later = ask(client, tea["id"], member_id=WANG, question="Is the tin sealed?").json
    for inquiry in (shown, private, later):
        assert answer(client, inquiry["id"], text=f"Answer to {inquiry['id']}").status_code == 200
    page = client.get(f"/internal/products/{tea['id']}/inquiries").json
    assert [i["id"] for i in page["items"]] == [later["id"], shown["id"]] and page["total"] == 2
    assert waiting["id"] not in [i["id"] for i in page["items"]]
    assert client.get("/internal/products/999/inquiries").status_code == 404


def test_bad_inquiries_and_answers_are_refused_with_a_reason_for_each(client, tea):
    bad = ask(client, tea["id"], question="   ", quantity=0, public="maybe")
    assert bad.status_code == 422 and set(bad.json["error"]["fields"]) == {"question", "quantity", "public"}
    assert ask(client, tea["id"], question="x" * 501).status_code == 422
    assert ask(client, tea["id"], quantity=2.5).status_code == 422
    assert ask(client, tea["id"], member_id=10**20).status_code == 422
    raw = '{"member_id": 7, "question": "in stock \\ud800?"}'
    path = f"/internal/products/{tea['id']}/inquiries"
    assert_text_refused(client.post(path, data=raw.encode(), content_type="application/json"), "question")
    assert client.get("/internal/inquiries").json["total"] == 0

    inquiry = ask(client, tea["id"]).json
    bad_answer = client.post(f"/internal/inquiries/{inquiry['id']}/answer", json={"answer": "", "available": -1})
    assert bad_answer.status_code == 422
    assert set(bad_answer.json["error"]["fields"]) == {"answer", "available", "by"}
    assert answer(client, 999).status_code == 404
    assert client.get("/internal/inquiries/999").status_code == 404
    assert client.get("/internal/inquiries/99999999999").status_code == 404  # past the id range: not found
    assert client.get("/internal/inquiries?status=closed&page=0").status_code == 422
    assert client.get(f"/internal/inquiries/{inquiry['id']}").json["status"] == "open"
