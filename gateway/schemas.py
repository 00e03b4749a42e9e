"""The gateway's public request and response schemas: every body and query is validated here."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from marshmallow import EXCLUDE, Schema, ValidationError, fields, pre_load, validate, validates_schema

from shared.calendar import month_field
from shared.money import Money
from shared.web import bad_text

from .models import STAFF_ROLES

DIVISIONS = ("department_store", "supermarket", "electronics")
UNIT_CODE = validate.Regexp(r"^[A-Za-z0-9_-]{1,32}$", error="Letters, digits, '-' or '_', at most 32.")
USERNAME = validate.Regexp(r"^[A-Za-z0-9_.-]{3,64}$", error="3 to 64 letters, digits, '.', '-' or '_'.")
PASSWORD = validate.Length(min=8, max=256, error="At least 8 characters.")


MAX_ID = 2**31 - 1
PAYMENT_METHODS = ("balance", "online", "cod")
EXAMPLE_SKU = "TEA-LONGJING-250G"  # the OpenAPI document's example product (API.md's)
MAX_CENTS = 10**10  # 100 million yuan: more is a typo, not a price


#: Money as API.md writes it ("12.50"); shared.money.Money refuses exponents, floats and absurd sizes.
Amount = Money


def _text(max_length: int, **kwargs) -> fields.String:
    return fields.String(validate=validate.Length(min=1, max=max_length), **kwargs)


class WholeNumber(fields.Integer):
    """An integer that must be written as one: 2, never 2.0, "2" or true."""

    def __init__(self, **kwargs):
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class Query(Schema):
    """Query strings: unknown parameters are ignored (cache busters), known ones validated."""

    class Meta:
        unknown = EXCLUDE


class PartnerPush(Query):
    """A partner's callback body. The webhooks load it themselves, not through load_body, so text no
    database takes (NUL, lone surrogates) is refused here, by load_body's own check."""

    @pre_load
    def _refuse_bad_text(self, data, **_):
        found = bad_text(data)
        if found:
            where, reason = found
            raise ValidationError(reason, where)
        return data


# --- people ------------------------------------------------------------------------------------


class Registration(Schema):
    username = fields.String(required=True, validate=USERNAME)
    password = fields.String(required=True, validate=PASSWORD)
    email = fields.Email(load_default=None, allow_none=True, validate=validate.Length(max=254))
    phone = fields.String(
        load_default=None, allow_none=True, validate=validate.Regexp(r"^\+?[0-9 -]{5,32}$", error="Not a phone number.")
    )


class Login(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    password = fields.String(required=True, validate=validate.Length(min=1, max=256))


class TokenOut(Schema):
    access_token = fields.String()
    token_type = fields.String(metadata={"example": "Bearer"})
    role = fields.String()


class PasswordChange(Schema):
    old_password = fields.String(required=True, validate=validate.Length(min=1, max=256))
    new_password = fields.String(required=True, validate=PASSWORD)


class UserOut(Schema):
    id = fields.Integer()
    username = fields.String()
    role = fields.String()
    unit = fields.String(allow_none=True)


class PasswordForgotten(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))


class PasswordReset(Schema):
    token = fields.String(required=True, validate=validate.Length(min=10, max=200))
    new_password = fields.String(required=True, validate=PASSWORD)


class ProfileOut(UserOut):
    email = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)


class ProfileChange(Schema):
    """The account's contact details; at least one; null clears one."""

    email = fields.Email(allow_none=True, validate=validate.Length(max=254))
    phone = fields.String(allow_none=True, validate=validate.Regexp(r"^\+?[0-9 -]{5,32}$", error="Not a phone number."))

    @validates_schema
    def _something(self, data, **_):
        if not data:
            raise ValidationError("Say what changes: email or phone.", "email")


def _unit_rule(role: str | None, unit: str | None) -> None:
    """A `staff` account works at one unit; no other role has one (API.md, People)."""
    if role == "staff" and not unit:
        raise ValidationError("Staff belong to one unit.", "unit")
    if role is not None and role != "staff" and unit:
        raise ValidationError("Only staff belong to a unit.", "unit")


class StaffAccount(Schema):
    username = fields.String(required=True, validate=USERNAME)
    password = fields.String(required=True, validate=PASSWORD)
    role = fields.String(required=True, validate=validate.OneOf(STAFF_ROLES))
    unit = fields.String(load_default=None, allow_none=True, validate=UNIT_CODE)
    email = fields.Email(load_default=None, allow_none=True, validate=validate.Length(max=254))
    phone = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=32))

    @validates_schema(skip_on_field_errors=False)
    def _unit_for_staff(self, data, **_):
        _unit_rule(data.get("role"), data.get("unit"))


class StaffQuery(Query):
    role = fields.String(validate=validate.OneOf(STAFF_ROLES))
    unit = fields.String(validate=UNIT_CODE)
    #: Part of a username or email (any case).
    q = fields.String(validate=validate.Length(max=100))
    status = fields.String(validate=validate.OneOf(["active", "disabled"]))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class StaffOut(UserOut):
    """A staff account as administrators see it: never its password hash nor its token version."""

    email = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    status = fields.String(metadata={"enum": ["active", "disabled"]})
    disabled_at = fields.String(allow_none=True, metadata={"format": "date-time"})
    created_at = fields.String(metadata={"format": "date-time"})
    last_login_at = fields.String(allow_none=True, metadata={"format": "date-time"})


class StaffPage(Schema):
    items = fields.List(fields.Nested(StaffOut))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class StaffChange(Schema):
    """A new role or unit (or both) for a staff account; the rules of StaffAccount hold for the result,
    which the use case checks against the account as it is (a unit alone needs a `staff` account)."""

    role = fields.String(validate=validate.OneOf(STAFF_ROLES))
    unit = fields.String(allow_none=True, validate=UNIT_CODE)

    @validates_schema(skip_on_field_errors=False)
    def _something(self, data, **_):
        if not data:
            raise ValidationError("Say what changes: role or unit.", "role")
        if "role" in data and "unit" in data:
            _unit_rule(data["role"], data["unit"])


class StaffDisable(Schema):
    #: Why, for the administrator log ("left the company on 2026-11-30").
    reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200))


class StaffPasswordReset(Schema):
    new_password = fields.String(required=True, validate=PASSWORD)


def _utc(value: datetime) -> datetime:
    """A time with its offset, as UTC (the administrator log's times are UTC); refuses what cannot be."""
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise ValidationError("Not a time the mall can use.") from exc


class LogTime(fields.AwareDateTime):
    """An ISO 8601 time with its offset (`2026-11-25T09:00:00+08:00` or `...Z`), loaded as UTC. A `+` left
    unencoded in a query string arrives as a space; it is read as the `+` it was."""

    def __init__(self, **kwargs):
        super().__init__(format="iso", metadata={"example": "2026-11-25T09:00:00+08:00"}, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            value = re.sub(r" (\d\d:?\d\d)$", r"+\1", value.strip())
        return _utc(super()._deserialize(value, attr, data, **kwargs))


class AdminLogQuery(Query):
    actor = fields.String(validate=validate.Length(max=64))
    #: An action (`staff.disable`), or a family of them (`staff.*`).
    action = fields.String(validate=validate.Length(max=64))
    #: What was acted on, as the log writes it: `user:12`, `product:TEA-LONGJING-250G`, `unit:DS-TEA`.
    target = fields.String(validate=validate.Length(max=200))
    #: From this time on (inclusive).
    since = LogTime()
    #: Before this time (exclusive).
    until = LogTime()
    #: Only entries older than this id: the previous answer's `next_before`.
    before = fields.Integer(validate=validate.Range(min=1, max=2**63 - 1))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))

    @validates_schema
    def _range(self, data, **_):
        if data.get("since") and data.get("until") and data["until"] <= data["since"]:
            raise ValidationError("Must be after `since`.", "until")


class AdminLogEntryOut(Schema):
    id = fields.Integer()
    actor = fields.String()
    action = fields.String()
    target = fields.String()
    detail = fields.Dict()
    at = fields.String(metadata={"format": "date-time"})


class AdminLogOut(Schema):
    items = fields.List(fields.Nested(AdminLogEntryOut))
    #: Send it as `before` for the next (older) page; null when this page is the last.
    next_before = fields.Integer(allow_none=True)


# --- units, catalogue, stock ---------------------------------------------------------------------


class UnitIn(Schema):
    code = fields.String(required=True, validate=UNIT_CODE)
    name = _text(100, required=True)
    kind = fields.String(required=True, validate=validate.OneOf(["counter", "branch", "warehouse"]))
    division = fields.String(required=True, validate=validate.OneOf(DIVISIONS))
    city = _text(64, required=True)
    lat = fields.Float(required=True, validate=validate.Range(min=-90, max=90))
    lon = fields.Float(required=True, validate=validate.Range(min=-180, max=180))
    channel = fields.String(validate=validate.OneOf(["queue", "fax"]))
    auto_pack = fields.Boolean()


class ProductIn(Schema):
    sku = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_.-]{1,64}$"))
    name = _text(200, required=True)
    price = Amount(required=True, positive=True, validate=validate.Range(max=MAX_CENTS))
    category = _text(64, required=True)
    manufacturer = _text(100, required=True)
    supplier = _text(100, required=True)
    division = fields.String(required=True, validate=validate.OneOf(DIVISIONS))
    unit = fields.String(load_default=None, allow_none=True, validate=UNIT_CODE)

    @validates_schema(skip_on_field_errors=False)
    def _unit_unless_supermarket(self, data, **_):
        if data.get("division") and data["division"] != "supermarket" and not data.get("unit"):
            raise ValidationError("Required unless the division is supermarket.", "unit")


class StockIn(Schema):
    unit = fields.String(required=True, validate=UNIT_CODE)
    sku = fields.String(required=True, validate=validate.Length(min=1, max=64))
    quantity = WholeNumber(required=True, validate=validate.Range(min=1, max=1_000_000))


class PurchaseLineIn(Schema):
    sku = fields.String(required=True, validate=validate.Length(min=1, max=64))
    quantity = WholeNumber(required=True, validate=validate.Range(min=1, max=1_000_000))
    unit_cost = Amount(required=True, positive=True, metadata={"example": "31.50"})


class PurchaseOrderIn(Schema):
    """A purchase order (采购单); the buyer is the caller."""

    @pre_load
    def _strip(self, data, **_):
        if isinstance(data, dict):
            return {k: v.strip() if isinstance(v, str) else v for k, v in data.items()}
        return data

    unit = fields.String(required=True, validate=UNIT_CODE)
    supplier = fields.String(required=True, validate=validate.Length(min=1, max=100))
    delivery_method = fields.String(required=True, validate=validate.OneOf(["supplier_delivers", "we_collect"]))
    settlement_method = fields.String(required=True, validate=validate.OneOf(["cash", "transfer", "monthly"]))
    deliver_by = fields.Date(required=True, metadata={"example": "2026-12-01"})
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500))
    lines = fields.List(fields.Nested(PurchaseLineIn), required=True, validate=validate.Length(min=1, max=200))


class PurchaseOrderQuery(Query):
    unit = fields.String(validate=UNIT_CODE)
    status = fields.String(validate=validate.OneOf(["draft", "confirmed", "received", "settled", "cancelled"]))


class PurchaseNoticeQuery(Query):
    unit = fields.String(validate=UNIT_CODE)


class PurchaseOrderOut(Schema):
    id = fields.Integer()
    unit = fields.String()
    supplier = fields.String()
    buyer = fields.String()
    delivery_method = fields.String()
    settlement_method = fields.String()
    deliver_by = fields.String()
    status = fields.String()
    note = fields.String(allow_none=True)
    lines = fields.List(fields.Dict())
    total = fields.String(metadata={"example": "1880.00"})
    created_at = fields.String()
    confirmed_at = fields.String(allow_none=True)
    received_at = fields.String(allow_none=True)
    settled_at = fields.String(allow_none=True)


class ProductSearch(Query):
    q = fields.String(validate=validate.Length(max=100))
    category = fields.String(validate=validate.Length(max=64))
    manufacturer = fields.String(validate=validate.Length(max=100))
    min_price = Amount(validate=validate.Range(min=0, max=MAX_CENTS))
    max_price = Amount(validate=validate.Range(min=0, max=MAX_CENTS))
    sort = fields.String(validate=validate.OneOf(["price", "-price", "newest", "hot"]))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))

    @validates_schema
    def _price_range(self, data, **_):
        low, high = data.get("min_price"), data.get("max_price")
        if low is not None and high is not None and low > high:
            raise ValidationError("Must not be above max_price.", "min_price")


class ProductSummary(Schema):
    id = fields.Integer()
    sku = fields.String()
    name = fields.String()
    price = fields.String(metadata={"example": "12.50"})
    category = fields.String()
    manufacturer = fields.String()
    in_stock = fields.Boolean()


class ProductPage(Schema):
    items = fields.List(fields.Nested(ProductSummary))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class UnitAvailability(Schema):
    unit = fields.String()
    available = fields.Integer()


class Availability(Schema):
    in_stock = fields.Boolean()
    available = fields.Integer()
    units = fields.List(fields.Nested(UnitAvailability))


class ProductDetail(ProductSummary):
    supplier = fields.String()
    division = fields.String()
    unit = fields.String(allow_none=True)
    #: false once an administrator withdrew it from sale: the page and reviews stay, it cannot be bought
    on_sale = fields.Boolean()
    withdrawn_at = fields.String(allow_none=True, metadata={"format": "date-time"})
    availability = fields.Nested(Availability)
    rating = fields.Nested("Rating")


# --- catalogue administration and merchandisers' queries (gateway/catalogue_api.py) ----------------


def _strip(data):
    if isinstance(data, dict):
        return {k: v.strip() if isinstance(v, str) else v for k, v in data.items()}
    return data


PRODUCT_STATUSES = ("on_sale", "withdrawn", "all")


class ProductChange(Schema):
    """What an administrator may change of a product, at least one field. `sku`, `division` and `unit` may be
    sent only as they are (a form that sends the whole product); another value is 422 with the reason."""

    name = _text(200)
    price = Amount(positive=True, validate=validate.Range(max=MAX_CENTS), metadata={"example": "11.80"})
    category = _text(64)
    manufacturer = _text(100)
    supplier = _text(100)
    sku = fields.String(validate=validate.Regexp(r"^[A-Za-z0-9_.-]{1,64}$"))
    division = fields.String(validate=validate.OneOf(DIVISIONS))
    unit = fields.String(allow_none=True, validate=UNIT_CODE)

    @pre_load
    def _strip(self, data, **_):
        return _strip(data)

    @validates_schema
    def _something(self, data, **_):
        if not data:
            raise ValidationError("Send at least one of name, price, category, manufacturer, supplier.")


class AdminProductQuery(Query):
    q = fields.String(validate=validate.Length(max=100))
    category = fields.String(validate=validate.Length(max=64))
    manufacturer = fields.String(validate=validate.Length(max=100))
    supplier = fields.String(validate=validate.Length(max=100))
    status = fields.String(load_default="all", validate=validate.OneOf(PRODUCT_STATUSES))
    sort = fields.String(validate=validate.OneOf(["price", "-price", "newest", "hot"]))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class StockReportQuery(Query):
    #: Only products with fewer than this many available (at `unit`, else in all units together).
    below = fields.Integer(validate=validate.Range(min=0, max=1_000_000), metadata={"example": 5})
    unit = fields.String(validate=UNIT_CODE)
    category = fields.String(validate=validate.Length(max=64))
    manufacturer = fields.String(validate=validate.Length(max=100))
    supplier = fields.String(validate=validate.Length(max=100))
    status = fields.String(load_default="on_sale", validate=validate.OneOf(PRODUCT_STATUSES))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class CategoryIn(Schema):
    name = _text(64, required=True, metadata={"example": "Tea sets"})

    @pre_load
    def _strip(self, data, **_):
        return _strip(data)


class MemberQuery(Query):
    #: Part of a username, email or phone number (any case; a phone also without spaces and dashes).
    q = fields.String(validate=validate.Length(max=100))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class AdminProduct(ProductSummary):
    supplier = fields.String()
    division = fields.String()
    unit = fields.String(allow_none=True)
    on_sale = fields.Boolean()
    withdrawn_at = fields.String(allow_none=True, metadata={"format": "date-time"})
    views = fields.Integer()
    units_sold = fields.Integer()
    created_at = fields.String(metadata={"format": "date-time"})


class ChangedProduct(AdminProduct):
    #: What the change changed: `{"price": ["12.50", "11.80"]}`.
    changed = fields.Dict(keys=fields.String(), values=fields.List(fields.Raw()))


class AdminProductPage(Schema):
    items = fields.List(fields.Nested(AdminProduct))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class NamedCount(Schema):
    """A category, manufacturer or supplier: its products on sale and its products withdrawn."""

    id = fields.Integer()
    name = fields.String()
    products = fields.Integer()
    withdrawn = fields.Integer()


class NamedCountList(Schema):
    items = fields.List(fields.Nested(NamedCount))


class PublicCategory(Schema):
    id = fields.Integer()
    name = fields.String(metadata={"example": "Tea"})
    #: How many products on sale it holds.
    products = fields.Integer()


class PublicCategoryList(Schema):
    items = fields.List(fields.Nested(PublicCategory))


class UnitStock(Schema):
    unit = fields.String()
    on_hand = fields.Integer()
    reserved = fields.Integer()
    available = fields.Integer()


class StockRow(AdminProduct):
    on_hand = fields.Integer()
    reserved = fields.Integer()
    available = fields.Integer()
    units = fields.List(fields.Nested(UnitStock))


class StockReport(Schema):
    items = fields.List(fields.Nested(StockRow))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class MemberOut(Schema):
    id = fields.Integer()
    username = fields.String()
    email = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    created_at = fields.String(metadata={"format": "date-time"})


class MemberPage(Schema):
    items = fields.List(fields.Nested(MemberOut))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class ReviewIn(Schema):
    rating = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=5))
    text = fields.String(required=True, validate=validate.Length(min=1, max=1000))
    #: Links to the photos (晒单), at most nine.
    photos = fields.List(
        fields.Url(schemes={"http", "https"}, validate=validate.Length(max=500)),
        load_default=list,
        validate=validate.Length(max=9),
    )
    #: Which of the caller's completed orders it reviews; unset: the oldest one not reviewed yet.
    order = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=32))


class ReviewQuery(Query):
    rating = fields.Integer(validate=validate.Range(min=1, max=5))
    with_photos = fields.Boolean()
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class ReviewOut(Schema):
    id = fields.Integer()
    rating = fields.Integer()
    text = fields.String()
    photos = fields.List(fields.String())
    author = fields.String(metadata={"example": "w***g"})
    created_at = fields.String()


class Rating(Schema):
    average = fields.Float(allow_none=True, metadata={"example": 4.5})
    count = fields.Integer()
    by_rating = fields.Dict(keys=fields.String(), values=fields.Integer())


class ReviewPage(Schema):
    items = fields.List(fields.Nested(ReviewOut))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()
    rating = fields.Nested(Rating)


# --- money ---------------------------------------------------------------------------------------


class WalletOut(Schema):
    balance = fields.String(metadata={"example": "100.00"})


class BalanceAdjustment(Schema):
    delta = Amount(required=True, validate=validate.Range(min=-MAX_CENTS, max=MAX_CENTS))
    reason = _text(150, required=True)

    @validates_schema
    def _not_zero(self, data, **_):
        if data.get("delta") == 0:
            raise ValidationError("Must not be zero.", "delta")


class MemberBalanceOut(Schema):
    member_id = fields.Integer()
    balance = fields.String()


# --- orders --------------------------------------------------------------------------------------


class OrderItemIn(Schema):
    sku = fields.String(required=True, validate=validate.Length(min=1, max=64), metadata={"example": EXAMPLE_SKU})
    quantity = WholeNumber(required=True, validate=validate.Range(min=1, max=100_000), metadata={"example": 1})


class AddressIn(Schema):
    name = _text(100, required=True, metadata={"example": "Li Ming"})
    phone = _text(32, required=True, metadata={"example": "13800000000"})
    city = _text(64, required=True, metadata={"example": "Nanning"})
    line = _text(200, required=True, metadata={"example": "1 Minzu Ave"})
    lat = fields.Float(required=True, validate=validate.Range(min=-90, max=90), metadata={"example": 22.82})
    lon = fields.Float(required=True, validate=validate.Range(min=-180, max=180), metadata={"example": 108.33})


class InvoiceIn(Schema):
    """The invoice (发票) the customer wants: `personal` in a person's name, or `company` with the company's
    name and its 18-character unified social credit code (统一社会信用代码)."""

    kind = fields.String(
        required=True, validate=validate.OneOf(["personal", "company"]), metadata={"example": "company"}
    )
    title = _text(100, required=True, metadata={"example": "Nanning Guomao Trading Co., Ltd."})
    tax_id = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Regexp(
            r"^[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}$",
            error="Not a unified social credit code (18 characters).",
        ),
        metadata={"example": "91450100MA5KXXXX1X"},
    )

    @validates_schema
    def _company_has_a_tax_id(self, data, **_):
        if data.get("kind") == "company" and not data.get("tax_id"):
            raise ValidationError("A company's invoice needs its unified social credit code.", "tax_id")
        if data.get("kind") == "personal" and data.get("tax_id"):
            raise ValidationError("A personal invoice has no tax id.", "tax_id")


class OrderIn(Schema):
    items = fields.List(
        fields.Nested(OrderItemIn),
        required=True,
        validate=validate.Length(min=1, max=100, error="An order has 1 to 100 items."),
    )
    address = fields.Nested(AddressIn, required=True)
    payment_method = fields.String(
        required=True, validate=validate.OneOf(PAYMENT_METHODS), metadata={"example": "balance"}
    )
    #: Optional: the invoice to issue (DOMAIN.md's checkout "invoice details").
    invoice = fields.Nested(InvoiceIn)


class OrderPlaced(Schema):
    number = fields.String(metadata={"example": "M20261124ABCD1234"})
    status = fields.String(metadata={"example": "placed"})


class PaymentOut(Schema):
    method = fields.String()
    status = fields.String()


class FulfilmentOut(Schema):
    unit = fields.String()
    status = fields.String()
    slip_no = fields.String(allow_none=True)
    delivery = fields.String(metadata={"enum": ["local", "courier"]})
    waybill = fields.String(allow_none=True)


class TimelineEntry(Schema):
    at = fields.String(metadata={"format": "date-time"})
    event = fields.String()


class OrderOut(Schema):
    number = fields.String()
    status = fields.String()
    total = fields.String()
    items = fields.List(fields.Dict())
    payment = fields.Nested(PaymentOut)
    fulfilments = fields.List(fields.Nested(FulfilmentOut))
    timeline = fields.List(fields.Nested(TimelineEntry))
    invoice = fields.Nested(InvoiceIn, allow_none=True)


class OrderList(Schema):
    items = fields.List(fields.Nested(OrderOut))


class OrderListQuery(Query):
    member_id = fields.Integer(validate=validate.Range(min=1, max=MAX_ID))


class ContactChange(Schema):
    """New contact details for an order's delivery, before its parcels are packed (at least one)."""

    name = _text(100, metadata={"example": "Li Ming"})
    phone = _text(32, metadata={"example": "13900000000"})
    line = _text(200, metadata={"example": "8 Minzu Ave, flat 1203"})

    @validates_schema
    def _something(self, data, **_):
        if not data:
            raise ValidationError("Say what changes: name, phone or line.", "name")


class SpendingItem(Schema):
    sku = fields.String()
    name = fields.String()
    quantity = fields.Integer()
    amount = fields.String()


class SpendingRecord(Schema):
    order = fields.String()
    method = fields.String()
    paid = fields.String(metadata={"example": "25.00"})
    refunded = fields.String(metadata={"example": "0.00"})
    paid_at = fields.String(metadata={"format": "date-time"})
    items = fields.List(fields.Nested(SpendingItem))


class SpendingOut(Schema):
    spent = fields.String(metadata={"example": "125.00"})
    items = fields.List(fields.Nested(SpendingRecord))


class Cancellation(Schema):
    reason = fields.String(load_default="cancelled by the customer", validate=validate.Length(min=1, max=100))


class PaymentLink(Schema):
    out_trade_no = fields.String()
    pay_url = fields.String()


class Empty(Schema):
    """A body with nothing needed in it: `{}` (or no body at all); anything else is ignored."""

    class Meta:
        unknown = EXCLUDE


# --- person-to-person auctions (C2C 拍卖) ---------------------------------------------------------

AUCTION_STATUSES = ("open", "cancelled", "failed", "sold", "paid", "unpaid")


class AuctionIn(Schema):
    """A member's item for auction. The reserve must be above the starting price (底价应大于起拍价); the end time
    defaults to 48 hours on and must lie from an hour (MALL_AUCTION_MIN_SECONDS) to 7 days
    (MALL_AUCTION_MAX_DAYS) ahead, with its offset."""

    title = _text(200, required=True, metadata={"example": "Hand-painted Nixing teapot"})
    description = fields.String(load_default="", validate=validate.Length(max=2000))
    starting_price = Amount(required=True, positive=True, validate=validate.Range(max=MAX_CENTS))
    reserve_price = Amount(required=True, positive=True, validate=validate.Range(max=MAX_CENTS))
    ends_at = fields.AwareDateTime(
        load_default=None, allow_none=True, format="iso", metadata={"example": "2026-11-27T10:00:00+08:00"}
    )

    @pre_load
    def _strip(self, data, **_):
        if not isinstance(data, dict):
            return data
        return {k: v.strip() if isinstance(v, str) else v for k, v in data.items()}

    @validates_schema
    def _reserve_above_start(self, data, **_):
        start, reserve = data.get("starting_price"), data.get("reserve_price")
        if start is not None and reserve is not None and reserve <= start:
            raise ValidationError("Must be above the starting price.", "reserve_price")


class AuctionQuery(Query):
    status = fields.String(validate=validate.OneOf(AUCTION_STATUSES))
    sort = fields.String(load_default="ending", validate=validate.OneOf(["ending", "newest"]))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class BidIn(Schema):
    amount = Amount(required=True, positive=True, validate=validate.Range(max=MAX_CENTS))


class AuctionOut(Schema):
    """An auction as anyone sees it: people masked (`w***g`), the reserve price kept from bidders."""

    id = fields.Integer()
    title = fields.String()
    description = fields.String()
    seller = fields.String(metadata={"example": "w***g"})
    starting_price = fields.String(metadata={"example": "100.00"})
    current_price = fields.String(allow_none=True, metadata={"example": "151.00"})
    min_next_bid = fields.String(allow_none=True, metadata={"example": "156.00"})
    bids = fields.Integer()
    reserve_met = fields.Boolean()
    status = fields.String(metadata={"enum": list(AUCTION_STATUSES)})
    outcome = fields.String(allow_none=True)
    winner = fields.String(allow_none=True)
    ends_at = fields.String()
    created_at = fields.String()
    closed_at = fields.String(allow_none=True)


class AuctionMine(AuctionOut):
    """An auction as its seller sees it: with the reserve price."""

    reserve_price = fields.String(metadata={"example": "150.00"})


class BidShown(Schema):
    id = fields.Integer()
    amount = fields.String(metadata={"example": "151.00"})
    bidder = fields.String(metadata={"example": "l***g"})
    created_at = fields.String()


class AuctionDetail(AuctionOut):
    bid_history = fields.List(fields.Nested(BidShown))


class AuctionPage(Schema):
    items = fields.List(fields.Nested(AuctionOut))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class AuctionMinePage(AuctionPage):
    items = fields.List(fields.Nested(AuctionMine))


class BidPlaced(Schema):
    bid = fields.Nested(BidShown)
    auction = fields.Nested(AuctionOut)


# --- inquiries (咨询) ------------------------------------------------------------------------------

INQUIRY_STATUSES = ("open", "answered", "all")


class InquiryIn(Schema):
    """A question about a product before buying it: whether it is in stock, when more comes, a detail the page
    does not give. `public: false` keeps it (and its answer) off the product's page."""

    question = _text(500, required=True, metadata={"example": "Is the 250 g tin in stock? I would like three."})
    #: How many the customer would like, when stock is the question.
    quantity = WholeNumber(load_default=None, allow_none=True, validate=validate.Range(min=1, max=100_000))
    public = fields.Boolean(load_default=True)

    @pre_load
    def _strip(self, data, **_):
        return _strip(data)


class InquiryAnswerIn(Schema):
    """The selling unit's (or customer service's) answer, with how many it can supply now if it says."""

    answer = _text(1000, required=True, metadata={"example": "Yes: 12 tins at the counter; order any time."})
    available = WholeNumber(load_default=None, allow_none=True, validate=validate.Range(min=0, max=1_000_000))

    @pre_load
    def _strip(self, data, **_):
        return _strip(data)


class InquiryPageQuery(Query):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class MyInquiryQuery(InquiryPageQuery):
    status = fields.String(load_default="all", validate=validate.OneOf(INQUIRY_STATUSES))


class StaffInquiryQuery(InquiryPageQuery):
    status = fields.String(load_default="open", validate=validate.OneOf(INQUIRY_STATUSES))


class InquiryProduct(Schema):
    id = fields.Integer()
    sku = fields.String(metadata={"example": EXAMPLE_SKU})
    name = fields.String()


class InquiryMine(Schema):
    """An inquiry as its asker sees it."""

    id = fields.Integer()
    product = fields.Nested(InquiryProduct)
    question = fields.String()
    quantity = fields.Integer(allow_none=True)
    public = fields.Boolean()
    status = fields.String(metadata={"enum": ["open", "answered"]})
    answer = fields.String(allow_none=True)
    available = fields.Integer(allow_none=True, metadata={"description": "How many the unit said it can supply."})
    answered_unit = fields.String(allow_none=True, metadata={"example": "DS-TEA"})
    created_at = fields.String()
    answered_at = fields.String(allow_none=True)


class InquiryMinePage(Schema):
    items = fields.List(fields.Nested(InquiryMine))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class InquiryPublic(Schema):
    """An answered question on the product's page (问大家), its asker masked."""

    id = fields.Integer()
    question = fields.String()
    answer = fields.String()
    asker = fields.String(metadata={"example": "w***g"})
    created_at = fields.String()
    answered_at = fields.String()


class InquiryPublicPage(Schema):
    items = fields.List(fields.Nested(InquiryPublic))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class InquiryStaffProduct(InquiryProduct):
    division = fields.String()
    unit = fields.String(allow_none=True)


class InquiryStock(Schema):
    """Stores' figure now, over the units that sell the product: what the staff member answers from."""

    available = fields.Integer()
    units = fields.List(fields.Nested(UnitAvailability))


class InquiryStaff(InquiryMine):
    """An inquiry as the selling unit and customer service see it: with the stock figure now, who asked
    (masked; customer service and administrators also get the member's id) and who answered."""

    product = fields.Nested(InquiryStaffProduct)
    asker = fields.String(metadata={"example": "w***g"})
    member_id = fields.Integer(metadata={"description": "Customer service and administrators only."})
    answered_by = fields.String(allow_none=True)
    stock = fields.Nested(InquiryStock)


class InquiryStaffPage(Schema):
    items = fields.List(fields.Nested(InquiryStaff))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


# --- after-sales (售后) ----------------------------------------------------------------------------

AFTER_SALE_KINDS = ("return", "refund", "complaint")
AFTER_SALE_PROBLEMS = ("quality", "damaged", "lost", "wrong_item", "service", "other")
AFTER_SALE_STATUSES = ("requested", "awaiting_return", "refunding", "refunded", "closed")


class AfterSaleIn(Schema):
    """A return (goods back, money back), a refund (money back: goods kept, or lost on the way) or a
    complaint (an answer) about an order that reached the customer."""

    kind = fields.String(required=True, validate=validate.OneOf(AFTER_SALE_KINDS), metadata={"example": "return"})
    problem = fields.String(
        load_default="other", validate=validate.OneOf(AFTER_SALE_PROBLEMS), metadata={"example": "quality"}
    )
    reason = _text(500, required=True, metadata={"example": "The tin arrived dented and the tea spilled."})
    #: The goods concerned, all from one unit (one case per department); a complaint may name none.
    items = fields.List(fields.Nested(OrderItemIn), load_default=list, validate=validate.Length(max=100))


class AfterSaleItemOut(Schema):
    sku = fields.String()
    name = fields.String()
    quantity = fields.Integer()
    amount = fields.String(metadata={"example": "68.00"})


class AfterSaleOut(Schema):
    id = fields.Integer()
    order = fields.String()
    unit = fields.String(allow_none=True)
    kind = fields.String(validate=validate.OneOf(AFTER_SALE_KINDS))
    problem = fields.String(validate=validate.OneOf(AFTER_SALE_PROBLEMS))
    reason = fields.String()
    items = fields.List(fields.Nested(AfterSaleItemOut))
    claimed = fields.String(metadata={"example": "68.00"})
    status = fields.String(validate=validate.OneOf(AFTER_SALE_STATUSES))
    resolution = fields.String(allow_none=True, validate=validate.OneOf(["refund", "return"]))
    refund = fields.String(allow_none=True)
    restock = fields.Boolean(allow_none=True)
    reply = fields.String(allow_none=True)
    handled_by = fields.String(allow_none=True)
    created_at = fields.String()
    updated_at = fields.String()
    closed_at = fields.String(allow_none=True)


class AfterSaleList(Schema):
    items = fields.List(fields.Nested(AfterSaleOut))


class AfterSaleQuery(Query):
    status = fields.String(validate=validate.OneOf(AFTER_SALE_STATUSES))
    unit = fields.String(validate=UNIT_CODE)


class AfterSaleAgreement(Schema):
    """What the unit (or customer service) agreed with the customer: a refund now, or a return first; for
    `refund` (default: what the goods cost, never more)."""

    resolution = fields.String(required=True, validate=validate.OneOf(["refund", "return"]))
    refund = Amount(load_default=None, allow_none=True, validate=validate.Range(min=1, max=MAX_CENTS))
    reply = _text(500, load_default=None, allow_none=True)


class AfterSaleAnswer(Schema):
    reply = _text(500, required=True, metadata={"example": "Sorry for the wait; the courier has been told."})


class AfterSaleReceived(Schema):
    #: Whether the goods can be sold again (back on the shelf) or are faulty (kept aside).
    restock = fields.Boolean(required=True)


CLAIM_STATUSES = ("open", "paid", "rejected", "not_insured", "withdrawn")


class ClaimOut(Schema):
    """A claim on the courier for a parcel lost or damaged in transit (one per after-sales case)."""

    id = fields.Integer()
    case = fields.Integer()
    order = fields.String()
    unit = fields.String()
    waybill = fields.String(allow_none=True)
    carrier = fields.String(allow_none=True)
    problem = fields.String(validate=validate.OneOf(["lost", "damaged"]))
    declared_value = fields.String(metadata={"example": "3299.00"})
    premium = fields.String(metadata={"example": "9.90"})
    refunded = fields.String()
    claimed = fields.String()
    status = fields.String(validate=validate.OneOf(CLAIM_STATUSES))
    paid = fields.String()
    note = fields.String(allow_none=True)
    settled_by = fields.String(allow_none=True)
    created_at = fields.String()
    settled_at = fields.String(allow_none=True)


class ClaimList(Schema):
    items = fields.List(fields.Nested(ClaimOut))


class ClaimQuery(Query):
    status = fields.String(validate=validate.OneOf(CLAIM_STATUSES))


class ClaimSettlement(Schema):
    #: What the courier paid: more than nothing, at most what was claimed.
    paid = Amount(required=True, validate=validate.Range(min=1, max=MAX_CENTS))


class ClaimRejection(Schema):
    note = _text(500, required=True, metadata={"example": "The courier says the parcel was packed too thinly."})


# --- addresses and the cart ----------------------------------------------------------------------


class AddressSaved(AddressIn):
    """A delivery address to save: an order's address, and whether it is to be the default."""

    #: true: this becomes the member's default. Absent (or false) on a new address: not the default,
    #: unless it is the member's first; absent on a replacement: unchanged.
    is_default = fields.Boolean(metadata={"example": False})


class AddressOut(Schema):
    id = fields.Integer(metadata={"example": 1})
    name = fields.String(metadata={"example": "Li Ming"})
    phone = fields.String(metadata={"example": "13800000000"})
    city = fields.String(metadata={"example": "Nanning"})
    line = fields.String(metadata={"example": "1 Minzu Ave"})
    lat = fields.Float(metadata={"example": 22.82})
    lon = fields.Float(metadata={"example": 108.33})
    is_default = fields.Boolean()


class AddressList(Schema):
    items = fields.List(fields.Nested(AddressOut))


class CartQuantity(OrderItemIn):
    """How many of the SKU in the path the cart holds: the rules of an order line's quantity."""

    class Meta:
        exclude = ("sku",)


class CartSku(Schema):
    """The SKU in a cart path (`/api/cart/items/<sku>`)."""

    sku = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_.-]{1,64}$"))


class CartLineOut(Schema):
    sku = fields.String(metadata={"example": EXAMPLE_SKU})
    #: null (with `missing`) when the catalogue no longer has the SKU
    name = fields.String(allow_none=True, metadata={"example": "Longjing green tea 250 g"})
    price = fields.String(allow_none=True, metadata={"example": "12.50"})
    quantity = fields.Integer(metadata={"example": 2})
    line_total = fields.String(allow_none=True, metadata={"example": "25.00"})
    #: Whether some unit has it in stock now (shown in the cart, not in the answer to a change)
    in_stock = fields.Boolean()
    #: true: the catalogue no longer has this SKU; the line is not counted in the total and cannot be bought
    missing = fields.Boolean()
    #: true: an administrator withdrew the product from sale; not counted in the total, cannot be bought
    withdrawn = fields.Boolean()


class CartOut(Schema):
    items = fields.List(fields.Nested(CartLineOut))
    total = fields.String(metadata={"example": "25.00"})


class CheckoutIn(Schema):
    """Buy (some of) the cart: where to (a saved address, a new one, or else the default) and how to pay."""

    address_id = WholeNumber(validate=validate.Range(min=1, max=MAX_ID))
    address = fields.Nested(AddressIn)
    payment_method = fields.String(
        required=True, validate=validate.OneOf(PAYMENT_METHODS), metadata={"example": "balance"}
    )
    #: Only these lines of the cart (absent: all of it).
    skus = fields.List(
        fields.String(validate=validate.Length(min=1, max=64), metadata={"example": EXAMPLE_SKU}),
        validate=validate.Length(min=1, max=100, error="1 to 100 SKUs."),
    )

    @validates_schema
    def _one_address(self, data, **_):
        if "address_id" in data and "address" in data:
            raise ValidationError("Give address_id or address, not both.", "address")


# --- staff ---------------------------------------------------------------------------------------


class TaskQuery(Query):
    status = fields.String(load_default="open", validate=validate.OneOf(["open", "done", "cancelled", "all"]))
    unit = fields.String(validate=UNIT_CODE)


class TaskDone(Schema):
    slip_no = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=64))


class TaskOut(Schema):
    id = fields.Integer()
    order = fields.String()
    unit = fields.String()
    status = fields.String()
    items = fields.List(fields.Dict())


class TaskList(Schema):
    items = fields.List(fields.Nested(TaskOut))


class BatchClosed(Schema):
    batch = fields.String()
    deliveries = fields.Integer()


class DeliveryQuery(Query):
    status = fields.String(validate=validate.OneOf(["open", "ready", "picked_up", "delivered", "all"]))


class DeliveryOut(Schema):
    id = fields.Integer()
    order = fields.String()
    unit = fields.String()
    status = fields.String()


class DeliveryList(Schema):
    items = fields.List(fields.Nested(DeliveryOut))


class PickUp(Schema):
    signature = _text(200, required=True)


class Handover(Schema):
    signed_by = _text(100, required=True)


# --- finance -------------------------------------------------------------------------------------


class MonthQuery(Query):
    month = month_field(required=True)


class StatementRun(Schema):
    month = month_field(required=True)


class StatementOut(Schema):
    unit = fields.String()
    month = fields.String(metadata={"example": "2026-10"})
    orders = fields.Integer()
    gross = fields.String(metadata={"example": "1250.00"})
    refunds = fields.String(metadata={"example": "25.00"})
    logistics_cost = fields.String(metadata={"example": "36.00"})
    insurance = fields.String(metadata={"example": "9.00"})
    #: What couriers paid that month on loss claims for the unit's parcels, credited back.
    claims = fields.String(metadata={"example": "0.00"})
    net_payable = fields.String(metadata={"example": "1180.00"})
    parcels = fields.Integer()
    built_at = fields.String(metadata={"format": "date-time"})


class StatementList(Schema):
    month = fields.String()
    items = fields.List(fields.Nested(StatementOut))


class SalesRow(Schema):
    sku = fields.String(metadata={"example": EXAMPLE_SKU})
    name = fields.String()
    units = fields.Integer()
    orders = fields.Integer()
    revenue = fields.String(metadata={"example": "125.00"})


class SalesReport(Schema):
    month = fields.String()
    items = fields.List(fields.Nested(SalesRow))


class CopyLine(Schema):
    sku = fields.String()
    name = fields.String()
    quantity = fields.Integer()
    amount = fields.String(metadata={"example": "25.00"})


class OrderCopy(Schema):
    kind = fields.String(metadata={"enum": ["website", "department", "finance"]})
    unit = fields.String(allow_none=True)
    lines = fields.List(fields.Nested(CopyLine))
    total = fields.String(metadata={"example": "25.00"})
    #: On the finance copy only: the invoice to issue (null: none asked for).
    invoice = fields.Nested(InvoiceIn, allow_none=True)


class OrderCopies(Schema):
    copies = fields.List(fields.Nested(OrderCopy))


# --- partners ------------------------------------------------------------------------------------


class Kuaidi100Entry(Query):
    context = fields.String(required=True)
    time = fields.String(load_default=None)
    ftime = fields.String(load_default=None)


class Kuaidi100Result(Query):
    state = fields.Integer(required=True, validate=validate.Range(min=0, max=999))
    ischeck = fields.Raw(load_default=None)
    com = fields.String(load_default=None)
    nu = fields.String(required=True, validate=validate.Length(min=1, max=64))
    data = fields.List(fields.Nested(Kuaidi100Entry), load_default=list)


class Kuaidi100Push(PartnerPush):
    """The JSON inside Kuaidi100's `param` form field (other fields of theirs are ignored)."""

    status = fields.String(load_default=None)
    lastResult = fields.Nested(Kuaidi100Result, required=True)  # noqa: N815  (Kuaidi100's name)


class AfterShipTracking(Query):
    tracking_number = fields.String(required=True, validate=validate.Length(min=1, max=64))
    slug = fields.String(load_default=None, allow_none=True)
    tag = fields.String(required=True)
    subtag_message = fields.String(load_default=None, allow_none=True)
    updated_at = fields.String(load_default=None, allow_none=True)
    checkpoints = fields.List(fields.Dict(), load_default=list)


class AfterShipPush(PartnerPush):
    event = fields.String(load_default=None, allow_none=True)
    event_id = fields.String(load_default=None, allow_none=True)
    ts = fields.Raw(load_default=None)
    msg = fields.Nested(AfterShipTracking, required=True)


class AlipayNotice(PartnerPush):
    """The fields of Alipay's asynchronous notification the mall acts on (it sends many more; all are signed)."""

    out_trade_no = fields.String(required=True, validate=validate.Length(min=1, max=64))
    trade_no = fields.String(required=True, validate=validate.Length(min=1, max=64))
    total_amount = Money(required=True, positive=True)
    trade_status = fields.String(
        required=True, validate=validate.OneOf(["TRADE_SUCCESS", "TRADE_FINISHED", "TRADE_CLOSED", "WAIT_BUYER_PAY"])
    )
    app_id = fields.String(load_default=None)
    seller_id = fields.String(load_default=None)
    #: Beijing time, "2026-11-25 10:00:00", as every time Alipay sends.
    gmt_payment = fields.String(load_default=None)


class PartnerAck(Schema):
    result = fields.Boolean()
    returnCode = fields.String()  # noqa: N815
    message = fields.String()


class ErrorDetail(Schema):
    code = fields.String()
    message = fields.String()
    field_errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()), data_key="fields")


class ErrorOut(Schema):
    error = fields.Nested(ErrorDetail)


class HealthOut(Schema):
    status = fields.String()
    services = fields.Dict()
