"""Catalog's internal HTTP API (service to service, token required): products, categories, manufacturers,
suppliers, reviews, inquiries and auctions."""

from flask import Blueprint, request

from shared.web import load_body, not_found, schema_instance

from . import auctions, inquiries, services
from .config import runtime
from .schemas import (
    AuctionOut,
    AuctionQuery,
    BidOut,
    InquiryAnswer,
    InquiryOut,
    InquiryQuery,
    Lookup,
    NewAuction,
    NewBid,
    NewCategory,
    NewInquiry,
    NewProduct,
    NewReview,
    PageQuery,
    ProductChange,
    ProductOut,
    ProductQuery,
    ReviewOut,
    ReviewQuery,
    SellerAction,
)

bp = Blueprint("catalog", __name__, url_prefix="/internal")


@bp.post("/products")
def create_product():
    """`{"sku": "TV-55-SKYWORTH", "name": "...", "price": "2999.00", "category": "TVs", "manufacturer": "Skyworth",
    "supplier": "...", "division": "electronics", "unit": "EL-WAREHOUSE"}` -> 201 product; 409 `sku_taken`."""
    body = load_body(NewProduct)
    with runtime.db.session() as session, session.begin():
        product = services.create_product(session, body)
        return schema_instance(ProductOut).dump(product), 201


@bp.get("/products")
def search_products():
    """`?q=tv&category=TVs&min_price=1000.00&sort=price&page=1&per_page=20` -> `{items, total, page, per_page}`."""
    query = load_body(ProductQuery, request.args.to_dict())
    with runtime.db.session() as session, session.begin():  # reads end with COMMIT: see `Database.session`
        items, total = services.search_products(session, query)
        return {
            "items": schema_instance(ProductOut).dump(items, many=True),
            "total": total,
            "page": query["page"],
            "per_page": query["per_page"],
        }


@bp.get("/products/<id:product_id>")
def get_product(product_id: int):
    """A product; `?view=1` counts one view (the storefront's detail page), which ranks "hot" products."""
    count_view = request.args.get("view") in ("1", "true")
    with runtime.db.session() as session, session.begin():
        product = services.get_product(session, product_id, count_view=count_view)
        if product is None:
            raise not_found("Product")
        rating = services.rating_of(session, product_id)
        return schema_instance(ProductOut).dump(product) | {"rating": rating}


@bp.patch("/products/<id:product_id>")
def change_product(product_id: int):
    """`{"price": "2799.00", "name"?, "category"?, "manufacturer"?, "supplier"?}` -> the product with
    `changed: {field: [before, after]}`; 404; 422 for another `sku`, `division` or `unit`."""
    body = load_body(ProductChange)
    with runtime.db.session() as session, session.begin():
        product, changed = services.change_product(session, product_id, body)
        return schema_instance(ProductOut).dump(product) | {"changed": changed}


@bp.post("/products/<id:product_id>/<any(withdraw, restore):action>")
def withdraw_or_restore(product_id: int, action: str):
    """Withdraw a product from sale, or put it back (`restore`) -> the product; the same again changes nothing."""
    move = services.withdraw_product if action == "withdraw" else services.restore_product
    with runtime.db.session() as session, session.begin():
        return schema_instance(ProductOut).dump(move(session, product_id))


@bp.post("/products/lookup")
def lookup_products():
    """`{"skus": ["TV-55-SKYWORTH", "NOPE-1"]}` -> `{"items": [product], "missing": ["NOPE-1"]}`."""
    body = load_body(Lookup)
    with runtime.db.session() as session, session.begin():
        items, missing = services.lookup_products(session, body["skus"])
        return {"items": schema_instance(ProductOut).dump(items, many=True), "missing": missing}


@bp.get("/categories")
def list_categories():
    """`{"items": [{"id": 3, "name": "TVs", "products": 12, "withdrawn": 1}]}` (`products`: those on sale)."""
    with runtime.db.session() as session, session.begin():
        return {"items": services.list_categories(session)}


@bp.post("/categories")
def create_category():
    """`{"name": "Tea sets"}` -> 201 `{id, name, products: 0, withdrawn: 0}`; 409 `category_exists`."""
    body = load_body(NewCategory)
    with runtime.db.session() as session, session.begin():
        category = services.create_category(session, body["name"])
        session.flush()
        return {"id": category.id, "name": category.name, "products": 0, "withdrawn": 0}, 201


@bp.delete("/categories/<id:category_id>")
def delete_category(category_id: int):
    """-> 204; 404; 409 `category_in_use` while a product (on sale or withdrawn) names it."""
    with runtime.db.session() as session, session.begin():
        services.delete_category(session, category_id)
    return "", 204


@bp.get("/manufacturers")
def list_manufacturers():
    """`{"items": [{"id", "name": "Skyworth", "products": 12, "withdrawn": 0}]}`, by name."""
    with runtime.db.session() as session, session.begin():
        return {"items": services.list_manufacturers(session)}


@bp.get("/suppliers")
def list_suppliers():
    """`{"items": [{"id", "name": "Nanning Electric", "products": 30, "withdrawn": 2}]}`, by name."""
    with runtime.db.session() as session, session.begin():
        return {"items": services.list_suppliers(session)}


@bp.post("/products/<id:product_id>/reviews")
def write_review(product_id: int):
    """`{"member_id": 7, "rating": 5, "text": "...", "photos": ["https://..."], "order"?: "M..."}` -> 201 review;
    404 unknown product; 409 `not_purchased` (no completed order of it), `already_reviewed`."""
    body = load_body(NewReview)
    with runtime.db.session() as session, session.begin():
        review = services.write_review(session, product_id, body)
        return schema_instance(ReviewOut).dump(review), 201


@bp.get("/products/<id:product_id>/reviews")
def list_reviews(product_id: int):
    """`?rating=5&with_photos=1&page=1&per_page=20` -> `{items, total, page, per_page, rating}`, newest first."""
    query = load_body(ReviewQuery, request.args.to_dict())
    with runtime.db.session() as session, session.begin():
        items, total, rating = services.reviews_of(session, product_id, query)
        return {
            "items": schema_instance(ReviewOut).dump(items, many=True),
            "total": total,
            "page": query["page"],
            "per_page": query["per_page"],
            "rating": rating,
        }


# --- inquiries (咨询) ------------------------------------------------------------------------------


def _page(items, total: int, query: dict) -> dict:
    return {
        "items": schema_instance(InquiryOut).dump(items, many=True),
        "total": total,
        "page": query["page"],
        "per_page": query["per_page"],
    }


@bp.post("/products/<id:product_id>/inquiries")
def ask(product_id: int):
    """`{"member_id": 7, "question": "Is the 250 g tin in stock?", "quantity"?: 3, "public"?: true,
    "idempotency_key"?}` -> 201 inquiry (the same key again: the same one); 404; 409 `product_withdrawn`,
    `too_many_open_inquiries`, `idempotency_key_reused`."""
    body = load_body(NewInquiry)
    with runtime.db.session() as session, session.begin():
        inquiry, _ = inquiries.ask(session, product_id, body)
        session.flush()
        return schema_instance(InquiryOut).dump(inquiry), 201


@bp.get("/products/<id:product_id>/inquiries")
def answered_inquiries(product_id: int):
    """The product's answered public inquiries, newest answer first: `?page=&per_page=` -> `{items, total, page,
    per_page}`; 404."""
    query = load_body(PageQuery, request.args.to_dict())
    with runtime.db.session() as session, session.begin():
        items, total = inquiries.answered_on(session, product_id, query)
        return _page(items, total, query)


@bp.get("/inquiries")
def search_inquiries():
    """`?member_id=&product_id=&status=open|answered|all&unit=DS-TEA&branch=0|1&sort=newest|oldest&page=&per_page=`
    -> `{items, total, page, per_page}`; `unit` keeps what it sells (with `branch=1`: every supermarket product too)."""
    query = load_body(InquiryQuery, request.args.to_dict())
    with runtime.db.session() as session, session.begin():
        items, total = inquiries.search(session, query)
        return _page(items, total, query)


@bp.get("/inquiries/<id:inquiry_id>")
def get_inquiry(inquiry_id: int):
    """The inquiry; 404."""
    with runtime.db.session() as session, session.begin():
        return schema_instance(InquiryOut).dump(inquiries.get(session, inquiry_id))


@bp.post("/inquiries/<id:inquiry_id>/answer")
def answer_inquiry(inquiry_id: int):
    """`{"answer": "12 tins at the counter.", "available"?: 12, "by": "zhou_staff", "unit"?: "DS-TEA"}` -> the
    inquiry with `changed` (false: it had this very answer already); 404; 409 `already_answered`."""
    body = load_body(InquiryAnswer)
    with runtime.db.session() as session, session.begin():
        inquiry, changed = inquiries.answer(session, inquiry_id, body)
        return schema_instance(InquiryOut).dump(inquiry) | {"changed": changed}


# --- auctions -------------------------------------------------------------------------------------


@bp.post("/auctions")
def list_auction():
    """`{"seller_id": 7, "title": "Hand-painted teapot", "description": "...", "starting_price": "100.00",
    "reserve_price": "150.00", "ends_at"?: "2026-11-27T10:00:00+08:00", "idempotency_key"?}` -> 201 auction
    (the same key again: the same auction); 422 (reserve not above the start, end out of bounds);
    409 `idempotency_key_reused`."""
    body = load_body(NewAuction)
    with runtime.db.session() as session, session.begin():
        auction, _ = auctions.list_item(session, body, runtime.settings)
        return schema_instance(AuctionOut).dump(auction), 201


@bp.get("/auctions")
def search_auctions():
    """`?status=open&seller_id=7&sort=ending|newest&page=1&per_page=20` -> `{items, total, page, per_page}`."""
    query = load_body(AuctionQuery, request.args.to_dict())
    with runtime.db.session() as session, session.begin():
        items, total = auctions.search(session, query)
        return {
            "items": schema_instance(AuctionOut).dump(items, many=True),
            "total": total,
            "page": query["page"],
            "per_page": query["per_page"],
        }


@bp.get("/auctions/<id:auction_id>")
def get_auction(auction_id: int):
    """The auction with its latest bids, highest first: `{..., "bid_history": [bid]}`; 404."""
    with runtime.db.session() as session, session.begin():
        auction, bids = auctions.get(session, auction_id)
        return schema_instance(AuctionOut).dump(auction) | {
            "bid_history": schema_instance(BidOut).dump(bids, many=True)
        }


@bp.post("/auctions/<id:auction_id>/bids")
def place_bid(auction_id: int):
    """`{"bidder_id": 8, "amount": "120.00", "idempotency_key"?}` -> 201 `{"bid": bid, "auction": auction}` (the
    same key again: the same bid); 404; 409 `own_auction`, `auction_closed`, `bid_too_low`,
    `idempotency_key_reused`."""
    body = load_body(NewBid)
    with runtime.db.session() as session, session.begin():
        bid, _ = auctions.place_bid(session, auction_id, body)
        auction = session.get(auctions.Auction, auction_id)
        return {"bid": schema_instance(BidOut).dump(bid), "auction": schema_instance(AuctionOut).dump(auction)}, 201


@bp.post("/auctions/<id:auction_id>/cancel")
def cancel_auction(auction_id: int):
    """`{"seller_id": 7}` -> the auction, cancelled; 404; 403 `not_seller`; 409 `has_bids`, `auction_closed`."""
    body = load_body(SellerAction)
    with runtime.db.session() as session, session.begin():
        auction = auctions.cancel(session, auction_id, body["seller_id"])
        return schema_instance(AuctionOut).dump(auction)
