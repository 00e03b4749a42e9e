"""The partners' side of their callbacks, for tests and demos: Alipay signs its notifications with its
private key, and the mall verifies them with Alipay's public key (`MALL_ALIPAY_PUBLIC_KEY`).

A mall under test gets a key pair of its own (`AlipaySigner.in_folder`); its public half is what the
mall is configured with, its private half signs the notifications the tests send, exactly as Alipay
does (RSA2: RSA PKCS#1 v1.5 with SHA-256 over `gateway.services.alipay_signed_text`, base64).
"""

from __future__ import annotations

import base64
import hashlib
import os
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from gateway.services import alipay_signed_text

#: Where the embedded demo keeps its Alipay sandbox key pair (under MALL_VAR_DIR).
SANDBOX_FOLDER = "alipay-sandbox"


def sandbox_alipay_key(settings, env: dict[str, str]) -> str | None:
    """For the embedded demo only (`mall run` with demo data, no servers): when no Alipay key is configured,
    a sandbox key pair under var/ stands in for Alipay's, so that `mall alipay-pay` can pay the demo's
    online orders exactly as Alipay would notify. Sets MALL_ALIPAY_PUBLIC_KEY in `env`; returns its path.
    Never on servers (a broker, or any database that is not a SQLite file under var/): there the mall
    trusts only the key MALL_ALIPAY_PUBLIC_KEY names."""
    if not settings.embedded or settings.alipay_public_key:
        return None
    own_files = {f"sqlite:///{settings.var_dir / (name + '.db')}" for name in settings.database_urls}
    if not set(settings.database_urls.values()) <= own_files:
        return None
    AlipaySigner.in_folder(settings.var_dir / SANDBOX_FOLDER)
    path = str(settings.var_dir / SANDBOX_FOLDER / "alipay-public.pem")
    env["MALL_ALIPAY_PUBLIC_KEY"] = path
    return path


class AlipaySigner:
    def __init__(self, private_key: rsa.RSAPrivateKey):
        self.private_key = private_key

    @classmethod
    def new(cls) -> AlipaySigner:
        return cls(rsa.generate_private_key(public_exponent=65537, key_size=2048))

    @classmethod
    def in_folder(cls, folder: Path) -> AlipaySigner:
        """The key pair kept in `folder` (made on first use): `alipay-private.pem` and `alipay-public.pem`."""
        private = folder / "alipay-private.pem"
        if private.exists():
            return cls(serialization.load_pem_private_key(private.read_bytes(), password=None))
        signer = cls.new()
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        pem = signer.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # the signing half: its owner's only
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
        signer.write_public_key(folder / "alipay-public.pem")
        return signer

    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def write_public_key(self, path: Path) -> Path:
        path.write_bytes(self.public_pem())
        return path

    def sign(self, fields: dict[str, str]) -> dict[str, str]:
        """`fields` with `sign_type` RSA2 and their `sign`, as Alipay posts them."""
        signature = self.private_key.sign(alipay_signed_text(fields).encode(), padding.PKCS1v15(), hashes.SHA256())
        return dict(fields, sign_type="RSA2", sign=base64.b64encode(signature).decode())

    @staticmethod
    def trade_notice(
        out_trade_no: str, amount: str, status: str = "TRADE_SUCCESS", at: datetime | None = None, **extra: str
    ) -> dict[str, str]:
        """The fields of an asynchronous trade notification, before signing (Alipay sends more; all are signed).
        Its times are `at` in Beijing time, as Alipay writes them (tests leave it out for fixed times)."""
        if at is not None:
            beijing = at.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M:%S")
            extra = {"notify_time": beijing, "gmt_create": beijing, "gmt_payment": beijing} | extra
        digest = hashlib.sha256(out_trade_no.encode()).hexdigest()
        trade_no = extra.pop("trade_no", "2026112522001" + str(int(digest[:12], 16)).zfill(15)[:15])
        return {
            "notify_time": "2026-11-25 10:00:05",
            "notify_type": "trade_status_sync",
            "notify_id": digest[:32],
            "app_id": "2021000000000000",
            "charset": "utf-8",
            "version": "1.0",
            "trade_no": trade_no,
            "out_trade_no": out_trade_no,
            "buyer_id": "2088102122524333",
            "seller_id": "2088101106499364",
            "trade_status": status,
            "total_amount": amount,
            "receipt_amount": amount,
            "buyer_pay_amount": amount,
            "subject": "Mall order",
            "body": "",
            "gmt_create": "2026-11-25 09:59:40",
            "gmt_payment": "2026-11-25 10:00:01",
            **extra,
        }
