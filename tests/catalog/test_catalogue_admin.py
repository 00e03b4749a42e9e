"""Administrators' catalogue work in catalog: changing and withdrawing products, categories, manufacturers and
suppliers, and the merchandisers' searches by manufacturer and supplier."""

from sqlalchemy import select


def skus(response):
    return [item["sku"] for item in response.json["items"]]


def withdraw(client, product):
    response = client.post(f"/internal/products/{product['id']}/withdraw")
    assert response.status_code == 200, response.json
    return response.json


# --- changing a product ---------------------------------------------------------------------------


def test_a_price_change_is_kept_in_cents_and_says_what_changed(client, catalog, add_product):
    from services.catalog.models import Product

    tv = add_product("TV-55-SKYWORTH", price="2999.00")
    response = client.patch(f"/internal/products/{tv['id']}", json={"price": "2799.50"})
    assert response.status_code == 200, response.json
    assert response.json["price"] == "2799.50"
    assert response.json["changed"] == {"price": ["2999.00", "2799.50"]}
    with catalog.db.session() as session:
        assert session.scalar(select(Product.price_cents)) == 279950


def test_a_new_category_manufacturer_or_supplier_named_in_a_change_is_created(client, add_product):
    tv = add_product("TV-55-SKYWORTH")
    change = {"name": "Skyworth 55-inch OLED", "category": "OLED TVs", "manufacturer": "Skyworth Digital",
              "supplier": "Guangxi Electric"}  # fmt: skip
    changed = client.patch(f"/internal/products/{tv['id']}", json=change).json
    assert {k: changed[k] for k in change} == change
    assert changed["changed"]["category"] == ["TVs", "OLED TVs"]
    names = [c["name"] for c in client.get("/internal/categories").json["items"]]
    assert names == ["OLED TVs", "TVs"]  # the old one stays, empty, until an administrator removes it
    assert client.get("/internal/products?supplier=guangxi electric").json["total"] == 1


def test_the_same_values_again_change_nothing(client, add_product):
    tv = add_product("TV-55-SKYWORTH", price="2999.00")
    response = client.patch(f"/internal/products/{tv['id']}", json={"price": "2999.00", "category": "TVs"})
    assert response.status_code == 200
    assert response.json["changed"] == {}


def test_sku_division_and_unit_may_be_sent_as_they_are_but_never_changed(client, add_product):
    tv = add_product("TV-55-SKYWORTH", division="electronics", unit="EL-WAREHOUSE")
    as_they_are = {"sku": "TV-55-SKYWORTH", "division": "electronics", "unit": "EL-WAREHOUSE", "price": "1.00"}
    assert client.patch(f"/internal/products/{tv['id']}", json=as_they_are).status_code == 200

    response = client.patch(
        f"/internal/products/{tv['id']}",
        json={"sku": "TV-55-OTHER", "division": "supermarket", "unit": "EL-COUNTER", "price": "2.00"},
    )
    assert response.status_code == 422
    assert set(response.json["error"]["fields"]) == {"sku", "division", "unit"}
    assert "Cannot be changed" in response.json["error"]["fields"]["sku"][0]
    assert client.get(f"/internal/products/{tv['id']}").json["price"] == "1.00"  # nothing of it was applied


def test_a_change_needs_something_to_change_and_valid_values(client, add_product):
    tv = add_product("TV-55-SKYWORTH")
    for body in ({}, {"price": "0.00"}, {"price": 12.5}, {"name": ""}, {"category": "x" * 101}, {"colour": "red"}):
        response = client.patch(f"/internal/products/{tv['id']}", json=body)
        assert response.status_code == 422, body
        assert response.json["error"]["code"] == "validation_error"


def test_changing_an_unknown_product_is_not_found(client):
    assert client.patch("/internal/products/999", json={"price": "1.00"}).status_code == 404


# --- withdrawing a product ------------------------------------------------------------------------


def test_a_withdrawn_product_leaves_search_but_keeps_its_page(client, add_product):
    tv = add_product("TV-55-SKYWORTH")
    add_product("TV-65-HISENSE", manufacturer="Hisense")
    withdrawn = withdraw(client, tv)
    assert withdrawn["on_sale"] is False and withdrawn["withdrawn_at"].endswith("+00:00")

    assert skus(client.get("/internal/products?q=tv")) == ["TV-65-HISENSE"]
    assert client.get("/internal/products?manufacturer=Skyworth").json["total"] == 0
    assert skus(client.get("/internal/products?status=withdrawn")) == ["TV-55-SKYWORTH"]
    assert skus(client.get("/internal/products?status=all")) == ["TV-55-SKYWORTH", "TV-65-HISENSE"]
    page = client.get(f"/internal/products/{tv['id']}").json
    assert page["on_sale"] is False and page["rating"]["count"] == 0


def test_a_lookup_finds_a_withdrawn_product_and_says_it_is_not_on_sale(client, add_product):
    tv = add_product("TV-55-SKYWORTH")
    withdraw(client, tv)
    found = client.post("/internal/products/lookup", json={"skus": ["TV-55-SKYWORTH"]}).json
    assert found["missing"] == []
    assert [(p["sku"], p["on_sale"]) for p in found["items"]] == [("TV-55-SKYWORTH", False)]


def test_withdrawing_twice_keeps_the_first_time_and_restoring_puts_it_back_on_sale(client, add_product):
    tv = add_product("TV-55-SKYWORTH")
    first = withdraw(client, tv)["withdrawn_at"]
    assert withdraw(client, tv)["withdrawn_at"] == first

    restored = client.post(f"/internal/products/{tv['id']}/restore")
    assert restored.status_code == 200
    assert restored.json["on_sale"] is True and restored.json["withdrawn_at"] is None
    assert skus(client.get("/internal/products")) == ["TV-55-SKYWORTH"]
    assert client.post(f"/internal/products/{tv['id']}/restore").json["on_sale"] is True


def test_withdrawing_an_unknown_product_is_not_found(client):
    assert client.post("/internal/products/999/withdraw").status_code == 404
    assert client.post("/internal/products/999/restore").status_code == 404


def test_a_withdrawn_product_is_counted_apart_in_its_category(client, add_product):
    tv = add_product("TV-55-SKYWORTH")
    add_product("TV-65-HISENSE", manufacturer="Hisense")
    withdraw(client, tv)
    tvs = client.get("/internal/categories").json["items"][0]
    assert (tvs["name"], tvs["products"], tvs["withdrawn"]) == ("TVs", 1, 1)


# --- categories -----------------------------------------------------------------------------------


def test_an_administrator_adds_a_category_before_its_products(client, add_product):
    response = client.post("/internal/categories", json={"name": "  Tea sets "})
    assert response.status_code == 201
    assert response.json | {"id": 0} == {"id": 0, "name": "Tea sets", "products": 0, "withdrawn": 0}

    add_product("TEAPOT-YIXING", category="Tea sets", division="department_store", unit="DS-TEA")
    assert client.get("/internal/categories").json["items"] == [
        {"id": response.json["id"], "name": "Tea sets", "products": 1, "withdrawn": 0}
    ]


def test_a_category_name_taken_in_any_case_is_refused(client, add_product):
    add_product("TV-55-SKYWORTH", category="TVs")
    for name in ("TVs", "tvs"):
        response = client.post("/internal/categories", json={"name": name})
        assert response.status_code == 409
        assert response.json["error"]["code"] == "category_exists"
    assert client.post("/internal/categories", json={"name": ""}).status_code == 422


def test_an_empty_category_is_removed_and_one_in_use_is_kept(client, add_product):
    tv = add_product("TV-55-SKYWORTH", category="TVs")
    empty = client.post("/internal/categories", json={"name": "Radios"}).json
    assert client.delete(f"/internal/categories/{empty['id']}").status_code == 204
    assert client.delete(f"/internal/categories/{empty['id']}").status_code == 404

    tvs = client.get("/internal/categories").json["items"][0]
    withdraw(client, tv)  # a withdrawn product still names its category on its page
    response = client.delete(f"/internal/categories/{tvs['id']}")
    assert response.status_code == 409
    assert response.json["error"]["code"] == "category_in_use"
    assert [c["name"] for c in client.get("/internal/categories").json["items"]] == ["TVs"]


def test_a_category_emptied_by_a_change_can_then_be_removed(client, add_product):
    tv = add_product("TV-55-SKYWORTH", category="Televisions")
    client.patch(f"/internal/products/{tv['id']}", json={"category": "TVs"})
    old = next(c for c in client.get("/internal/categories").json["items"] if c["name"] == "Televisions")
    assert client.delete(f"/internal/categories/{old['id']}").status_code == 204


# --- manufacturers and suppliers ------------------------------------------------------------------


def test_manufacturers_and_suppliers_are_listed_by_name_with_their_products(client, add_product):
    add_product("TV-55-SKYWORTH", manufacturer="Skyworth", supplier="Nanning Electric")
    add_product("TV-43-SKYWORTH", manufacturer="Skyworth", supplier="Guangxi Electric")
    hisense = add_product("TV-65-HISENSE", manufacturer="Hisense", supplier="Nanning Electric")
    withdraw(client, hisense)

    makers = [(m["name"], m["products"], m["withdrawn"]) for m in client.get("/internal/manufacturers").json["items"]]
    assert makers == [("Hisense", 0, 1), ("Skyworth", 2, 0)]
    suppliers = [(s["name"], s["products"], s["withdrawn"]) for s in client.get("/internal/suppliers").json["items"]]
    assert suppliers == [("Guangxi Electric", 1, 0), ("Nanning Electric", 1, 1)]


def test_products_are_found_by_supplier(client, add_product):
    add_product("TV-55-SKYWORTH", supplier="Nanning Electric")
    add_product("TV-65-HISENSE", supplier="Guangxi Electric")
    assert skus(client.get("/internal/products?supplier=NANNING ELECTRIC")) == ["TV-55-SKYWORTH"]
    assert client.get("/internal/products?status=gone").status_code == 422


def test_a_category_named_in_another_case_is_the_same_shelf(client, add_product):
    tv = add_product("TV-55-SKYWORTH")  # in "TVs"
    other = add_product("TV-65-HISENSE", category="tvs")
    assert other["category"] == "TVs"
    changed = client.patch(f"/internal/products/{tv['id']}", json={"category": "TVS"}).json
    assert changed["category"] == "TVs" and changed["changed"] == {}
    assert [c["name"] for c in client.get("/internal/categories").json["items"]] == ["TVs"]


def test_products_are_found_by_division_and_owning_unit(client, add_product):
    add_product("TV-55-SKYWORTH", division="electronics", unit="EL-WAREHOUSE")
    add_product("RICE-5KG", division="supermarket", unit=None)
    assert skus(client.get("/internal/products?division=supermarket")) == ["RICE-5KG"]
    assert skus(client.get("/internal/products?unit=EL-WAREHOUSE")) == ["TV-55-SKYWORTH"]
