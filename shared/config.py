"""Settings for every process of the mall, read once from environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from shared.money import format_cents, to_cents

SERVICES = ("gateway", "catalog", "orders", "stores", "logistics", "billing")

#: Where each service's web process listens when nothing else is said (`MALL_<SERVICE>_URL` overrides).
DEFAULT_PORTS = {
    "gateway": 8000,
    "catalog": 8101,
    "orders": 8102,
    "stores": 8103,
    "logistics": 8104,
    "billing": 8105,
}

REPO_ROOT = Path(__file__).resolve().parent.parent


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


@dataclass(frozen=True)
class Settings:
    """One process's view of the environment; build it with `Settings.from_env()`."""

    var_dir: Path
    broker_url: str | None
    database_urls: dict[str, str] = field(default_factory=dict)
    service_urls: dict[str, str] = field(default_factory=dict)
    service_token: str = "mall-dev-service-token"
    jwt_secret: str = "mall-dev-jwt-secret-change-me-in-production"
    token_ttl_seconds: int = 3600
    home_city: str = "Nanning"
    timezone: str = "Asia/Shanghai"
    gateway_port: int = 8000
    bootstrap_admin: str | None = None
    kuaidi100_salt: str = "mall-dev-kuaidi100-salt"
    aftership_secret: str = "mall-dev-aftership-secret"
    alipay_public_key: str | None = None
    #: Where the gateway sends members' emails (password resets): `smtp://user:password@host:587`; unset:
    #: .eml files under var/mail (the embedded demo has no mail server).
    smtp_url: str | None = None
    mail_from: str = "mall@localhost"
    #: How long a password reset link works.
    password_reset_minutes: int = 30
    #: The mall's own app id at Alipay: when set, a notification for another app is refused.
    alipay_app_id: str | None = None
    #: The mall's seller id (PID) at Alipay: when set, a notification for another seller is refused.
    alipay_seller_id: str | None = None
    visibility_timeout: int = 60
    #: How long the saga waits for a reply before it sends the command again.
    reply_deadline_seconds: int = 30
    #: An online order not paid within this many minutes is cancelled and its stock released.
    payment_timeout_minutes: int = 30
    #: A delivered order's receipt is confirmed for the customer this many days after delivery. At most
    #: 13, so that everything delivered in a month is final before the 15th settles that month.
    auto_receipt_days: int = 10
    #: A customer may open an after-sales case (return, refund, complaint) this many days after delivery.
    after_sales_days: int = 15
    #: Local delivery batches close at these times of day (mall time zone).
    batch_cutoffs: tuple[str, ...] = ("10:00", "16:00")
    #: Courier insurance premium as a fraction of declared value (3‰ to 5‰ in the courier agreement).
    insurance_rate: str = "0.003"
    #: What the courier company charges per parcel out of town, in cents (`MALL_COURIER_FEE`, "12.00").
    courier_fee_cents: int = 1200
    #: What a parcel delivered by the group's own couriers costs, in cents (`MALL_LOCAL_DELIVERY_FEE`, "0.00").
    local_delivery_fee_cents: int = 0
    login_attempts_per_minute: int = 10
    #: Fault injection for the fault suite: the share of messages the relay publishes twice (0 normally).
    fault_duplicate_rate: float = 0.0
    #: Published outbox rows and inbox rows are deleted after this many days (`shared.messaging.prune`).
    message_retention_days: int = 14
    #: The shortest a person-to-person auction may run, in seconds (an hour; at most a day, so that the
    #: default of 48 hours always fits). Test malls set a few seconds to close auctions without waiting.
    auction_min_seconds: int = 3600
    #: The longest an auction may run, in days (at least 2: DOMAIN.md's "about two days" must fit).
    auction_max_days: int = 7

    @property
    def embedded(self) -> bool:
        """True when no broker server is configured: the mall uses its file-based broker under var/."""
        return self.broker_url is None

    def database_url(self, service: str) -> str:
        return self.database_urls[service]

    def service_url(self, service: str) -> str:
        return self.service_urls[service]

    @classmethod
    def from_env(cls) -> Settings:
        var_dir = Path(_env("MALL_VAR_DIR", str(REPO_ROOT / "var"))).resolve()
        port = int(_env("MALL_PORT", "8000"))
        database_urls = {
            name: _env(f"MALL_DATABASE_URL_{name.upper()}", f"sqlite:///{var_dir / (name + '.db')}")
            for name in SERVICES
        }
        service_urls = {
            name: _env(
                f"MALL_{name.upper()}_URL",
                f"http://127.0.0.1:{port if name == 'gateway' else DEFAULT_PORTS[name]}",
            )
            for name in SERVICES
        }
        cutoffs = tuple(c.strip() for c in _env("MALL_BATCH_CUTOFFS", "10:00,16:00").split(",") if c.strip())
        return cls(
            var_dir=var_dir,
            broker_url=_env("MALL_BROKER_URL"),
            database_urls=database_urls,
            service_urls=service_urls,
            service_token=_env("MALL_SERVICE_TOKEN", cls.service_token),
            jwt_secret=_env("MALL_JWT_SECRET", cls.jwt_secret),
            token_ttl_seconds=int(_env("MALL_TOKEN_TTL_SECONDS", str(cls.token_ttl_seconds))),
            home_city=_env("MALL_HOME_CITY", cls.home_city),
            timezone=_env("MALL_TIMEZONE", cls.timezone),
            gateway_port=port,
            bootstrap_admin=_env("MALL_BOOTSTRAP_ADMIN"),
            kuaidi100_salt=_env("MALL_KUAIDI100_SALT", cls.kuaidi100_salt),
            aftership_secret=_env("MALL_AFTERSHIP_SECRET", cls.aftership_secret),
            alipay_public_key=_env("MALL_ALIPAY_PUBLIC_KEY"),
            smtp_url=_env("MALL_SMTP_URL"),
            mail_from=_env("MALL_MAIL_FROM", cls.mail_from),
            password_reset_minutes=_whole("MALL_PASSWORD_RESET_MINUTES", cls.password_reset_minutes, 5, 24 * 60),
            alipay_app_id=_env("MALL_ALIPAY_APP_ID"),
            alipay_seller_id=_env("MALL_ALIPAY_SELLER_ID"),
            visibility_timeout=int(_env("MALL_VISIBILITY_TIMEOUT", str(cls.visibility_timeout))),
            reply_deadline_seconds=int(_env("MALL_REPLY_DEADLINE_SECONDS", str(cls.reply_deadline_seconds))),
            payment_timeout_minutes=_whole("MALL_PAYMENT_TIMEOUT_MINUTES", cls.payment_timeout_minutes, 1, 7 * 24 * 60),
            # At most 13: everything delivered in a month must be final before 02:00 on the 15th settles it.
            auto_receipt_days=_whole("MALL_AUTO_RECEIPT_DAYS", cls.auto_receipt_days, 1, 13),
            after_sales_days=_whole("MALL_AFTER_SALES_DAYS", cls.after_sales_days, 1, 365),
            batch_cutoffs=cutoffs,
            insurance_rate=_env("MALL_INSURANCE_RATE", cls.insurance_rate),
            courier_fee_cents=_fee("MALL_COURIER_FEE", cls.courier_fee_cents),
            local_delivery_fee_cents=_fee("MALL_LOCAL_DELIVERY_FEE", cls.local_delivery_fee_cents),
            login_attempts_per_minute=int(_env("MALL_LOGIN_ATTEMPTS_PER_MINUTE", "10")),
            fault_duplicate_rate=float(_env("MALL_FAULT_DUPLICATE_RATE", "0")),
            message_retention_days=_retention_days(),
            auction_min_seconds=_whole("MALL_AUCTION_MIN_SECONDS", cls.auction_min_seconds, 1, 24 * 3600),
            auction_max_days=_whole("MALL_AUCTION_MAX_DAYS", cls.auction_max_days, 2, 30),
        )


def _fee(name: str, default_cents: int) -> int:
    """A fee setting written as money ("12.00") in integer cents; a start-up error naming it if it is not one."""
    raw = _env(name, format_cents(default_cents))
    try:
        cents = to_cents(raw)
    except ValueError as exc:
        raise ValueError(f"{name} {exc}") from None
    if cents < 0:
        raise ValueError(f"{name} must not be negative (not {raw!r})")
    return cents


def _whole(name: str, default: int, low: int, high: int) -> int:
    """A whole-number setting within [low, high]; anything else stops the process, naming the setting."""
    raw = _env(name, str(default))
    value = int(raw) if raw.strip().isdigit() else None
    if value is None or not low <= value <= high:
        raise ValueError(f"{name} must be a whole number from {low} to {high} (not {raw!r})")
    return value


def _retention_days() -> int:
    raw = _env("MALL_MESSAGE_RETENTION_DAYS", str(Settings.message_retention_days))
    try:
        return retention_days(raw)
    except ValueError as exc:
        raise ValueError(f"MALL_MESSAGE_RETENTION_DAYS {exc}") from None


def retention_days(raw: str) -> int:
    """A message retention from text: a whole number of days, at least 1.

    The inbox must remember a message for longer than any copy of it can arrive (a broker's redelivery
    after the visibility timeout, at most hours): less than a day is never right.
    """
    days = int(raw) if raw.strip().isdigit() else 0
    if days < 1:
        raise ValueError(f"must be a whole number of days, at least 1 (not {raw!r})")
    return days


def is_local(city: str, settings: Settings) -> bool:
    """An address in the mall's home city is delivered by the group's own couriers."""
    return city.strip().casefold() == settings.home_city.strip().casefold()
