"""The embedded demo's Alipay sandbox: a key pair under var/ stands in for Alipay's, and `mall alipay-pay`
notifies as Alipay would. Only for the demo on the embedded default; never on servers."""

import argparse
import os

from cryptography.hazmat.primitives.serialization import load_pem_public_key

from gateway.services import alipay_signature_valid
from mall import cli
from mall.partners import SANDBOX_FOLDER, sandbox_alipay_key
from shared.config import Settings


def settings_for(monkeypatch, tmp_path, **env):
    monkeypatch.setenv("MALL_VAR_DIR", str(tmp_path))
    for name in [n for n in os.environ if n.startswith("MALL_DATABASE_URL_")] + [
        "MALL_BROKER_URL",
        "MALL_ALIPAY_PUBLIC_KEY",
    ]:  # (other tests leave their databases in the environment)
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings.from_env()


def test_the_embedded_demo_gets_a_sandbox_key_when_none_is_configured(monkeypatch, tmp_path):
    env = {}
    path = sandbox_alipay_key(settings_for(monkeypatch, tmp_path), env)
    assert path == str(tmp_path / SANDBOX_FOLDER / "alipay-public.pem") == env["MALL_ALIPAY_PUBLIC_KEY"]
    assert (tmp_path / SANDBOX_FOLDER / "alipay-private.pem").exists()


def test_a_configured_key_or_real_servers_get_no_sandbox(monkeypatch, tmp_path):
    env = {}
    configured = settings_for(monkeypatch, tmp_path, MALL_ALIPAY_PUBLIC_KEY="/etc/mall/alipay.pem")
    assert sandbox_alipay_key(configured, env) is None
    servers = settings_for(monkeypatch, tmp_path, MALL_BROKER_URL="redis://127.0.0.1:6379/0")
    assert sandbox_alipay_key(servers, env) is None
    assert env == {} and not (tmp_path / SANDBOX_FOLDER).exists()


def test_alipay_pay_posts_a_notification_the_sandbox_key_verifies(monkeypatch, tmp_path):
    env = {}
    settings = settings_for(monkeypatch, tmp_path)
    public = load_pem_public_key(open(sandbox_alipay_key(settings, env), "rb").read())
    posted = []
    monkeypatch.setattr("mall.http.call", lambda method, url, form=None, **_: posted.append((url, form)) or (200, "ok"))
    args = argparse.Namespace(out_trade_no="M1-1a2b3c4d", amount="25.00", status="TRADE_SUCCESS", url=None)
    assert cli.cmd_alipay_pay(args) == 0
    [(url, form)] = posted
    assert url.endswith("/webhooks/alipay") and form["out_trade_no"] == "M1-1a2b3c4d"
    assert form["total_amount"] == "25.00" and alipay_signature_valid(form, public)


def test_alipay_pay_refuses_without_the_sandbox(monkeypatch, tmp_path, capsys):
    settings_for(monkeypatch, tmp_path)
    args = argparse.Namespace(out_trade_no="M1-1a2b3c4d", amount="25.00", status="TRADE_SUCCESS", url=None)
    assert cli.cmd_alipay_pay(args) == 2
    assert "no sandbox key" in capsys.readouterr().out


def test_no_sandbox_key_when_a_database_is_a_server(monkeypatch, tmp_path):
    env = {}
    url = "postgresql+psycopg://mall@db.internal/billing"
    assert sandbox_alipay_key(settings_for(monkeypatch, tmp_path, MALL_DATABASE_URL_BILLING=url), env) is None
    assert env == {} and not (tmp_path / SANDBOX_FOLDER).exists()


def test_the_sandbox_private_key_is_readable_by_its_owner_only(monkeypatch, tmp_path):
    sandbox_alipay_key(settings_for(monkeypatch, tmp_path), {})
    assert (tmp_path / SANDBOX_FOLDER / "alipay-private.pem").stat().st_mode & 0o077 == 0


def test_alipay_pay_says_the_trade_was_paid_now(monkeypatch, tmp_path):
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    sandbox_alipay_key(settings_for(monkeypatch, tmp_path), {})
    posted = []
    monkeypatch.setattr("mall.http.call", lambda method, url, form=None, **_: posted.append(form) or (200, "ok"))
    args = argparse.Namespace(out_trade_no="M1-1a2b3c4d", amount="25.00", status="TRADE_SUCCESS", url=None)
    assert cli.cmd_alipay_pay(args) == 0
    beijing = ZoneInfo("Asia/Shanghai")
    paid = datetime.strptime(posted[0]["gmt_payment"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=beijing)
    assert abs(datetime.now(beijing) - paid) < timedelta(minutes=5)  # the sale counts in today's month
