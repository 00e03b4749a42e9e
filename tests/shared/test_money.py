from decimal import Decimal

import pytest

from shared.money import format_cents, rate_of, to_cents


@pytest.mark.parametrize(
    "text, cents", [("12.50", 1250), ("12.5", 1250), ("-3", -300), ("0.01", 1), (1250, 125000), (Decimal("7.10"), 710)]
)
def test_amounts_become_exact_cents(text, cents):
    assert to_cents(text) == cents


@pytest.mark.parametrize(
    "bad", [12.5, True, "1e3", "1E+2", " 12.50", "12.505", "١٢", "NaN", "Infinity", "", "1" * 20, 10**20, "1e999999"]
)
def test_anything_else_is_refused(bad):
    with pytest.raises(ValueError):
        to_cents(bad)


def test_cents_print_as_two_place_decimals():
    assert [format_cents(c) for c in (1250, 5, -5, 0)] == ["12.50", "0.05", "-0.05", "0.00"]


def test_an_insurance_premium_of_three_per_mille_rounds_half_up():
    assert rate_of(329900, "0.003") == 990  # 3299.00 declared -> 9.90 premium
    assert rate_of(50, "0.005") == 0 and rate_of(100, "0.005") == 1


def test_a_body_nested_too_deeply_is_a_400_not_a_500_in_every_service(use_db):
    from services.billing import tasks  # noqa: F401
    from services.billing.app import create_app
    from services.billing.config import runtime

    use_db(runtime)
    client = create_app({"TESTING": True}).test_client()
    response = client.post(
        "/internal/wallets/1/adjust",
        data="[" * 100_000,
        content_type="application/json",
        headers={"X-Service-Token": runtime.settings.service_token},
    )
    assert response.status_code == 400 and response.json["error"]["code"] == "invalid_json"
