"""How the gateway sends a member an email (a password reset link): SMTP on servers, a folder on the embedded default.

Both take the same message. `SmtpMailer` talks to the server `MALL_SMTP_URL` names
(`smtp://user:password@host:587`, STARTTLS; `smtps://` for TLS from the start). `FolderMailer` writes each
message as an `.eml` file under `var/mail/`, which any mail client opens: the embedded demo has no mail
server, and the tests read the messages there.
"""

from __future__ import annotations

import smtplib
import ssl
import uuid
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlparse


class Mailer(Protocol):
    def send(self, message: EmailMessage) -> None: ...


class FolderMailer:
    """Each message an .eml file in `folder`, written under a temporary name and renamed into place."""

    def __init__(self, folder: Path):
        self.folder = folder

    def send(self, message: EmailMessage) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{uuid.uuid4().hex}.eml"
        partial = self.folder / f".{name}.tmp"
        partial.write_bytes(bytes(message))
        partial.replace(self.folder / name)


class SmtpMailer:
    """One connection a message (resets are rare), STARTTLS unless the URL says smtps."""

    def __init__(self, url: str, timeout: float = 10.0):
        parts = urlparse(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("MALL_SMTP_URL must look like smtp://user:password@host:587 (or smtps://)")
        self.tls = parts.scheme == "smtps"
        self.host, self.port = parts.hostname, parts.port or (465 if self.tls else 587)
        self.user = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.timeout = timeout

    def send(self, message: EmailMessage) -> None:
        context = ssl.create_default_context()
        if self.tls:
            server: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            server = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with server:
            if not self.tls:
                server.starttls(context=context)
            if self.user:
                server.login(self.user, self.password or "")
            server.send_message(message)


def mailer_for(smtp_url: str | None, var_dir: Path) -> Mailer:
    return SmtpMailer(smtp_url) if smtp_url else FolderMailer(var_dir / "mail")
