"""The gateway's use cases for members' delivery addresses and carts. No Flask here; `cart_api` calls these
with a session and plain values. Checking a cart out places its order through `services.place_order`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, func, select, tuple_, update
from sqlalchemy.orm import Session

from shared.messaging import now
from shared.money import format_cents, to_cents
from shared.web import ApiError, not_found

from .models import Address, CartItem, User

#: Enough for home, work, parents and a few friends; more is a script, not a shopper.
MAX_ADDRESSES = 20
#: As many lines as one order may have (OrderIn), so a full cart still checks out as one order.
MAX_CART_LINES = 100
ADDRESS_FIELDS = ("name", "phone", "city", "line", "lat", "lon")


def _lock_member(session: Session, member_id: int) -> None:
    """One member's address and cart changes go one after another: the caps, the single default and the
    checkout's "exactly the lines it read" hold under concurrent requests. PostgreSQL: the member's row
    lock; SQLite: its transactions take the write lock at BEGIN already (`shared.db`), and this is a read."""
    session.execute(select(User.id).where(User.id == member_id).with_for_update())


# --- addresses -----------------------------------------------------------------------------------


def address_view(address: Address) -> dict[str, Any]:
    return {"id": address.id, **{f: getattr(address, f) for f in ADDRESS_FIELDS}, "is_default": address.is_default}


def order_address(address: Address) -> dict[str, Any]:
    """A saved address as an order's `address` (AddressIn)."""
    return {f: getattr(address, f) for f in ADDRESS_FIELDS}


def addresses_of(session: Session, member_id: int) -> list[Address]:
    """The member's addresses, the default first, then the newest first."""
    query = (
        select(Address)
        .where(Address.member_id == member_id)
        .order_by(Address.is_default.desc(), Address.created_at.desc(), Address.id.desc())
    )
    return list(session.scalars(query))


def default_address(session: Session, member_id: int) -> Address | None:
    return session.scalar(select(Address).where(Address.member_id == member_id, Address.is_default))


def find_address(session: Session, member_id: int, address_id: int) -> Address | None:
    """The member's address with this id; None if there is none (or it is another member's)."""
    address = session.get(Address, address_id)
    return address if address is not None and address.member_id == member_id else None


def _mine(session: Session, member_id: int, address_id: int) -> Address:
    address = find_address(session, member_id, address_id)
    if address is None:  # another member's is not found either: ids tell nobody what others saved
        raise not_found("Address")
    return address


def _make_default(session: Session, member_id: int, address: Address) -> None:
    # The old default first, in a statement of its own: the unique index is checked at each statement.
    session.execute(
        update(Address)
        .where(Address.member_id == member_id, Address.is_default, Address.id != address.id)
        .values(is_default=False)
        .execution_options(synchronize_session=False)
    )
    address.is_default = True


def save_address(session: Session, member_id: int, data: dict[str, Any]) -> Address:
    """A new address (a validated AddressSaved); the member's first one is the default whatever it says.
    409 `too_many_addresses` past MAX_ADDRESSES."""
    _lock_member(session, member_id)
    count = session.scalar(select(func.count()).select_from(Address).where(Address.member_id == member_id))
    if count >= MAX_ADDRESSES:
        raise ApiError(409, "too_many_addresses", f"At most {MAX_ADDRESSES} addresses can be saved; delete one first.")
    address = Address(member_id=member_id, **{f: data[f] for f in ADDRESS_FIELDS}, is_default=False, created_at=now())
    if count == 0 or data.get("is_default"):
        _make_default(session, member_id, address)
    session.add(address)
    session.flush()
    return address


def replace_address(session: Session, member_id: int, address_id: int, data: dict[str, Any]) -> Address:
    """Replace an address's fields; `is_default` true makes it the default, absent leaves that as it is.
    The default is moved, never removed: false on the default is 409 `default_address_required`."""
    _lock_member(session, member_id)
    address = _mine(session, member_id, address_id)
    if data.get("is_default") is False and address.is_default:
        raise ApiError(
            409, "default_address_required", "This is the default address; make another address the default instead."
        )
    for field in ADDRESS_FIELDS:
        setattr(address, field, data[field])
    if data.get("is_default"):
        _make_default(session, member_id, address)
    session.flush()
    return address


def make_default(session: Session, member_id: int, address_id: int) -> Address:
    _lock_member(session, member_id)
    address = _mine(session, member_id, address_id)
    _make_default(session, member_id, address)
    session.flush()
    return address


def delete_address(session: Session, member_id: int, address_id: int) -> None:
    """Delete an address; when it was the default, the newest one left becomes the default."""
    _lock_member(session, member_id)
    address = _mine(session, member_id, address_id)
    was_default = address.is_default
    session.delete(address)
    session.flush()
    if was_default:
        newest = session.scalar(
            select(Address)
            .where(Address.member_id == member_id)
            .order_by(Address.created_at.desc(), Address.id.desc())
            .limit(1)
        )
        if newest is not None:
            newest.is_default = True
            session.flush()


# --- the cart ------------------------------------------------------------------------------------


def cart_of(session: Session, member_id: int) -> list[tuple[str, int]]:
    """The member's cart as (sku, quantity), in the order the SKUs were put in."""
    query = (
        select(CartItem.sku, CartItem.quantity)
        .where(CartItem.member_id == member_id)
        .order_by(CartItem.added_at, CartItem.sku)
    )
    return [(sku, quantity) for sku, quantity in session.execute(query)]


def set_quantity(session: Session, member_id: int, sku: str, quantity: int) -> None:
    """Hold `quantity` of `sku` in the cart (added if missing); 409 `cart_full` past MAX_CART_LINES lines."""
    _lock_member(session, member_id)
    item = session.get(CartItem, (member_id, sku))
    if item is not None:
        item.quantity = quantity
        return
    lines = session.scalar(select(func.count()).select_from(CartItem).where(CartItem.member_id == member_id))
    if lines >= MAX_CART_LINES:
        raise ApiError(409, "cart_full", f"A cart holds at most {MAX_CART_LINES} products; check some out first.")
    session.add(CartItem(member_id=member_id, sku=sku, quantity=quantity, added_at=now()))


def remove_line(session: Session, member_id: int, sku: str) -> bool:
    """Take a SKU out of the cart; False when it was not in it."""
    _lock_member(session, member_id)
    gone = delete(CartItem).where(CartItem.member_id == member_id, CartItem.sku == sku)
    return session.execute(gone.execution_options(synchronize_session=False)).rowcount > 0


def empty_cart(session: Session, member_id: int) -> None:
    _lock_member(session, member_id)
    session.execute(
        delete(CartItem).where(CartItem.member_id == member_id).execution_options(synchronize_session=False)
    )


def cart_line(sku: str, quantity: int, product: dict[str, Any] | None) -> dict[str, Any]:
    """One line as the customer sees it, priced from the catalogue's `product` (None: the catalogue no
    longer has the SKU, and the line shows it)."""
    if product is None:
        return {"sku": sku, "name": None, "price": None, "quantity": quantity, "line_total": None, "missing": True,
                "withdrawn": False}  # fmt: skip
    cents = to_cents(product["price"])
    return {
        "sku": sku,
        "name": product["name"],
        "price": format_cents(cents),
        "quantity": quantity,
        "line_total": format_cents(cents * quantity),
        "missing": False,
        "withdrawn": not product.get("on_sale", True),
    }


def cart_view(cart: list[tuple[str, int]], products: dict[str, dict], in_stock: set[str]) -> dict[str, Any]:
    """The cart priced now: `{items, total}`; a SKU the catalogue no longer has, or one withdrawn from sale,
    is flagged and not counted (a checkout with it is refused: 422 `product_withdrawn`)."""
    items = []
    for sku, quantity in cart:
        line = cart_line(sku, quantity, products.get(sku))
        items.append(line | {"in_stock": sku in in_stock and not line["withdrawn"]})
    total = sum(to_cents(item["line_total"]) for item in items if not (item["missing"] or item["withdrawn"]))
    return {"items": items, "total": format_cents(total)}


def lines_to_buy(cart: list[tuple[str, int]], skus: list[str] | None) -> list[tuple[str, int]]:
    """The cart lines a checkout buys: all of them, or those named by `skus`. 422 `empty_cart` when there are
    none; 422 naming each SKU asked for that is not in the cart."""
    if not cart:
        raise ApiError(422, "empty_cart", "Your cart is empty.")
    if skus is None:
        return cart
    held = dict(cart)
    absent = {f"skus.{i}": ["Not in your cart."] for i, sku in enumerate(skus) if sku not in held}
    if absent:
        raise ApiError(422, "validation_error", "Some fields are not valid.", absent)
    return [(sku, quantity) for sku, quantity in cart if sku in set(skus)]


def remove_bought(member_id: int, bought: list[tuple[str, int]]) -> Callable[[Session], None]:
    """For `services.place_order`'s transaction: take the bought lines out of the cart, exactly as the checkout
    read them. A line changed or gone meanwhile (another checkout, a change of quantity) is 409 `cart_changed`
    and rolls the order back with it: one cart line is never bought twice."""

    def remove(session: Session) -> None:
        _lock_member(session, member_id)
        as_read = tuple_(CartItem.sku, CartItem.quantity).in_(bought)
        gone = delete(CartItem).where(CartItem.member_id == member_id, as_read)
        removed = session.execute(gone.execution_options(synchronize_session=False)).rowcount
        if removed != len(bought):
            message = "Your cart changed during the checkout; look at it and check out again."
            raise ApiError(409, "cart_changed", message)

    return remove
