"""Reviews through the gateway: customers who received a product write them; anyone reads them, authors masked."""

from gateway_helpers import bearer


def test_a_customer_reviews_what_they_received_and_everyone_reads_it_masked(client, catalogue, inner, make_customer):
    member_id, token = make_customer("wang_fang")
    tea = catalogue["tea"]["id"]
    inner.received[(member_id, tea)] = ["M20261120000001"]
    body = {"rating": 5, "text": "Fragrant.", "photos": ["https://img.example.com/1.jpg"]}
    written = client.post(f"/api/products/{tea}/reviews", json=body, headers=bearer(token))
    assert written.status_code == 201
    assert written.json["author"] == "w***g" and written.json["rating"] == 5
    assert inner.review_rows[0]["member_id"] == member_id  # who the gateway says, never the body
    listed = client.get(f"/api/products/{tea}/reviews")
    assert listed.status_code == 200
    [shown] = listed.json["items"]
    assert shown == {
        "id": written.json["id"],
        "rating": 5,
        "text": "Fragrant.",
        "photos": ["https://img.example.com/1.jpg"],
        "author": "w***g",
        "created_at": written.json["created_at"],
    }
    assert listed.json["rating"]["average"] == 5


def test_the_body_cannot_choose_whose_review_it_is(client, catalogue, inner, make_customer):
    member_id, token = make_customer("wang_fang")
    tea = catalogue["tea"]["id"]
    inner.received[(member_id, tea)] = ["M1"]
    body = {"rating": 1, "text": "x", "member_id": 999}
    response = client.post(f"/api/products/{tea}/reviews", json=body, headers=bearer(token))
    assert response.status_code == 422 and set(response.json["error"]["fields"]) == {"member_id"}
    assert inner.review_rows == []


def test_catalogues_refusals_reach_the_customer(client, catalogue, inner, customer):
    _, token = customer
    tea = catalogue["tea"]["id"]
    response = client.post(f"/api/products/{tea}/reviews", json={"rating": 4, "text": "ok"}, headers=bearer(token))
    assert response.status_code == 409 and response.json["error"]["code"] == "not_purchased"


def test_writing_a_review_needs_a_customer(client, catalogue, make_account):
    tea = catalogue["tea"]["id"]
    assert client.post(f"/api/products/{tea}/reviews", json={"rating": 4, "text": "ok"}).status_code == 401
    staff = make_account("zhou_staff", "staff", unit="DS-TEA")
    response = client.post(f"/api/products/{tea}/reviews", json={"rating": 4, "text": "ok"}, headers=bearer(staff))
    assert response.status_code == 403


def test_bad_reviews_and_queries_are_422_before_the_catalogue_is_asked(client, catalogue, inner, customer):
    _, token = customer
    tea = catalogue["tea"]["id"]
    inner.calls.clear()
    body = {"rating": 0, "text": "", "photos": ["ftp://x.example.com/a.jpg"]}
    response = client.post(f"/api/products/{tea}/reviews", json=body, headers=bearer(token))
    assert response.status_code == 422
    assert set(response.json["error"]["fields"]) == {"rating", "text", "photos.0"}
    assert client.get(f"/api/products/{tea}/reviews?rating=9&page=0").status_code == 422
    assert inner.calls == []


def test_reviews_of_an_unknown_product_are_404(client, catalogue, customer):
    assert client.get("/api/products/99999/reviews").status_code == 404
    _, token = customer
    response = client.post("/api/products/99999/reviews", json={"rating": 4, "text": "ok"}, headers=bearer(token))
    assert response.status_code == 404
