"""The OpenAPI document of the gateway (`GET /api/openapi.json`), built from the app's own routes.

Every rule in the URL map becomes a path, so nothing can be left out; the table below adds each
operation's request and response schemas (the same marshmallow schemas the views validate with).
"""

from __future__ import annotations

import json
import re
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, Flask, current_app

from shared.money import Money

from . import schemas as s

docs = Blueprint("docs", __name__, url_prefix="/api")

#: endpoint -> what it takes and answers: body/query schema, success status and schema.
OPERATIONS: dict[str, dict[str, Any]] = {
    "people.register": {"body": s.Registration, "ok": (201, s.UserOut)},
    "people.login": {"body": s.Login, "ok": (200, s.TokenOut), "errors": (401, 403, 422, 429)},
    "people.change_password": {"body": s.PasswordChange, "ok": (204, None)},
    "people.me": {"ok": (200, s.ProfileOut)},
    "people.forgot_password": {"body": s.PasswordForgotten, "ok": (202, None), "errors": (422,)},
    "people.reset_password": {"body": s.PasswordReset, "ok": (204, None), "errors": (422,)},
    "people.update_me": {"body": s.ProfileChange, "ok": (200, s.ProfileOut), "errors": (422,)},
    "people.log_out": {"ok": (204, None)},
    "shop.change_contact": {"body": s.ContactChange, "ok": (200, s.OrderOut), "errors": (404, 409, 422)},
    "shop.spending": {"ok": (200, s.SpendingOut)},
    "admin.create_staff": {"body": s.StaffAccount, "ok": (201, s.UserOut), "errors": (409, 422)},
    "admin.admin_log": {"query": s.AdminLogQuery, "ok": (200, s.AdminLogOut), "errors": (422,)},
    "staff_admin.list_staff": {"query": s.StaffQuery, "ok": (200, s.StaffPage), "errors": (422,)},
    "staff_admin.get_staff": {"ok": (200, s.StaffOut), "errors": (404,)},
    "staff_admin.disable_staff": {"body": s.StaffDisable, "ok": (200, s.StaffOut), "errors": (404, 409)},
    "staff_admin.enable_staff": {"body": s.Empty, "ok": (200, s.StaffOut), "errors": (404,)},
    "staff_admin.change_staff": {"body": s.StaffChange, "ok": (200, s.StaffOut), "errors": (404, 409)},
    "staff_admin.reset_password": {"body": s.StaffPasswordReset, "ok": (204, None), "errors": (404,)},
    "admin.create_unit": {"body": s.UnitIn, "ok": (201, None), "errors": (409, 422)},
    "admin.create_product": {"body": s.ProductIn, "ok": (201, None), "errors": (409, 422)},
    "admin.stock_in": {"body": s.StockIn, "ok": (201, None), "errors": (404, 422)},
    "admin.adjust_balance": {"body": s.BalanceAdjustment, "ok": (200, s.MemberBalanceOut), "errors": (404, 409, 422)},
    "admin.create_purchase_order": {"body": s.PurchaseOrderIn, "ok": (201, s.PurchaseOrderOut), "errors": (404, 422)},
    "admin.list_purchase_orders": {"query": s.PurchaseOrderQuery, "ok": (200, None), "errors": (422,)},
    "admin.get_purchase_order": {"ok": (200, s.PurchaseOrderOut), "errors": (404,)},
    "admin.move_purchase_order": {"ok": (200, s.PurchaseOrderOut), "errors": (404, 409)},
    "admin.purchase_notices": {"query": s.PurchaseNoticeQuery, "ok": (200, None), "errors": (422,)},
    "catalogue.list_products": {"query": s.AdminProductQuery, "ok": (200, s.AdminProductPage), "errors": (422,)},
    "catalogue.change_product": {"body": s.ProductChange, "ok": (200, s.ChangedProduct), "errors": (404, 422)},
    "catalogue.withdraw_product": {"ok": (200, s.AdminProduct), "errors": (404,)},
    "catalogue.restore_product": {"ok": (200, s.AdminProduct), "errors": (404,)},
    "catalogue.list_categories": {"ok": (200, s.NamedCountList)},
    "catalogue.create_category": {"body": s.CategoryIn, "ok": (201, s.NamedCount), "errors": (409, 422)},
    "catalogue.delete_category": {"ok": (204, None), "errors": (404, 409)},
    "catalogue.list_manufacturers": {"ok": (200, s.NamedCountList)},
    "catalogue.list_suppliers": {"ok": (200, s.NamedCountList)},
    "catalogue.stock_report": {"query": s.StockReportQuery, "ok": (200, s.StockReport), "errors": (422,)},
    "categories.public_categories": {"ok": (200, s.PublicCategoryList)},
    "members.search_members": {"query": s.MemberQuery, "ok": (200, s.MemberPage), "errors": (422,)},
    "shop.list_units": {"ok": (200, None)},
    "shop.search_products": {"query": s.ProductSearch, "ok": (200, s.ProductPage), "errors": (422,)},
    "shop.get_product": {"ok": (200, s.ProductDetail), "errors": (404,)},
    "shop.list_reviews": {"query": s.ReviewQuery, "ok": (200, s.ReviewPage), "errors": (404, 422)},
    "shop.write_review": {"body": s.ReviewIn, "ok": (201, s.ReviewOut), "errors": (404, 409, 422)},
    "shop.wallet": {"ok": (200, s.WalletOut)},
    "shop.place_order": {"body": s.OrderIn, "ok": (202, s.OrderPlaced), "errors": (409, 422), "key": True},
    "shop.list_orders": {"query": s.OrderListQuery, "ok": (200, s.OrderList)},
    "shop.get_order": {"ok": (200, s.OrderOut), "errors": (404,)},
    "shop.cancel_order": {"body": s.Cancellation, "ok": (202, s.OrderOut), "errors": (404, 409)},
    "shop.confirm_receipt": {"ok": (200, s.OrderOut), "errors": (404, 409)},
    "shop.pay_order": {"ok": (200, s.PaymentLink), "errors": (404, 409)},
    "shop.open_after_sale": {
        "body": s.AfterSaleIn,
        "ok": (201, s.AfterSaleOut),
        "errors": (404, 409, 422),
        "key": True,
    },
    "shop.order_after_sales": {"ok": (200, s.AfterSaleList), "errors": (404,)},
    "staff.list_after_sales": {"query": s.AfterSaleQuery, "ok": (200, s.AfterSaleList), "errors": (422,)},
    "staff.agree_after_sale": {"body": s.AfterSaleAgreement, "ok": (200, s.AfterSaleOut), "errors": (404, 409, 422)},
    "staff.answer_after_sale": {"body": s.AfterSaleAnswer, "ok": (200, s.AfterSaleOut), "errors": (404, 409, 422)},
    "staff.after_sale_received": {"body": s.AfterSaleReceived, "ok": (200, s.AfterSaleOut), "errors": (404, 409, 422)},
    "staff.list_claims": {"query": s.ClaimQuery, "ok": (200, s.ClaimList), "errors": (422,)},
    "staff.settle_claim": {"body": s.ClaimSettlement, "ok": (200, s.ClaimOut), "errors": (404, 409, 422)},
    "staff.reject_claim": {"body": s.ClaimRejection, "ok": (200, s.ClaimOut), "errors": (404, 409, 422)},
    "shop.health": {"ok": (200, s.HealthOut), "errors": (503,)},
    "addresses.list_addresses": {"ok": (200, s.AddressList)},
    "addresses.save_address": {"body": s.AddressSaved, "ok": (201, s.AddressOut), "errors": (409,)},
    "addresses.replace_address": {"body": s.AddressSaved, "ok": (200, s.AddressOut), "errors": (404, 409)},
    "addresses.delete_address": {"ok": (204, None), "errors": (404,)},
    "addresses.make_default": {"body": s.Empty, "ok": (200, s.AddressOut), "errors": (404,)},
    "cart.show_cart": {"ok": (200, s.CartOut)},
    "cart.put_item": {"body": s.CartQuantity, "ok": (200, s.CartLineOut), "errors": (409,)},
    "cart.remove_item": {"ok": (204, None), "errors": (404,)},
    "cart.empty_cart": {"ok": (204, None)},
    "cart.checkout": {"body": s.CheckoutIn, "ok": (202, s.OrderPlaced), "errors": (409,), "key": "required"},
    "auctions.list_auction": {"body": s.AuctionIn, "ok": (201, s.AuctionMine), "errors": (409, 422), "key": True},
    "auctions.search_auctions": {"query": s.AuctionQuery, "ok": (200, s.AuctionPage), "errors": (422,)},
    "auctions.my_auctions": {"query": s.AuctionQuery, "ok": (200, s.AuctionMinePage), "errors": (422,)},
    "auctions.get_auction": {"ok": (200, s.AuctionDetail), "errors": (404,)},
    "auctions.place_bid": {"body": s.BidIn, "ok": (201, s.BidPlaced), "errors": (404, 409, 422), "key": True},
    "auctions.cancel_auction": {"body": s.Empty, "ok": (200, s.AuctionMine), "errors": (403, 404, 409)},
    "inquiries.ask": {"body": s.InquiryIn, "ok": (201, s.InquiryMine), "errors": (404, 409, 422), "key": True},
    "inquiries.product_inquiries": {
        "query": s.InquiryPageQuery,
        "ok": (200, s.InquiryPublicPage),
        "errors": (404, 422),
    },
    "inquiries.my_inquiries": {"query": s.MyInquiryQuery, "ok": (200, s.InquiryMinePage), "errors": (422,)},
    "inquiries.staff_inquiries": {"query": s.StaffInquiryQuery, "ok": (200, s.InquiryStaffPage), "errors": (422,)},
    "inquiries.answer": {"body": s.InquiryAnswerIn, "ok": (200, s.InquiryStaff), "errors": (404, 409, 422)},
    "staff.list_tasks": {"query": s.TaskQuery, "ok": (200, s.TaskList)},
    "staff.task_done": {"body": s.TaskDone, "ok": (200, s.TaskOut), "errors": (404, 409)},
    "staff.close_batch": {"body": s.Empty, "ok": (200, s.BatchClosed)},
    "staff.list_deliveries": {"query": s.DeliveryQuery, "ok": (200, s.DeliveryList)},
    "staff.picked_up": {"body": s.PickUp, "ok": (200, s.DeliveryOut), "errors": (404, 409)},
    "staff.delivered": {"body": s.Handover, "ok": (200, s.DeliveryOut), "errors": (404, 409)},
    "staff.check_order": {"ok": (200, s.OrderOut), "errors": (404, 409)},
    "finance.order_copies": {"ok": (200, s.OrderCopies), "errors": (404,)},
    "finance.run_statements": {"body": s.StatementRun, "ok": (200, s.StatementList)},
    "finance.statements": {"query": s.MonthQuery, "ok": (200, s.StatementList), "errors": (422,)},
    "finance.sales_report": {"query": s.MonthQuery, "ok": (200, s.SalesReport), "errors": (422,)},
    "webhooks.kuaidi100": {
        "form": ("param", "sign"),
        "example": "kuaidi100",
        "ok": (200, s.PartnerAck),
        "errors": (400, 401, 404, 422),
    },
    "webhooks.alipay": {
        "form": ("out_trade_no", "trade_no", "total_amount", "trade_status", "sign_type", "sign"),
        "example": "alipay",
        "text": "success",
        "errors": (400, 401, 404, 503),
    },
    "webhooks.aftership": {"body": s.AfterShipPush, "raw": True, "ok": (200, None), "errors": (400, 401, 404)},
    "docs.openapi": {"ok": (200, None)},
}

#: A Kuaidi100 push as it arrives (form fields); `sign` is MD5(param + salt), upper-case hex.
KUAIDI100_EXAMPLE = {
    "param": json.dumps(
        {
            "status": "polling",
            "lastResult": {
                "state": "3",
                "ischeck": "1",
                "com": "shunfeng",
                "nu": "SF1234567890",
                "data": [{"context": "Signed for", "time": "2026-11-24 10:00:00", "ftime": "2026-11-24 10:00:00"}],
            },
        }
    ),
    "sign": "<upper-case hex MD5 of param + salt>",
}

#: An Alipay notification as it arrives (form fields; Alipay sends more, and signs all of them).
ALIPAY_EXAMPLE = {
    "notify_type": "trade_status_sync",
    "app_id": "2021000000000000",
    "out_trade_no": "M20261125000001-1a2b3c4d",
    "trade_no": "2026112522001400000000000001",
    "total_amount": "25.00",
    "trade_status": "TRADE_SUCCESS",
    "gmt_payment": "2026-11-25 10:00:01",
    "sign_type": "RSA2",
    "sign": "<base64 RSA-SHA256 signature of the other non-empty fields, sorted, as k=v&k=v>",
}
#: Form examples by the name OPERATIONS gives them.
FORM_EXAMPLES = {"kuaidi100": KUAIDI100_EXAMPLE, "alipay": ALIPAY_EXAMPLE}

_CONVERTER = re.compile(r"<(?:(?P<kind>[a-z]+)(?:\((?P<args>[^)]*)\))?:)?(?P<name>\w+)>")
_REASONS = {
    400: "Malformed request",
    401: "Not logged in, or a bad signature",
    403: "Not allowed for this role",
    404: "Not found",
    409: "Conflict",
    422: "Invalid input (see error.fields)",
    429: "Too many attempts (see Retry-After)",
    503: "An inner service is not available",
}


def _path(rule: str) -> tuple[str, list[dict[str, Any]]]:
    params = []
    for match in _CONVERTER.finditer(rule):
        schema: dict[str, Any] = {"type": "integer" if match["kind"] in ("int", "id") else "string"}
        if match["kind"] == "any":  # `<any(confirm, settle):action>`: one of these words
            schema["enum"] = [word.strip() for word in match["args"].split(",")]
        params.append({"in": "path", "name": match["name"], "required": True, "schema": schema})
    return _CONVERTER.sub(lambda m: "{" + m["name"] + "}", rule), params


def _operation(app: Flask, endpoint: str, method: str, path_params: list) -> dict[str, Any]:
    view = app.view_functions[endpoint]
    doc = (view.__doc__ or endpoint).strip()
    meta = OPERATIONS.get(endpoint, {})
    status, schema = meta.get("ok", (200, None))
    ok: dict[str, Any] = {"description": "Success"}
    if schema is not None:
        ok["content"] = {"application/json": {"schema": schema}}
    if "text" in meta:  # a partner's own reply format
        ok["content"] = {"text/plain": {"schema": {"type": "string", "example": meta["text"]}}}
    responses: dict[Any, Any] = {str(status): ok}
    roles = getattr(view, "roles", None)
    errors = set(meta.get("errors", ())) | ({401, 403} if roles is not None else set())
    if "body" in meta:
        errors |= {400, 422}
    if not endpoint.startswith(("people.", "docs.", "staff_admin.")) and endpoint != "admin.admin_log":
        errors.add(503)
    for code in sorted(errors):
        responses[str(code)] = {
            "description": _REASONS.get(code, "Error"),
            "content": {"application/json": {"schema": "ErrorOut"}},
        }
    if "text" in meta:  # the partner's own word for a notification it should send again
        responses["400"]["description"] += "; or the plain text `fail` (the notification does not match the order)"
        responses["400"]["content"]["text/plain"] = {"schema": {"type": "string", "example": "fail"}}
    operation: dict[str, Any] = {
        "operationId": endpoint.replace(".", "_"),
        "summary": doc.splitlines()[0],
        "description": doc,
        "tags": [endpoint.split(".", 1)[0]],
        "parameters": list(path_params),
        "responses": responses,
    }
    if roles is not None:
        operation["security"] = [{"bearer": []}]
        operation["x-roles"] = list(roles)  # empty: any logged-in caller
        if roles:
            operation["description"] += f"\n\nRoles: {', '.join(roles)}."
    if "query" in meta:
        operation["parameters"].append({"in": "query", "schema": meta["query"]})
    if meta.get("key"):
        required = meta["key"] == "required"  # the cart's checkout; POST /api/orders takes one if sent
        operation["parameters"].append(
            {"in": "header", "name": "Idempotency-Key", "required": required, "schema": {"type": "string"}}
        )
    if "body" in meta:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": meta["body"]}}}
    if "form" in meta:
        form = {
            "type": "object",
            "properties": {name: {"type": "string"} for name in meta["form"]},
            "required": list(meta["form"]),
            "example": FORM_EXAMPLES[meta["example"]],
        }
        operation["requestBody"] = {
            "required": True,
            "content": {"application/x-www-form-urlencoded": {"schema": form}},
        }
    if meta.get("raw"):
        operation["parameters"].append(
            {"in": "header", "name": "aftership-hmac-sha256", "required": True, "schema": {"type": "string"}}
        )
        operation["requestBody"] = operation.get("requestBody") or {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    return operation


def build_spec(app: Flask) -> dict[str, Any]:
    """The whole API as an OpenAPI 3 document: one path per URL rule of `app`."""
    plugin = MarshmallowPlugin()
    spec = APISpec(
        title="Mall gateway",
        version="1.0.0",
        openapi_version="3.0.3",
        plugins=[plugin],
        info={"description": "The mall's public API: storefront, staff consoles and partner callbacks (API.md)."},
    )
    plugin.map_to_openapi_type(Money, "string", "decimal")
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
    spec.components.schema("ErrorOut", schema=s.ErrorOut)
    paths: dict[str, dict[str, Any]] = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path, params = _path(rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(app, rule.endpoint, method, params)
    for path, operations in sorted(paths.items()):
        spec.path(path=path, operations=operations)
    return spec.to_dict()


@docs.get("/openapi.json")
def openapi():
    """This document: the gateway's whole public API in OpenAPI 3."""
    cached = current_app.extensions.get("openapi")
    if cached is None:
        cached = current_app.extensions["openapi"] = build_spec(current_app)
    return cached
