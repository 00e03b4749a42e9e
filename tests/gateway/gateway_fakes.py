"""An in-memory stand-in for the inner services, answering like docs/internal-api.md (the gateway's `inner`)."""

from __future__ import annotations

import itertools
from typing import Any

from shared.http import ServiceUnavailable
from shared.money import format_cents, to_cents
from shared.web import ApiError


class FakeInnerServices:
    """Catalog, stores, orders, billing and logistics, as far as the gateway can tell them apart."""

    def __init__(self):
        self.products: dict[int, dict[str, Any]] = {}
        #: Catalog's categories by id (created when a product first names one, or by an administrator).
        self.category_rows: dict[int, str] = {}
        self.units: dict[str, dict[str, Any]] = {}
        self.stock: dict[tuple[str, str], int] = {}
        #: Units of stock held for orders, by (unit, sku): on hand but not available.
        self.reserved: dict[tuple[str, str], int] = {}
        self.orders: dict[str, dict[str, Any]] = {}
        self.task_rows: dict[int, dict[str, Any]] = {}
        self.delivery_rows: dict[int, dict[str, Any]] = {}
        self.wallets: dict[int, int] = {}
        self.payments: dict[str, dict[str, Any]] = {}
        self.waybills: set[str] = set()
        self.tracked: list[dict[str, Any]] = []
        self.notices: list[dict[str, Any]] = []
        #: Catalog's reviews, and which orders each (member, product) received: what they may review.
        self.review_rows: list[dict[str, Any]] = []
        self.purchase_order_rows: dict[int, dict[str, Any]] = {}
        self.received: dict[tuple[int, int], list[str]] = {}
        #: Billing's finance side: copies by order number, each month's statements and sales report.
        self.copies: dict[str, list[dict[str, Any]]] = {}
        self.month_costs: dict[str, list[dict[str, Any]]] = {}
        self.built: dict[str, list[dict[str, Any]]] = {}
        self.sales: dict[str, list[dict[str, Any]]] = {}
        #: Orders' after-sales cases by id, and the bodies the gateway sent with each action.
        self.cases: dict[int, dict[str, Any]] = {}
        self.case_actions: list[tuple[int, str, dict[str, Any]]] = []
        #: Logistics' loss claims by id.
        self.claim_rows: dict[int, dict[str, Any]] = {}
        #: Catalog's auctions by id (as catalog answers them) and their bids, oldest first.
        self.auction_rows: dict[int, dict[str, Any]] = {}
        self.bid_rows: list[dict[str, Any]] = []
        #: Catalog's inquiries by id (as catalog answers them, with the product's id, SKU, name, division, unit).
        self.inquiry_rows: dict[int, dict[str, Any]] = {}
        self.calls: list[str] = []
        self.batches_closed_by: list[str] = []
        self.down: set[str] = set()
        self._ids = itertools.count(1)

    def _call(self, service: str, what: str) -> None:
        if service in self.down:
            raise ServiceUnavailable(f"{service} did not answer")
        self.calls.append(f"{service}.{what}")

    # --- catalog ---------------------------------------------------------------------------------

    def create_product(self, body):
        self._call("catalog", "create_product")
        if any(p["sku"] == body["sku"] for p in self.products.values()):
            raise ApiError(409, "sku_taken", "This SKU exists.")
        product = {"id": next(self._ids), "views": 0, "units_sold": 0, "unit": None} | body
        product |= {"on_sale": True, "withdrawn_at": None, "created_at": "2026-11-25T10:00:00+00:00"}
        self.products[product["id"]] = product
        self._category_named(body["category"])
        return product

    def _category_named(self, name):
        if name not in self.category_rows.values():
            self.category_rows[next(self._ids)] = name

    def search_products(self, params):
        self._call("catalog", "search_products")
        items = [p for p in self.products.values() if not params.get("q") or params["q"].lower() in p["name"].lower()]
        status = params.get("status", "on_sale")
        if status != "all":
            items = [p for p in items if p["on_sale"] == (status == "on_sale")]
        for name in ("manufacturer", "supplier"):
            if params.get(name):
                items = [p for p in items if p[name].lower() == params[name].lower()]
        if params.get("category"):
            items = [p for p in items if p["category"] == params["category"]]
        for name in ("division", "unit"):
            if params.get(name):
                items = [p for p in items if p.get(name) == params[name]]
        if params.get("max_price"):
            items = [p for p in items if to_cents(p["price"]) <= to_cents(params["max_price"])]
        page, per_page = params.get("page", 1), params.get("per_page", 20)
        return {
            "items": items[(page - 1) * per_page : page * per_page],
            "total": len(items),
            "page": page,
            "per_page": per_page,
        }

    def get_product(self, product_id, *, count_view=False):
        self._call("catalog", "get_product")
        product = self.products.get(product_id)
        if product is not None and count_view:
            product["views"] += 1
        return product

    def reviews(self, product_id, params):
        self._call("catalog", "reviews")
        if product_id not in self.products:
            return None
        rows = [r for r in self.review_rows if r["product_id"] == product_id]
        if params.get("rating"):
            rows = [r for r in rows if r["rating"] == params["rating"]]
        count = len(rows)
        average = round(sum(r["rating"] for r in rows) / count, 1) if count else None
        return {"items": rows[::-1], "total": count, "page": 1, "per_page": 20, "rating": {"average": average,
                "count": count, "by_rating": {}}}  # fmt: skip

    def write_review(self, product_id, body):
        """Catalog's rules, as far as the gateway can tell: only what the member received, once per order."""
        self._call("catalog", "write_review")
        if product_id not in self.products:
            raise ApiError(404, "not_found", "Product was not found.")
        orders = self.received.get((body["member_id"], product_id), [])
        done = {r["order"] for r in self.review_rows if r["product_id"] == product_id}
        if not orders:
            raise ApiError(409, "not_purchased", "Only a customer who received this product can review it.")
        left = [o for o in orders if o not in done]
        if not left:
            raise ApiError(409, "already_reviewed", "This purchase has its review already.")
        review = {"id": next(self._ids), "product_id": product_id, "order": left[0]}
        review["created_at"] = "2026-11-25T10:00:00+00:00"
        self.review_rows.append(review | body)
        return review | body

    def _product(self, product_id):
        product = self.products.get(product_id)
        if product is None:
            raise ApiError(404, "not_found", "Product was not found.")
        return product

    def change_product(self, product_id, body):
        """Catalog's rules, as far as the gateway can tell: SKU, division and unit stay; the rest changes."""
        self._call("catalog", "change_product")
        product = self._product(product_id)
        fixed = {k: ["Cannot be changed."] for k in ("sku", "division", "unit") if k in body and body[k] != product[k]}
        if fixed:
            raise ApiError(422, "validation_error", "Some fields are not valid.", fixed)
        changed = {k: [product[k], v] for k, v in body.items() if product[k] != v}
        product.update(body)
        if "category" in body:
            self._category_named(body["category"])
        return product | {"changed": changed}

    def withdraw_product(self, product_id):
        self._call("catalog", "withdraw_product")
        product = self._product(product_id)
        if product["on_sale"]:
            product |= {"on_sale": False, "withdrawn_at": "2026-11-26T09:00:00+00:00"}
        return product

    def restore_product(self, product_id):
        self._call("catalog", "restore_product")
        product = self._product(product_id)
        product |= {"on_sale": True, "withdrawn_at": None}
        return product

    def _counted(self, field, names):
        rows = []
        for row_id, name in names:
            mine = [p for p in self.products.values() if p[field] == name]
            on_sale = sum(p["on_sale"] for p in mine)
            rows.append({"id": row_id, "name": name, "products": on_sale, "withdrawn": len(mine) - on_sale})
        return {"items": sorted(rows, key=lambda r: r["name"])}

    def categories(self):
        self._call("catalog", "categories")
        return self._counted("category", self.category_rows.items())

    def create_category(self, name):
        self._call("catalog", "create_category")
        if name.lower() in (n.lower() for n in self.category_rows.values()):
            raise ApiError(409, "category_exists", f"A category called {name} exists already.")
        category_id = next(self._ids)
        self.category_rows[category_id] = name
        return {"id": category_id, "name": name, "products": 0, "withdrawn": 0}

    def delete_category(self, category_id):
        self._call("catalog", "delete_category")
        if category_id not in self.category_rows:
            raise ApiError(404, "not_found", "Category was not found.")
        if any(p["category"] == self.category_rows[category_id] for p in self.products.values()):
            raise ApiError(409, "category_in_use", "Products are in this category.")
        del self.category_rows[category_id]

    def _names(self, field):
        names = sorted({p[field] for p in self.products.values()})
        return [(i, name) for i, name in enumerate(names, start=1)]

    def manufacturers(self):
        self._call("catalog", "manufacturers")
        return self._counted("manufacturer", self._names("manufacturer"))

    def suppliers(self):
        self._call("catalog", "suppliers")
        return self._counted("supplier", self._names("supplier"))

    def lookup_products(self, skus):
        self._call("catalog", "lookup_products")
        by_sku = {p["sku"]: p for p in self.products.values()}
        # Copies, as over HTTP: what the gateway keeps must not change when the catalogue's product does.
        found = [dict(by_sku[s]) for s in skus if s in by_sku]
        return {"items": found, "missing": [s for s in skus if s not in by_sku]}

    def ask(self, product_id, body):
        """Catalog's rules, as far as the gateway can tell: on sale, three open per product, the same key again."""
        self._call("catalog", "ask")
        product = self._product(product_id)
        for row in self.inquiry_rows.values():
            if body["idempotency_key"] and (row["member_id"], row["_key"]) == (
                body["member_id"],
                body["idempotency_key"],
            ):
                return self._inquiry_view(row)
        if not product["on_sale"]:
            raise ApiError(409, "product_withdrawn", "This product is no longer sold.")
        mine = [
            r
            for r in self.inquiry_rows.values()
            if (r["member_id"], r["product"]["id"]) == (body["member_id"], product_id)
        ]
        if sum(r["status"] == "open" for r in mine) >= 3:
            raise ApiError(409, "too_many_open_inquiries", "Wait for an answer first.")
        inquiry_id = next(self._ids)
        self.inquiry_rows[inquiry_id] = {
            "id": inquiry_id,
            "product": {k: product[k] for k in ("id", "sku", "name", "division", "unit")},
            "member_id": body["member_id"],
            "question": body["question"],
            "quantity": body["quantity"],
            "public": body["public"],
            "status": "open",
            "answer": None,
            "available": None,
            "answered_by": None,
            "answered_unit": None,
            "created_at": f"2026-11-25T10:00:{inquiry_id:02d}+00:00",
            "answered_at": None,
            "_key": body["idempotency_key"],
        }
        return self._inquiry_view(self.inquiry_rows[inquiry_id])

    @staticmethod
    def _inquiry_view(row):
        return {k: v for k, v in row.items() if not k.startswith("_")}

    def _inquiry_page(self, rows, params):
        page, per_page = params.get("page", 1), params.get("per_page", 20)
        return {
            "items": [self._inquiry_view(r) for r in rows[(page - 1) * per_page : page * per_page]],
            "total": len(rows),
            "page": page,
            "per_page": per_page,
        }

    def product_inquiries(self, product_id, params):
        self._call("catalog", "product_inquiries")
        if product_id not in self.products:
            return None
        rows = [r for r in self.inquiry_rows.values() if r["product"]["id"] == product_id]
        rows = [r for r in rows if r["status"] == "answered" and r["public"]]
        return self._inquiry_page(sorted(rows, key=lambda r: (r["answered_at"], r["id"]), reverse=True), params)

    def inquiries(self, params):
        self._call("catalog", "inquiries")
        rows = [r for r in self.inquiry_rows.values() if params.get("member_id") in (None, r["member_id"])]
        if params.get("status", "all") != "all":
            rows = [r for r in rows if r["status"] == params["status"]]
        if params.get("unit"):
            rows = [
                r
                for r in rows
                if r["product"]["unit"] == params["unit"]
                or (params.get("branch") and r["product"]["division"] == "supermarket")
            ]
        rows.sort(key=lambda r: r["id"], reverse=params.get("sort", "newest") == "newest")
        return self._inquiry_page(rows, params)

    def inquiry(self, inquiry_id):
        self._call("catalog", "inquiry")
        row = self.inquiry_rows.get(inquiry_id)
        return None if row is None else self._inquiry_view(row)

    def answer_inquiry(self, inquiry_id, body):
        self._call("catalog", "answer_inquiry")
        row = self.inquiry_rows.get(inquiry_id)
        if row is None:
            raise ApiError(404, "not_found", "Inquiry was not found.")
        if row["status"] == "answered":
            if (row["answer"], row["available"]) != (body["answer"], body["available"]):
                raise ApiError(409, "already_answered", "This inquiry has its answer.")
            return self._inquiry_view(row) | {"changed": False}
        row.update(
            status="answered",
            answer=body["answer"],
            available=body["available"],
            answered_by=body["by"],
            answered_unit=body["unit"],
            answered_at=f"2026-11-25T11:00:{inquiry_id:02d}+00:00",
        )
        return self._inquiry_view(row) | {"changed": True}

    def create_auction(self, body):
        """Catalog's listing, as far as the gateway can tell: the same key returns the same auction."""
        self._call("catalog", "create_auction")
        for row in self.auction_rows.values():
            if body["idempotency_key"] and (row["seller_id"], row["_key"]) == (
                body["seller_id"],
                body["idempotency_key"],
            ):
                return self._auction_view(row)
        auction_id = next(self._ids)
        self.auction_rows[auction_id] = {
            "id": auction_id,
            "seller_id": body["seller_id"],
            "title": body["title"],
            "description": body["description"],
            "starting_price": body["starting_price"],
            "reserve_price": body["reserve_price"],
            "highest": None,
            "highest_bidder_id": None,
            "bids": 0,
            "status": "open",
            "outcome": None,
            "ends_at": body["ends_at"] or "2026-11-27T02:00:00+00:00",
            "created_at": "2026-11-25T02:00:00+00:00",
            "closed_at": None,
            "_key": body["idempotency_key"],
        }
        return self._auction_view(self.auction_rows[auction_id])

    def _auction_view(self, row):
        from services.catalog.models import bid_increment

        highest = row["highest"]
        least = to_cents(row["starting_price"]) if highest is None else highest + bid_increment(highest)
        view = {k: v for k, v in row.items() if not k.startswith("_") and k != "highest"}
        return view | {
            "current_price": None if highest is None else format_cents(highest),
            "min_next_bid": format_cents(least) if row["status"] == "open" else None,
            "reserve_met": highest is not None and highest > to_cents(row["reserve_price"]),
            "settled_at": None,
        }

    def auctions(self, params):
        self._call("catalog", "auctions")
        rows = [r for r in self.auction_rows.values() if params.get("status") in (None, r["status"])]
        rows = [r for r in rows if params.get("seller_id") in (None, r["seller_id"])]
        page, per_page = params.get("page", 1), params.get("per_page", 20)
        return {
            "items": [self._auction_view(r) for r in rows[(page - 1) * per_page : page * per_page]],
            "total": len(rows),
            "page": page,
            "per_page": per_page,
        }

    def auction(self, auction_id):
        self._call("catalog", "auction")
        row = self.auction_rows.get(auction_id)
        if row is None:
            return None
        bids = sorted((b for b in self.bid_rows if b["auction_id"] == auction_id), key=lambda b: -to_cents(b["amount"]))
        return self._auction_view(row) | {"bid_history": bids}

    def place_bid(self, auction_id, body):
        """Catalog's bidding rules, as far as the gateway can tell them apart."""
        self._call("catalog", "place_bid")
        row = self.auction_rows.get(auction_id)
        if row is None:
            raise ApiError(404, "not_found", "Auction was not found.")
        for earlier in self.bid_rows:
            if body["idempotency_key"] and (earlier["bidder_id"], earlier["_key"]) == (
                body["bidder_id"],
                body["idempotency_key"],
            ):
                return {"bid": earlier, "auction": self._auction_view(row)}
        if row["seller_id"] == body["bidder_id"]:
            raise ApiError(409, "own_auction", "A seller may not bid on their own auction.")
        if row["status"] != "open":
            raise ApiError(409, "auction_closed", "This auction has ended; no more bids.")
        amount, least = to_cents(body["amount"]), to_cents(self._auction_view(row)["min_next_bid"])
        if amount < least:
            raise ApiError(409, "bid_too_low", f"A bid must be at least {format_cents(least)}.")
        bid = {
            "id": next(self._ids),
            "auction_id": auction_id,
            "bidder_id": body["bidder_id"],
            "amount": body["amount"],
            "created_at": "2026-11-25T03:00:00+00:00",
            "_key": body["idempotency_key"],
        }
        self.bid_rows.append(bid)
        row.update(highest=amount, highest_bidder_id=body["bidder_id"], bids=row["bids"] + 1)
        return {"bid": bid, "auction": self._auction_view(row)}

    def cancel_auction(self, auction_id, seller_id):
        self._call("catalog", "cancel_auction")
        row = self.auction_rows.get(auction_id)
        if row is None:
            raise ApiError(404, "not_found", "Auction was not found.")
        if row["seller_id"] != seller_id:
            raise ApiError(403, "not_seller", "Only the seller may cancel an auction.")
        if row["bids"]:
            raise ApiError(409, "has_bids", "Somebody has bid: the auction runs to its end.")
        row.update(status="cancelled", outcome="cancelled by the seller")
        return self._auction_view(row)

    # --- stores ----------------------------------------------------------------------------------

    def create_unit(self, body):
        self._call("stores", "create_unit")
        if body["code"] in self.units:
            raise ApiError(409, "unit_exists", "This unit exists.")
        self.units[body["code"]] = {"channel": "queue", "auto_pack": False} | body
        return self.units[body["code"]]

    def list_units(self):
        self._call("stores", "list_units")
        return {"items": list(self.units.values())}

    def stock_in(self, body):
        self._call("stores", "stock_in")
        if body["unit"] not in self.units:
            raise ApiError(404, "not_found", "Unit was not found.")
        key = (body["unit"], body["sku"])
        self.stock[key] = self.stock.get(key, 0) + body["quantity"]
        on_hand = self.stock[key]
        return {"unit": body["unit"], "sku": body["sku"], "on_hand": on_hand, "reserved": 0, "available": on_hand}

    def create_purchase_order(self, body):
        self._call("stores", "create_purchase_order")
        if body["unit"] not in self.units:
            raise ApiError(404, "not_found", "Unit was not found.")
        order = {"id": next(self._ids), "status": "draft", "total": "0.00"} | body
        self.purchase_order_rows[order["id"]] = order
        return order

    def purchase_orders(self, params):
        self._call("stores", "purchase_orders")
        rows = [o for o in self.purchase_order_rows.values() if all(o.get(k) == v for k, v in params.items())]
        return {"items": rows}

    def purchase_order(self, order_id):
        self._call("stores", "purchase_order")
        return self.purchase_order_rows.get(order_id)

    def move_purchase_order(self, order_id, action):
        """Stores' rules: (the statuses it may move from, the status it moves to); a repeat changes nothing."""
        self._call("stores", f"{action}_purchase_order")
        order = self.purchase_order_rows.get(order_id)
        if order is None:
            raise ApiError(404, "not_found", "Purchase order was not found.")
        moves = {
            "confirm": (("draft",), "confirmed"),
            "receive": (("confirmed",), "received"),
            "settle": (("received",), "settled"),
            "cancel": (("draft", "confirmed"), "cancelled"),
        }
        before, after = moves[action]
        if order["status"] not in (*before, after):
            raise ApiError(409, "not_allowed", f"A {order['status']} purchase order cannot become {after}.")
        order["status"] = after
        return order

    def purchase_notices(self, unit):
        self._call("stores", "purchase_notices")
        return {"items": [{"unit": unit or "SM-GUOMAO", "sku": "RICE-5KG", "status": "open"}]}

    def availability(self, skus):
        self._call("stores", "availability")
        return [
            {"sku": sku, "unit": unit, "on_hand": n, "reserved": self.reserved.get((unit, sku), 0),
             "available": n - self.reserved.get((unit, sku), 0)}
            for (unit, sku), n in self.stock.items()
            if sku in skus
        ]  # fmt: skip

    def tasks_of(self, unit):
        return [t for t in self.task_rows.values() if t["unit"] == unit]

    def tasks(self, unit, status):
        self._call("stores", "tasks")
        return {"items": [t for t in self.tasks_of(unit) if status == "all" or t["status"] == status]}

    def task_done(self, task_id, unit, slip_no):
        self._call("stores", "task_done")
        task = self.task_rows.get(task_id)
        if task is None or task["unit"] != unit:
            raise ApiError(404, "not_found", "Task was not found.")
        task.update(status="done", slip_no=slip_no or "S-0001")
        return task

    # --- orders ----------------------------------------------------------------------------------

    def get_order(self, number):
        self._call("orders", "get_order")
        return self.orders.get(number)

    def list_orders(self, member_id):
        self._call("orders", "list_orders")
        return [o for o in self.orders.values() if o["member_id"] == member_id]

    def known_orders(self, numbers):
        self._call("orders", "known_orders")
        return [n for n in dict.fromkeys(numbers) if n in self.orders]

    def cancel_order(self, number, reason):
        self._call("orders", "cancel_order")
        order = self.orders[number]
        if order["status"] in ("shipping", "delivered", "completed", "cancelled"):
            raise ApiError(409, "not_cancellable", "The order can no longer be cancelled.")
        order["status"] = "cancelled"
        return order

    def change_contact(self, number, contact, by):
        self._call("orders", "change_contact")
        order = self.orders[number]
        if order["status"] not in ("placed", "awaiting_payment", "paid", "packing"):
            raise ApiError(409, "contact_locked", "The parcels are packed.")
        order["address"] = order.get("address", {}) | contact
        return order

    def confirm_receipt(self, number):
        self._call("orders", "confirm_receipt")
        order = self.orders[number]
        if order["status"] != "delivered":
            raise ApiError(409, "not_delivered", "The order has not been delivered.")
        order["status"] = "completed"
        return order

    def check_order(self, number):
        self._call("orders", "check_order")
        order = self.orders.get(number)
        if order is None:
            raise ApiError(404, "not_found", "Order was not found.")
        order["status"] = "paid"
        return order

    def open_after_sale(self, number, body):
        self._call("orders", "open_after_sale")
        order = self.orders[number]
        if order["member_id"] != body["member_id"]:
            raise ApiError(404, "not_found", "Order was not found.")
        if order["status"] not in ("delivered", "completed"):
            raise ApiError(409, "not_after_sales", "After-sales opens once the order is delivered.")
        for case in self.cases.values():
            if body["idempotency_key"] and case["key"] == body["idempotency_key"]:
                return case
        case_id = next(self._ids)
        units = {f["unit"] for f in order["fulfilments"]} if body["lines"] else {None}
        case = {
            "id": case_id,
            "order": number,
            "member_id": body["member_id"],
            "unit": sorted(units, key=str)[0],
            "kind": body["kind"],
            "problem": body["problem"],
            "reason": body["reason"],
            "items": [line | {"name": line["sku"], "amount": "12.50"} for line in body["lines"]],
            "claimed": "12.50",
            "status": "requested",
            "resolution": None,
            "refund": None,
            "restock": None,
            "reply": None,
            "handled_by": None,
            "created_at": "2026-11-25T10:00:00+00:00",
            "updated_at": "2026-11-25T10:00:00+00:00",
            "closed_at": None,
            "key": body["idempotency_key"],
        }
        self.cases[case_id] = case
        return case

    def order_after_sales(self, number):
        self._call("orders", "order_after_sales")
        return {"items": [c for c in self.cases.values() if c["order"] == number]}

    def after_sales(self, params):
        self._call("orders", "after_sales")
        cases = [c for c in self.cases.values() if not params.get("unit") or c["unit"] == params["unit"]]
        return {"items": [c for c in cases if not params.get("status") or c["status"] == params["status"]]}

    def after_sale(self, case_id):
        self._call("orders", "after_sale")
        return self.cases.get(case_id)

    def move_after_sale(self, case_id, action, body):
        self._call("orders", f"after_sale_{action}")
        self.case_actions.append((case_id, action, body))
        case = self.cases[case_id]
        if action == "agree":
            refund = body["refund_cents"] if body["refund_cents"] is not None else 1250
            case |= {"status": "refunding", "resolution": body["resolution"], "refund": format_cents(refund)}
        elif action == "reply":
            case |= {"status": "closed", "reply": body["reply"]}
        else:
            case |= {"status": "refunding", "restock": body["restock"]}
        return case | {"handled_by": body["by"]}

    # --- billing ---------------------------------------------------------------------------------

    def wallet(self, member_id):
        self._call("billing", "wallet")
        return {"member_id": member_id, "balance": format_cents(self.wallets.get(member_id, 0))}

    def adjust_wallet(self, member_id, delta, reason, key):
        self._call("billing", "adjust_wallet")
        balance = self.wallets.get(member_id, 0) + to_cents(delta)
        if balance < 0:
            raise ApiError(409, "insufficient_balance", "The balance cannot go below zero.")
        self.wallets[member_id] = balance
        return {"member_id": member_id, "balance": format_cents(balance)}

    def spending(self, member_id):
        self._call("billing", "spending")
        paid = [p for p in self.payments.values() if p.get("member_id") == member_id and p.get("captured_at")]
        return {
            "spent": format_cents(sum(p["amount_cents"] - p["refunded_cents"] for p in paid)),
            "items": [
                {
                    "order": p["order"],
                    "method": p["method"],
                    "paid": format_cents(p["amount_cents"]),
                    "refunded": format_cents(p["refunded_cents"]),
                    "paid_at": p["captured_at"],
                    "items": [],
                }
                for p in paid
            ],
        }

    def payment(self, number):
        self._call("billing", "payment")
        return self.payments.get(number)

    def payment_notified(self, notice):
        """Billing's answer to a provider notification: 404 unknown trade, 400 another amount, else recorded."""
        self._call("billing", "payment_notified")
        payment = next((p for p in self.payments.values() if p.get("out_trade_no") == notice["out_trade_no"]), None)
        if payment is None:
            raise ApiError(404, "not_found", "Payment was not found.")
        if to_cents(notice["amount"]) != payment["amount_cents"]:
            raise ApiError(400, "amount_mismatch", "The amount does not match the order's payment.")
        self.notices.append(notice)
        return {"order": payment["order"], "status": "captured", "changed": True}

    # --- finance (billing) ----------------------------------------------------------------------

    def order_copies(self, number):
        self._call("billing", "order_copies")
        if number not in self.copies:
            raise ApiError(404, "not_found", "Order was not found.")
        return {"copies": self.copies[number]}

    def run_statements(self, month):
        """Billing's run, as far as the gateway can tell: the month's statements, built from what is set up."""
        self._call("billing", "run_statements")
        self.built[month] = [dict(row, month=month) for row in self.month_costs.get(month, [])]
        return {"month": month, "items": self.built[month]}

    def statements(self, month):
        self._call("billing", "statements")
        return {"month": month, "items": self.built.get(month, [])}

    def sales_report(self, month):
        self._call("billing", "sales_report")
        return {"month": month, "items": self.sales.get(month, [])}

    # --- logistics -------------------------------------------------------------------------------

    def claims(self, params):
        self._call("logistics", "claims")
        rows = self.claim_rows.values()
        return {"items": [c for c in rows if not params.get("status") or c["status"] == params["status"]]}

    def _open_claim(self, claim_id):
        claim = self.claim_rows.get(claim_id)
        if claim is None:
            raise ApiError(404, "not_found", f"Claim {claim_id} was not found.")
        if claim["status"] != "open":
            raise ApiError(409, "claim_not_open", f"Claim {claim_id} is {claim['status']}.")
        return claim

    def settle_claim(self, claim_id, paid_cents, by):
        self._call("logistics", "settle_claim")
        claim = self._open_claim(claim_id)
        if paid_cents > to_cents(claim["claimed"]):
            raise ApiError(422, "validation_error", "At most what was claimed.", {"paid": ["too much"]})
        claim |= {"status": "paid", "paid": format_cents(paid_cents), "settled_by": by}
        return claim

    def reject_claim(self, claim_id, note, by):
        self._call("logistics", "reject_claim")
        claim = self._open_claim(claim_id)
        claim |= {"status": "rejected", "note": note, "settled_by": by}
        return claim

    def close_batch(self, closed_by):
        self._call("logistics", "close_batch")
        self.batches_closed_by.append(closed_by)
        return {"batch": "B20261124-1", "deliveries": len(self.delivery_rows)}

    def deliveries(self, status=None):
        self._call("logistics", "deliveries")
        return {"items": list(self.delivery_rows.values())}

    def picked_up(self, delivery_id, signature, courier):
        self._call("logistics", "picked_up")
        return self.delivery_rows[delivery_id] | {"status": "picked_up", "courier": courier}

    def delivered(self, delivery_id, signed_by, courier):
        self._call("logistics", "delivered")
        return self.delivery_rows[delivery_id] | {"status": "delivered", "signed_by": signed_by}

    def track(self, body):
        self._call("logistics", "track")
        if body["waybill"] not in self.waybills:
            raise ApiError(404, "not_found", "Waybill was not found.")
        self.tracked.append(body)
        return {"accepted": len(body["events"]), "duplicates": 0}

    # --- health ----------------------------------------------------------------------------------

    def health(self):
        return {
            name: (name not in self.down, {"service": name, "status": "ok" if name not in self.down else "starting"})
            for name in ("catalog", "orders", "stores", "logistics", "billing")
        }
