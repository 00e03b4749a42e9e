"""Settings that would break a rule of the business stop the process at start, naming themselves."""

import pytest

from shared.config import Settings


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MALL_AUTO_RECEIPT_DAYS", "14"),  # the 15th settles the month before: receipts must be final by then
        ("MALL_AUTO_RECEIPT_DAYS", "0"),
        ("MALL_AUTO_RECEIPT_DAYS", "ten"),
        ("MALL_PAYMENT_TIMEOUT_MINUTES", "0"),
        ("MALL_PAYMENT_TIMEOUT_MINUTES", "-5"),
        ("MALL_AUCTION_MIN_SECONDS", "0"),
        ("MALL_AUCTION_MIN_SECONDS", "86401"),  # longer than a day: the default 48 hours might not fit
        ("MALL_AUCTION_MAX_DAYS", "1"),  # DOMAIN.md's "about two days" must fit
    ],
)
def test_a_setting_outside_its_range_is_refused_by_name(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=name):
        Settings.from_env()


def test_the_defaults_and_a_setting_in_range(monkeypatch):
    settings = Settings.from_env()
    assert (settings.auto_receipt_days, settings.payment_timeout_minutes) == (10, 30)
    monkeypatch.setenv("MALL_AUTO_RECEIPT_DAYS", "13")
    monkeypatch.setenv("MALL_PAYMENT_TIMEOUT_MINUTES", "15")
    settings = Settings.from_env()
    assert (settings.auto_receipt_days, settings.payment_timeout_minutes) == (13, 15)
