from shared.testing import deliver, envelope, sent


def skus(response):
    return [item["sku"] for item in response.json["items"]]


def shelf(add_product):
    """A small electronics and supermarket shelf."""
    add_product("TV-55-SKYWORTH", name="Skyworth 55-inch 4K TV", price="2999.00")
    add_product("TV-65-HISENSE", name="Hisense 65-inch TV", price="4599.00", manufacturer="Hisense")
    add_product("TV-43-SKYWORTH", name="Skyworth 43-inch TV", price="1599.00")
    add_product(
        "RICE-5KG-HOMETOWN",
        name="Hometown fragrant rice 5 kg",
        price="39.90",
        category="Rice and oil",
        manufacturer="Hometown",
        supplier="Guangxi Grain",
        division="supermarket",
        unit=None,
    )
    add_product(
        "LIPSTICK-RED-01",
        name="Red lipstick",
        price="129.00",
        category="Cosmetics",
        manufacturer="Maybelline",
        supplier="Guomao Beauty",
        division="department_store",
        unit="DS-COSMETICS",
    )


# --- adding products ------------------------------------------------------------------------------


def test_a_new_product_is_created_with_its_price_as_a_decimal_string(add_product):
    product = add_product("TV-55-SKYWORTH", name="Skyworth 55-inch 4K TV", price="2999.5")
    assert product["price"] == "2999.50"
    assert product["category"] == "TVs" and product["manufacturer"] == "Skyworth"
    assert product["unit"] == "EL-WAREHOUSE" and product["division"] == "electronics"
    assert product["views"] == 0 and product["units_sold"] == 0
    assert product["created_at"].endswith("+00:00")


def test_a_price_is_kept_in_cents(catalog, add_product):
    from sqlalchemy import select

    from services.catalog.models import Product

    add_product("TV-55-SKYWORTH", price="2999.99")
    with catalog.db.session() as session:
        assert session.scalar(select(Product.price_cents)) == 299999


def test_a_sku_already_in_the_catalogue_is_refused(client, add_product):
    add_product("TV-55-SKYWORTH")
    response = client.post(
        "/internal/products",
        json={
            "sku": "TV-55-SKYWORTH",
            "name": "Another TV",
            "price": "1.00",
            "category": "TVs",
            "manufacturer": "Skyworth",
            "supplier": "Nanning Electric",
            "division": "electronics",
            "unit": "EL-WAREHOUSE",
        },
    )
    assert response.status_code == 409
    assert response.json["error"]["code"] == "sku_taken"


def test_a_product_outside_the_supermarket_needs_its_unit(client):
    response = client.post(
        "/internal/products",
        json={
            "sku": "LIPSTICK-RED-01",
            "name": "Red lipstick",
            "price": "129.00",
            "category": "Cosmetics",
            "manufacturer": "Maybelline",
            "supplier": "Guomao Beauty",
            "division": "department_store",
        },
    )
    assert response.status_code == 422
    assert response.json["error"]["code"] == "validation_error"
    assert "unit" in response.json["error"]["fields"]


def test_a_supermarket_product_needs_no_unit(add_product):
    product = add_product("RICE-5KG-HOMETOWN", division="supermarket", unit=None, category="Rice and oil")
    assert product["unit"] is None


def test_bad_fields_are_refused_with_a_reason_for_each(client):
    response = client.post(
        "/internal/products",
        json={"sku": "bad sku!", "name": "", "price": 12.5, "division": "bakery", "unit": "EL-WAREHOUSE"},
    )
    assert response.status_code == 422
    fields = response.json["error"]["fields"]
    assert {"sku", "name", "price", "category", "manufacturer", "supplier", "division"} <= set(fields)


def test_a_lone_surrogate_in_a_new_product_is_422_and_changes_nothing(catalog, client):
    body = (
        '{"sku": "TV-55-SKYWORTH", "name": "Skyworth \\ud800", "price": "2999.00", "category": "TVs", '
        '"manufacturer": "Skyworth", "supplier": "Nanning Electric", "division": "electronics", "unit": "EL-WAREHOUSE"}'
    )
    response = client.post("/internal/products", data=body.encode(), content_type="application/json")
    assert response.status_code == 422
    assert response.json["error"] == {
        "code": "validation_error",
        "message": "Some fields are not valid.",
        "fields": {"name": ["Text must be valid Unicode (no lone surrogates)."]},
    }
    assert client.get("/internal/products").json["total"] == 0
    assert client.get("/internal/categories").json == {"items": []}
    assert sent(catalog) == []


def test_a_price_of_zero_or_with_sub_cents_is_refused(client, add_product):
    for price in ("0.00", "12.345", "-1.00", "twelve"):
        response = client.post(
            "/internal/products",
            json={
                "sku": "TV-55-SKYWORTH",
                "name": "TV",
                "price": price,
                "category": "TVs",
                "manufacturer": "Skyworth",
                "supplier": "Nanning Electric",
                "division": "electronics",
                "unit": "EL-WAREHOUSE",
            },
        )
        assert response.status_code == 422, price
        assert "price" in response.json["error"]["fields"]


def test_categories_are_created_on_first_use_and_counted(client, add_product):
    shelf(add_product)
    counted = [(c["name"], c["products"], c["withdrawn"]) for c in client.get("/internal/categories").json["items"]]
    assert counted == [("Cosmetics", 1, 0), ("Rice and oil", 1, 0), ("TVs", 3, 0)]


# --- searching ------------------------------------------------------------------------------------


def test_search_finds_a_case_insensitive_part_of_the_name_or_the_sku(client, add_product):
    shelf(add_product)
    assert skus(client.get("/internal/products?q=skyworth")) == ["TV-55-SKYWORTH", "TV-43-SKYWORTH"]
    assert skus(client.get("/internal/products?q=rice-5kg")) == ["RICE-5KG-HOMETOWN"]
    assert skus(client.get("/internal/products?q=FRAGRANT")) == ["RICE-5KG-HOMETOWN"]


def test_search_treats_percent_and_underscore_as_plain_characters(client, add_product):
    shelf(add_product)
    assert client.get("/internal/products?q=%25").json["total"] == 0
    assert client.get("/internal/products?q=_").json["total"] == 0


def test_search_filters_by_category_and_manufacturer(client, add_product):
    shelf(add_product)
    assert skus(client.get("/internal/products?category=TVs&manufacturer=skyworth")) == [
        "TV-55-SKYWORTH",
        "TV-43-SKYWORTH",
    ]
    assert skus(client.get("/internal/products?manufacturer=Hometown")) == ["RICE-5KG-HOMETOWN"]
    assert client.get("/internal/products?category=Bicycles").json["total"] == 0


def test_search_filters_by_a_price_range_in_decimal_strings(client, add_product):
    shelf(add_product)
    response = client.get("/internal/products?min_price=129.00&max_price=2999.00&sort=price")
    assert skus(response) == ["LIPSTICK-RED-01", "TV-43-SKYWORTH", "TV-55-SKYWORTH"]


def test_empty_query_parameters_mean_any(client, add_product):
    shelf(add_product)
    response = client.get("/internal/products?q=&category=&manufacturer=&min_price=&max_price=&sort=")
    assert response.status_code == 200 and response.json["total"] == 5


def test_search_sorts_by_price_both_ways(client, add_product):
    shelf(add_product)
    assert skus(client.get("/internal/products?category=TVs&sort=price")) == [
        "TV-43-SKYWORTH",
        "TV-55-SKYWORTH",
        "TV-65-HISENSE",
    ]
    assert skus(client.get("/internal/products?category=TVs&sort=-price")) == [
        "TV-65-HISENSE",
        "TV-55-SKYWORTH",
        "TV-43-SKYWORTH",
    ]


def test_newest_products_come_first(client, add_product):
    shelf(add_product)
    assert skus(client.get("/internal/products?sort=newest&per_page=2")) == ["LIPSTICK-RED-01", "RICE-5KG-HOMETOWN"]


def test_hot_products_are_the_most_viewed(client, add_product):
    shelf(add_product)
    ids = {item["sku"]: item["id"] for item in client.get("/internal/products").json["items"]}
    for _ in range(3):
        client.get(f"/internal/products/{ids['TV-65-HISENSE']}?view=1")
    client.get(f"/internal/products/{ids['LIPSTICK-RED-01']}?view=1")
    client.get(f"/internal/products/{ids['TV-55-SKYWORTH']}")  # looking without view=1 counts nothing
    assert skus(client.get("/internal/products?sort=hot&per_page=3")) == [
        "TV-65-HISENSE",
        "LIPSTICK-RED-01",
        "TV-55-SKYWORTH",
    ]


def test_products_with_the_same_price_keep_a_stable_order_across_pages(client, add_product):
    for n in range(7):
        add_product(f"SOAP-{n:02d}", price="5.00", category="Soap", manufacturer="Hometown")
    pages = [skus(client.get(f"/internal/products?sort=price&per_page=3&page={page}")) for page in (1, 2, 3)]
    assert pages == [["SOAP-00", "SOAP-01", "SOAP-02"], ["SOAP-03", "SOAP-04", "SOAP-05"], ["SOAP-06"]]


def test_a_page_says_where_it_is_and_how_many_match_in_all(client, add_product):
    shelf(add_product)
    response = client.get("/internal/products?category=TVs&page=2&per_page=2")
    assert response.json["total"] == 3
    assert (response.json["page"], response.json["per_page"]) == (2, 2)
    assert len(response.json["items"]) == 1
    assert client.get("/internal/products?page=9").json["items"] == []


def test_bad_search_parameters_are_refused_with_a_reason(client):
    cases = {
        "min_price=cheap": "min_price",
        "max_price=12.345": "max_price",
        "min_price=-1": "min_price",
        "min_price=100&max_price=50": "max_price",
        "sort=random": "sort",
        "page=0": "page",
        "page=two": "page",
        "per_page=101": "per_page",
        "per_page=0": "per_page",
    }
    for query, field in cases.items():
        response = client.get(f"/internal/products?{query}")
        assert response.status_code == 422, query
        assert response.json["error"]["code"] == "validation_error"
        assert field in response.json["error"]["fields"], query


# --- detail and lookup ----------------------------------------------------------------------------


def test_a_view_is_counted_only_when_asked(client, add_product):
    product = add_product("TV-55-SKYWORTH")
    assert client.get(f"/internal/products/{product['id']}?view=1").json["views"] == 1
    assert client.get(f"/internal/products/{product['id']}?view=1").json["views"] == 2
    assert client.get(f"/internal/products/{product['id']}").json["views"] == 2


def test_an_unknown_product_is_not_found(client):
    response = client.get("/internal/products/999?view=1")
    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"


def test_a_lookup_returns_the_known_products_and_names_the_missing_skus(client, add_product):
    shelf(add_product)
    response = client.post(
        "/internal/products/lookup", json={"skus": ["LIPSTICK-RED-01", "TV-99-NOBODY", "TV-55-SKYWORTH"]}
    )
    assert skus(response) == ["LIPSTICK-RED-01", "TV-55-SKYWORTH"]
    assert response.json["missing"] == ["TV-99-NOBODY"]
    assert response.json["items"][0]["price"] == "129.00"


def test_a_lookup_without_skus_is_refused(client):
    response = client.post("/internal/products/lookup", json={"skus": "TV-55-SKYWORTH"})
    assert response.status_code == 422
    assert "skus" in response.json["error"]["fields"]


def test_internal_calls_need_the_service_token(catalog):
    from services.catalog.app import create_app

    assert create_app().test_client().get("/internal/products").status_code == 401


# --- sales counts ---------------------------------------------------------------------------------


def completed(order="M100001", lines=(("TV-55-SKYWORTH", 2), ("LIPSTICK-RED-01", 1))):
    return {
        "order": order,
        "member_id": 7,
        "completed_at": "2026-11-24T10:00:00+00:00",
        "lines": [
            {"sku": sku, "name": sku, "unit": "EL-WAREHOUSE", "quantity": quantity, "amount_cents": 100 * quantity}
            for sku, quantity in lines
        ],
    }


def units_sold(client):
    return {item["sku"]: item["units_sold"] for item in client.get("/internal/products").json["items"]}


def test_a_completed_order_adds_to_the_units_sold(catalog, client, add_product):
    shelf(add_product)
    assert deliver(catalog, "order.completed", completed()) == "handled"
    deliver(catalog, "order.completed", completed("M100002", (("TV-55-SKYWORTH", 1), ("TV-55-SKYWORTH", 1))))
    sold = units_sold(client)
    assert sold["TV-55-SKYWORTH"] == 4 and sold["LIPSTICK-RED-01"] == 1 and sold["TV-65-HISENSE"] == 0


def test_a_redelivered_completed_order_counts_once(catalog, client, add_product):
    shelf(add_product)
    body = envelope("order.completed", completed(), correlation_id="M100001")
    assert catalog.consume("order.completed", body) == "handled"
    assert catalog.consume("order.completed", body) == "duplicate"
    assert units_sold(client)["TV-55-SKYWORTH"] == 2


def test_a_sale_of_an_unknown_sku_changes_nothing_else(catalog, client, add_product):
    shelf(add_product)
    assert deliver(catalog, "order.completed", completed(lines=(("TV-99-NOBODY", 1),))) == "handled"
    assert set(units_sold(client).values()) == {0}
