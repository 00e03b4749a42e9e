"""The embedded demo's Alipay sandbox: a key pair under var/ stands in for Alipay's, and `mall alipay-pay`
notifies as Alipay would. Only for the demo on the embedded default; never on servers."""

import argparse

from cryptography.hazmat.primitives.serialization import load_pem_public_key

from gateway.services import alipay_signature_valid
from mall import cli
from mall.partners import SANDBOX_FOLDER, sandbox_alipay_key
from shared.config import Settings


def settings_for(monkeypatch, tmp_path, **env):
    monkeypatch.setenv("MALL_VAR_DIR", str(tmp_path))
    for name in ("MALL_BROKER_URL", "MALL_ALIPAY_PUBLIC_KEY"):
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
