"""Catalog's HTTP schemas: a new or changed product, the search query, a lookup, categories, and the product as
callers see it; reviews; inquiries; auctions and bids."""

from datetime import UTC, datetime
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, pre_load, validate, validates_schema

from shared.money import Money, format_cents

from .models import AUCTION_STATUSES, DIVISIONS, INQUIRY_STATUSES

SORTS = ("price", "-price", "newest", "hot")
#: Which products a search sees: those on sale (the storefront's), those withdrawn, or every one.
STATUSES = ("on_sale", "withdrawn", "all")


def _name(max_length: int = 100) -> fields.String:
    return fields.String(required=True, validate=validate.Length(min=1, max=max_length))


def _strip_strings(data: Any) -> Any:
    """ " Hometown " and "Hometown" are one manufacturer: trim before validating."""
    if not isinstance(data, dict):
        return data
    return {k: v.strip() if isinstance(v, str) else v for k, v in data.items()}


class NewProduct(Schema):
    sku = fields.String(
        required=True,
        validate=validate.Regexp(
            r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$",
            error="Letters, digits and . _ / - only, at most 64 characters.",
        ),
    )
    name = _name(200)
    price = Money(required=True, positive=True)
    category = _name()
    manufacturer = _name()
    supplier = _name()
    division = fields.String(required=True, validate=validate.OneOf(DIVISIONS))
    unit = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Regexp(r"^[A-Za-z0-9_-]{1,32}$", error="A unit code such as DS-COSMETICS."),
    )

    @pre_load
    def strip(self, data: Any, **_: Any) -> Any:
        return _strip_strings(data)

    @validates_schema
    def unit_unless_supermarket(self, data: dict[str, Any], **_: Any) -> None:
        # Supermarket goods are sold by every branch that stocks them; everything else has one owner.
        if data.get("division") != "supermarket" and not data.get("unit"):
            raise ValidationError("Required unless the division is supermarket.", "unit")


class ProductChange(Schema):
    """What an administrator may change of a product: any of these, at least one.

    `sku`, `division` and `unit` may be sent only as they are (a form that sends the whole product):
    services.change_product refuses another value, with the reason.
    """

    name = fields.String(validate=validate.Length(min=1, max=200))
    price = Money(positive=True)
    category = fields.String(validate=validate.Length(min=1, max=100))
    manufacturer = fields.String(validate=validate.Length(min=1, max=100))
    supplier = fields.String(validate=validate.Length(min=1, max=100))
    sku = fields.String(validate=validate.Length(min=1, max=64))
    division = fields.String(validate=validate.OneOf(DIVISIONS))
    unit = fields.String(allow_none=True, validate=validate.Length(min=1, max=32))

    @pre_load
    def strip(self, data: Any, **_: Any) -> Any:
        return _strip_strings(data)

    @validates_schema
    def something_to_change(self, data: dict[str, Any], **_: Any) -> None:
        if not data:
            raise ValidationError("Send at least one of name, price, category, manufacturer, supplier.")


class NewCategory(Schema):
    name = _name()

    @pre_load
    def strip(self, data: Any, **_: Any) -> Any:
        return _strip_strings(data)


class ProductQuery(Schema):
    class Meta:
        unknown = EXCLUDE  # the gateway may pass its own query parameters along

    q = fields.String(load_default=None, validate=validate.Length(max=100))
    category = fields.String(load_default=None, validate=validate.Length(max=100))
    manufacturer = fields.String(load_default=None, validate=validate.Length(max=100))
    supplier = fields.String(load_default=None, validate=validate.Length(max=100))
    #: Exact: the products of one division, or those one unit owns (the stock report narrows by them).
    division = fields.String(load_default=None, validate=validate.Length(max=32))
    unit = fields.String(load_default=None, validate=validate.Length(max=32))
    status = fields.String(load_default="on_sale", validate=validate.OneOf(STATUSES))
    min_price = Money(load_default=None, validate=validate.Range(min=0))
    max_price = Money(load_default=None, validate=validate.Range(min=0))
    sort = fields.String(load_default=None, validate=validate.OneOf(SORTS))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))

    @pre_load
    def drop_empty(self, data: Any, **_: Any) -> Any:
        # A search form sends `?q=&category=`: an empty parameter means "any".
        return {k: v for k, v in _strip_strings(data).items() if v != ""}

    @validates_schema
    def price_range(self, data: dict[str, Any], **_: Any) -> None:
        low, high = data.get("min_price"), data.get("max_price")
        if low is not None and high is not None and low > high:
            raise ValidationError("Must not be below min_price.", "max_price")


class Lookup(Schema):
    skus = fields.List(
        fields.String(validate=validate.Length(min=1, max=64)), required=True, validate=validate.Length(max=500)
    )


def _iso(value: datetime) -> str:
    # SQLite hands back naive datetimes; everything is stored in UTC.
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()


class ProductOut(Schema):
    id = fields.Integer()
    sku = fields.String()
    name = fields.String()
    price = Money(attribute="price_cents")
    category = fields.Function(lambda p: p.category.name)
    manufacturer = fields.Function(lambda p: p.manufacturer.name)
    supplier = fields.Function(lambda p: p.supplier.name)
    division = fields.String()
    unit = fields.String(allow_none=True)
    views = fields.Integer()
    units_sold = fields.Integer()
    created_at = fields.Function(lambda p: _iso(p.created_at))
    on_sale = fields.Boolean()
    withdrawn_at = fields.Function(lambda p: _iso(p.withdrawn_at) if p.withdrawn_at else None)


#: A review may show up to nine photos (as the storefronts' 晒单 does), each a link to where it is stored.
MAX_PHOTOS = 9


class NewReview(Schema):
    """A member's review of a product they received: `member_id` comes from the gateway, never the body."""

    member_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=2**31 - 1))
    rating = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=5))
    text = fields.String(required=True, validate=validate.Length(min=1, max=1000))
    photos = fields.List(
        fields.Url(schemes={"http", "https"}, validate=validate.Length(max=500)),
        load_default=list,
        validate=validate.Length(max=MAX_PHOTOS),
    )
    #: Which completed order the review is of; unset: the member's oldest order of it not yet reviewed.
    order = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=32))

    @pre_load
    def strip(self, data: Any, **_: Any) -> Any:
        return _strip_strings(data)


class PageQuery(Schema):
    """A page of a list (`?page=&per_page=`); an empty parameter means the default."""

    class Meta:
        unknown = EXCLUDE

    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))

    @pre_load
    def drop_empty(self, data: Any, **_: Any) -> Any:
        return {k: v for k, v in data.items() if v != ""}


class ReviewQuery(PageQuery):
    rating = fields.Integer(load_default=None, validate=validate.Range(min=1, max=5))
    with_photos = fields.Boolean(load_default=False)


class ReviewOut(Schema):
    id = fields.Integer()
    product_id = fields.Integer()
    member_id = fields.Integer()
    order = fields.String()
    rating = fields.Integer()
    text = fields.String()
    photos = fields.List(fields.String())
    created_at = fields.Function(lambda r: _iso(r.created_at))


# --- inquiries (咨询) ------------------------------------------------------------------------------

#: The most a customer may say they want, as an order line's most (the gateway's MAX_LINE_QUANTITY).
MAX_QUANTITY = 100_000
#: The most a unit may say it can supply: more is a typo.
MAX_AVAILABLE = 1_000_000


class NewInquiry(Schema):
    """A member's question about a product: `member_id` comes from the gateway, never the body."""

    member_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=2**31 - 1))
    question = fields.String(required=True, validate=validate.Length(min=1, max=500))
    quantity = fields.Integer(
        load_default=None, allow_none=True, strict=True, validate=validate.Range(min=1, max=MAX_QUANTITY)
    )
    public = fields.Boolean(load_default=True)
    idempotency_key = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=100))

    @pre_load
    def strip(self, data: Any, **_: Any) -> Any:
        return _strip_strings(data)


class InquiryAnswer(Schema):
    """A unit's (or customer service's) answer: `by` is the staff member, `unit` their unit (none for customer
    service), both from the gateway."""

    answer = fields.String(required=True, validate=validate.Length(min=1, max=1000))
    available = fields.Integer(
        load_default=None, allow_none=True, strict=True, validate=validate.Range(min=0, max=MAX_AVAILABLE)
    )
    by = fields.String(required=True, validate=validate.Length(min=1, max=64))
    unit = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=32))

    @pre_load
    def strip(self, data: Any, **_: Any) -> Any:
        return _strip_strings(data)


class InquiryQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    member_id = fields.Integer(load_default=None, validate=validate.Range(min=1, max=2**31 - 1))
    product_id = fields.Integer(load_default=None, validate=validate.Range(min=1, max=2**31 - 1))
    status = fields.String(load_default="all", validate=validate.OneOf((*INQUIRY_STATUSES, "all")))
    #: What a unit sells: the products it owns, and with `branch` every supermarket product as well (a
    #: supermarket branch sells them all: API.md).
    unit = fields.String(load_default=None, validate=validate.Length(min=1, max=32))
    branch = fields.Boolean(load_default=False)
    sort = fields.String(load_default="newest", validate=validate.OneOf(("newest", "oldest")))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))

    @pre_load
    def drop_empty(self, data: Any, **_: Any) -> Any:
        return {k: v for k, v in data.items() if v != ""}


class InquiryProductOut(Schema):
    id = fields.Integer()
    sku = fields.String()
    name = fields.String()
    division = fields.String()
    unit = fields.String(allow_none=True)


class InquiryOut(Schema):
    """An inquiry as catalog tells it (the gateway decides what each caller sees: who asked, who answered)."""

    id = fields.Integer()
    product = fields.Nested(InquiryProductOut)
    member_id = fields.Integer()
    question = fields.String()
    quantity = fields.Integer(allow_none=True)
    public = fields.Boolean()
    status = fields.String()
    answer = fields.String(allow_none=True)
    available = fields.Integer(allow_none=True)
    answered_by = fields.String(allow_none=True)
    answered_unit = fields.String(allow_none=True)
    created_at = fields.Function(lambda i: _iso(i.created_at))
    answered_at = fields.Function(lambda i: _iso(i.answered_at) if i.answered_at else None)


# --- auctions -------------------------------------------------------------------------------------

AUCTION_SORTS = ("ending", "newest")


def _member_id() -> fields.Integer:
    return fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=2**31 - 1))


def _key() -> fields.String:
    return fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=100))


class NewAuction(Schema):
    """A member lists an item: `seller_id` comes from the gateway, never the body. `ends_at` unset: 48 hours on."""

    seller_id = _member_id()
    title = _name(200)
    description = fields.String(load_default="", validate=validate.Length(max=2000))
    starting_price = Money(required=True, positive=True, validate=validate.Range(max=10**10))
    reserve_price = Money(required=True, positive=True, validate=validate.Range(max=10**10))
    ends_at = fields.AwareDateTime(load_default=None, allow_none=True, format="iso")
    idempotency_key = _key()

    @pre_load
    def strip(self, data: Any, **_: Any) -> Any:
        return _strip_strings(data)

    @validates_schema
    def reserve_above_start(self, data: dict[str, Any], **_: Any) -> None:
        # DOMAIN.md: 底价应大于起拍价, the reserve must be above the starting price.
        start, reserve = data.get("starting_price"), data.get("reserve_price")
        if start is not None and reserve is not None and reserve <= start:
            raise ValidationError("Must be above the starting price.", "reserve_price")


class AuctionQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    status = fields.String(load_default=None, validate=validate.OneOf(AUCTION_STATUSES))
    seller_id = fields.Integer(load_default=None, validate=validate.Range(min=1, max=2**31 - 1))
    sort = fields.String(load_default="ending", validate=validate.OneOf(AUCTION_SORTS))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))

    @pre_load
    def drop_empty(self, data: Any, **_: Any) -> Any:
        return {k: v for k, v in data.items() if v != ""}


class NewBid(Schema):
    bidder_id = _member_id()
    amount = Money(required=True, positive=True, validate=validate.Range(max=10**10))
    idempotency_key = _key()


class SellerAction(Schema):
    seller_id = _member_id()


def _aware_iso(value: datetime | None) -> str | None:
    return None if value is None else _iso(value)


class AuctionOut(Schema):
    """An auction as catalog tells it (the gateway decides what the public sees: not the reserve price)."""

    id = fields.Integer()
    seller_id = fields.Integer()
    title = fields.String()
    description = fields.String()
    starting_price = Money(attribute="starting_price_cents")
    reserve_price = Money(attribute="reserve_price_cents")
    current_price = Money(attribute="highest_bid_cents", allow_none=True)
    highest_bidder_id = fields.Integer(allow_none=True)
    bids = fields.Integer(attribute="bid_count")
    min_next_bid = fields.Function(lambda a: format_cents(a.min_next_bid()) if a.status == "open" else None)
    reserve_met = fields.Function(lambda a: a.reserve_met())
    status = fields.String()
    outcome = fields.String(allow_none=True)
    ends_at = fields.Function(lambda a: _iso(a.ends_at))
    created_at = fields.Function(lambda a: _iso(a.created_at))
    closed_at = fields.Function(lambda a: _aware_iso(a.closed_at))
    settled_at = fields.Function(lambda a: _aware_iso(a.settled_at))


class BidOut(Schema):
    id = fields.Integer()
    auction_id = fields.Integer()
    bidder_id = fields.Integer()
    amount = Money(attribute="amount_cents")
    created_at = fields.Function(lambda b: _iso(b.created_at))
