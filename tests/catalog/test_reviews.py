"""Reviews: a customer who received a product reviews it, once per order that bought it; anyone reads them."""

from shared.testing import assert_text_refused, deliver


def completed(catalog, order, member_id, *skus, at="2026-11-20T10:00:00+08:00"):
    lines = [{"sku": sku, "name": sku, "unit": "DS-TEA", "quantity": 1, "amount_cents": 1250} for sku in skus]
    event = {"order": order, "member_id": member_id, "completed_at": at, "lines": lines}
    assert deliver(catalog, "order.completed", event) == "handled"


def review(client, product_id, member_id=7, rating=5, text="Fragrant, fresh, well packed.", **extra):
    body = {"member_id": member_id, "rating": rating, "text": text} | extra
    return client.post(f"/internal/products/{product_id}/reviews", json=body)


def test_a_customer_who_received_a_product_reviews_it_with_photos(catalog, client, add_product):
    tea = add_product("TEA-LONGJING")
    completed(catalog, "M1", 7, "TEA-LONGJING")
    response = review(client, tea["id"], photos=["https://img.example.com/r/1.jpg"])
    assert response.status_code == 201
    assert response.json["order"] == "M1" and response.json["rating"] == 5
    assert response.json["photos"] == ["https://img.example.com/r/1.jpg"]


def test_nobody_reviews_what_they_did_not_receive(catalog, client, add_product):
    tea = add_product("TEA-LONGJING")
    completed(catalog, "M1", 8, "TEA-LONGJING")  # another customer's order
    response = review(client, tea["id"], member_id=7)
    assert response.status_code == 409 and response.json["error"]["code"] == "not_purchased"
    assert client.get(f"/internal/products/{tea['id']}/reviews").json["total"] == 0


def test_one_review_per_order_that_bought_it(catalog, client, add_product):
    tea = add_product("TEA-LONGJING")
    completed(catalog, "M1", 7, "TEA-LONGJING", at="2026-10-01T10:00:00+08:00")
    completed(catalog, "M2", 7, "TEA-LONGJING", at="2026-11-01T10:00:00+08:00")
    assert review(client, tea["id"]).json["order"] == "M1"  # the oldest purchase first
    assert review(client, tea["id"], rating=4).json["order"] == "M2"
    third = review(client, tea["id"])
    assert third.status_code == 409 and third.json["error"]["code"] == "already_reviewed"


def test_a_review_may_name_its_order_but_only_one_of_the_members_own(catalog, client, add_product):
    tea = add_product("TEA-LONGJING")
    completed(catalog, "M1", 7, "TEA-LONGJING")
    completed(catalog, "M2", 8, "TEA-LONGJING")
    assert review(client, tea["id"], order="M2").json["error"]["code"] == "not_purchased"
    assert review(client, tea["id"], order="M1").status_code == 201


def test_reviews_are_listed_newest_first_with_the_products_rating(catalog, client, add_product):
    tea = add_product("TEA-LONGJING")
    for n, (member, rating) in enumerate([(7, 5), (8, 4), (9, 1)]):
        completed(catalog, f"M{n}", member, "TEA-LONGJING")
        photos = ["https://img.example.com/x.jpg"] if rating == 4 else []
        assert review(client, tea["id"], member_id=member, rating=rating, photos=photos).status_code == 201
    listed = client.get(f"/internal/products/{tea['id']}/reviews").json
    assert [r["rating"] for r in listed["items"]] == [1, 4, 5] and listed["total"] == 3
    assert listed["rating"] == {"average": 3.3, "count": 3, "by_rating": {"5": 1, "4": 1, "3": 0, "2": 0, "1": 1}}
    assert [r["rating"] for r in client.get(f"/internal/products/{tea['id']}/reviews?rating=5").json["items"]] == [5]
    with_photos = client.get(f"/internal/products/{tea['id']}/reviews?with_photos=1").json
    assert [r["rating"] for r in with_photos["items"]] == [4] and with_photos["total"] == 1
    page = client.get(f"/internal/products/{tea['id']}/reviews?per_page=2&page=2").json
    assert [r["rating"] for r in page["items"]] == [5] and page["total"] == 3
    assert client.get(f"/internal/products/{tea['id']}").json["rating"]["count"] == 3


def test_a_product_without_reviews_has_no_average(client, add_product):
    tea = add_product("TEA-LONGJING")
    assert client.get(f"/internal/products/{tea['id']}").json["rating"] == {
        "average": None,
        "count": 0,
        "by_rating": {"5": 0, "4": 0, "3": 0, "2": 0, "1": 0},
    }


def test_bad_reviews_are_refused_with_a_reason_for_each_and_change_nothing(catalog, client, add_product):
    tea = add_product("TEA-LONGJING")
    completed(catalog, "M1", 7, "TEA-LONGJING")
    response = review(client, tea["id"], rating=6, text="", photos=["https://img.example.com/r.jpg"] * 10)
    assert response.status_code == 422
    assert set(response.json["error"]["fields"]) == {"rating", "text", "photos"}
    not_a_link = review(client, tea["id"], photos=["javascript:alert(1)"])
    assert not_a_link.status_code == 422 and set(not_a_link.json["error"]["fields"]) == {"photos.0"}
    raw = '{"member_id": 7, "rating": 5, "text": "nice \\ud800"}'  # a lone surrogate, as JSON text may carry
    path = f"/internal/products/{tea['id']}/reviews"
    assert_text_refused(client.post(path, data=raw.encode(), content_type="application/json"), "text")
    assert client.get(f"/internal/products/{tea['id']}/reviews").json["total"] == 0


def test_reviews_of_an_unknown_product_are_404(client):
    assert client.get("/internal/products/999/reviews").status_code == 404
    assert review(client, 999).status_code == 404


def test_a_redelivered_completion_records_the_purchase_once(catalog, client, add_product):
    from shared.testing import envelope

    tea = add_product("TEA-LONGJING")
    body = envelope(
        "order.completed",
        {"order": "M1", "member_id": 7, "completed_at": "2026-11-20T10:00:00+08:00", "lines": []}
        | {"lines": [{"sku": "TEA-LONGJING", "name": "t", "unit": "DS-TEA", "quantity": 2, "amount_cents": 2500}]},
        correlation_id="M1",
    )
    assert catalog.consume("order.completed", body) == "handled"
    assert catalog.consume("order.completed", body) == "duplicate"
    assert review(client, tea["id"]).status_code == 201
    assert review(client, tea["id"]).json["error"]["code"] == "already_reviewed"


def test_two_reviews_at_once_take_two_orders_when_two_are_unreviewed(catalog, client, add_product, monkeypatch):
    """Both requests read M1 as unreviewed; the second to write loses M1 to the first, and takes M2."""
    from services.catalog import services

    tea = add_product("TEA-LONGJING")
    completed(catalog, "M1", 7, "TEA-LONGJING", at="2026-10-01T10:00:00+08:00")
    completed(catalog, "M2", 7, "TEA-LONGJING", at="2026-11-01T10:00:00+08:00")
    assert review(client, tea["id"]).json["order"] == "M1"
    monkeypatch.setattr(services, "set", lambda rows: frozenset(), raising=False)  # the stale read of the other
    second = review(client, tea["id"], rating=4)
    assert second.status_code == 201 and second.json["order"] == "M2"
    assert review(client, tea["id"]).json["error"]["code"] == "already_reviewed"


def test_a_member_id_too_large_for_the_database_is_422(client, add_product):
    tea = add_product("TEA-LONGJING")
    assert review(client, tea["id"], member_id=10**20).status_code == 422
