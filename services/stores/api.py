"""Stores' internal HTTP API (service token required): units, stock-in, availability, packing tasks, purchasing."""

from flask import Blueprint, jsonify, request

from shared.web import error_body, load_body

from . import purchasing, services
from .config import runtime
from .schemas import NewPurchaseOrder, NewUnit, PurchaseOrderQuery, StockIn, TaskDone, TaskQuery

bp = Blueprint("stores", __name__, url_prefix="/internal")

#: How each refusal of the use cases reaches the caller.
ERRORS = {
    services.UnitExists: (409, "unit_exists", "A unit with this code exists already."),
    services.UnknownUnit: (404, "not_found", "Unit was not found."),
    services.TaskNotFound: (404, "not_found", "Packing task was not found at this unit."),
    services.TaskNotOpen: (409, "task_not_open", "The packing task is not open."),
}


@bp.errorhandler(services.StoresError)
def _stores_error(exc: services.StoresError):
    status, code, message = ERRORS[type(exc)]
    return jsonify(error_body(code, message)), status


@bp.post("/units")
def add_unit():
    """`{"code": "DS-COSMETICS", "name": "Cosmetics counter", "kind": "counter", "division": "department_store",
    "city": "Nanning", "lat": 22.81, "lon": 108.37}` -> 201 unit."""
    body = load_body(NewUnit)
    with runtime.db.session() as session, session.begin():
        unit = services.add_unit(session, body)
        return services.unit_view(unit), 201


@bp.get("/units")
def list_units():
    with runtime.db.session() as session:
        return {"items": [services.unit_view(u) for u in services.list_units(session)]}


@bp.post("/stock")
def stock_in():
    """`{"unit": "DS-COSMETICS", "sku": "LIPSTICK-RED-01", "quantity": 12}` -> 201 `{unit, sku, on_hand, reserved,
    available}`; sends stock.replenished in the same transaction."""
    body = load_body(StockIn)
    with runtime.unit_of_work(f"stock-in:{body['unit']}") as uow:
        view = services.stock_in(uow, body["unit"], body["sku"], body["quantity"])
    return view, 201


@bp.get("/availability")
def availability():
    """`?sku=LIPSTICK-RED-01&sku=...` -> one row per unit holding each SKU, with the unit's kind and place."""
    with runtime.db.session() as session:
        return {"items": services.availability(session, request.args.getlist("sku"))}


@bp.get("/tasks")
def list_tasks():
    """`?unit=SM-GUOMAO&status=open|done|cancelled|all` -> the unit's packing tasks, oldest first."""
    query = load_body(TaskQuery, request.args.to_dict())
    with runtime.db.session() as session:
        tasks = services.list_tasks(session, query["unit"], query["status"])
        return {"items": [services.task_view(t) for t in tasks]}


@bp.post("/tasks/<id:task_id>/done")
def task_done(task_id: int):
    """`{"unit": "SM-GUOMAO", "slip_no": "GD-0001"?}` -> 200 task; sends parcel.packed once."""
    body = load_body(TaskDone)
    with runtime.db.session() as session:
        order = services.task_order(session, task_id, body["unit"])
    with runtime.unit_of_work(order) as uow:
        task = services.complete_task(uow, task_id, body["unit"], body["slip_no"])
        view = services.task_view(task)
    return view


@bp.get("/purchase-notices")
def list_purchase_notices():
    """`?unit=SM-GUOMAO` (optional) -> external purchase notices (缺货外采通知), oldest first."""
    with runtime.db.session() as session:
        notices = services.list_purchase_notices(session, request.args.get("unit") or None)
        return {"items": [services.notice_view(n) for n in notices]}


# --- purchasing ----------------------------------------------------------------------------------


@bp.post("/purchase-orders")
def create_purchase_order():
    """`{unit, supplier, buyer, delivery_method: supplier_delivers|we_collect, settlement_method:
    cash|transfer|monthly, deliver_by: "2026-12-01" (after today), note?, lines: [{sku, quantity, unit_cost}]}`
    -> 201 the purchase order, a draft; 404 unknown unit."""
    body = load_body(NewPurchaseOrder)
    with runtime.db.session() as session, session.begin():
        order = purchasing.create(session, body, body["buyer"], runtime.settings.timezone)
        return purchasing.view(order), 201


@bp.get("/purchase-orders")
def list_purchase_orders():
    """`?unit=&status=` -> `{"items": [purchase order]}`, newest first."""
    query = load_body(PurchaseOrderQuery, request.args.to_dict())
    with runtime.db.session() as session, session.begin():
        orders = purchasing.list_orders(session, query["unit"], query["status"])
        return {"items": [purchasing.view(o) for o in orders]}


@bp.get("/purchase-orders/<id:order_id>")
def get_purchase_order(order_id: int):
    with runtime.db.session() as session, session.begin():
        return purchasing.view(purchasing.find(session, order_id))


@bp.post("/purchase-orders/<id:order_id>/<any(confirm, settle, cancel):action>")
def move_purchase_order(order_id: int, action: str):
    """Confirm a draft, settle a received order with its supplier, or cancel one not yet received; 409
    when it cannot (a repeat of what was done changes nothing)."""
    with runtime.db.session() as session, session.begin():
        if action == "confirm":
            order = purchasing.confirm(session, order_id, runtime.settings.timezone)
        else:
            order = getattr(purchasing, action)(session, order_id)
        return purchasing.view(order)


@bp.post("/purchase-orders/<id:order_id>/receive")
def receive_purchase_order(order_id: int):
    """The goods arrived: a stock-in of every line at the order's unit, once; orders waiting for them resume."""
    with runtime.unit_of_work(f"purchase-order:{order_id}") as uow:
        order = purchasing.receive(uow, order_id)
        view = purchasing.view(order)
    return view
