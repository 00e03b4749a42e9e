"""A forgotten password: a reset code emailed to the account's address, used once before it expires."""

import re
from datetime import timedelta
from email import message_from_bytes

import pytest
from gateway_helpers import bearer, login

from gateway.mail import FolderMailer, SmtpMailer, mailer_for


class Outbox:
    """The mail the gateway sent, kept in memory."""

    def __init__(self):
        self.sent = []

    def send(self, message):
        self.sent.append(message)

    def code(self, index=-1):
        return re.search(r"Your reset code: (\S+)", self.sent[index].get_content()).group(1)


@pytest.fixture
def outbox(app):
    app.config["MAILER"] = mailbox = Outbox()
    return mailbox


@pytest.fixture
def member(client):
    body = {"username": "li_ming", "password": "Jasmine-Tea-88", "email": "li@example.com"}
    assert client.post("/api/auth/register", json=body).status_code == 201
    return login(client, "li_ming", "Jasmine-Tea-88")


def forgot(client, username="li_ming"):
    return client.post("/api/auth/password/forgot", json={"username": username})


def reset(client, token, password="Osmanthus-Tea-99"):
    return client.post("/api/auth/password/reset", json={"token": token, "new_password": password})


def test_a_member_resets_a_forgotten_password_with_the_emailed_code_once(client, outbox, member):
    assert forgot(client).status_code == 202
    [mail] = outbox.sent
    assert mail["To"] == "li@example.com" and "reset" in mail["Subject"].lower()
    code = outbox.code()
    assert reset(client, code).status_code == 204
    assert login(client, "li_ming", "Osmanthus-Tea-99")
    assert client.get("/api/auth/me", headers=bearer(member)).status_code == 401  # old log-ins end
    again = reset(client, code, "Another-Pass-77")
    assert again.status_code == 422 and again.json["error"]["code"] == "invalid_reset_token"


def test_every_name_gets_the_same_answer_and_only_real_accounts_with_an_email_get_mail(
    client, outbox, member, make_customer
):
    make_customer("no_email")
    for name in ("li_ming", "nobody_at_all", "no_email"):
        response = forgot(client, name)
        assert (response.status_code, response.json) == (202, {})
    assert [m["To"] for m in outbox.sent] == ["li@example.com"]


def test_at_most_three_codes_work_at_once_and_using_one_ends_the_others(client, outbox, member):
    for _ in range(5):
        forgot(client)
    assert len(outbox.sent) == 3
    first, second = outbox.code(0), outbox.code(1)
    assert reset(client, second).status_code == 204
    assert reset(client, first, "Another-Pass-77").status_code == 422


def test_an_expired_code_is_refused(client, outbox, member, gateway, monkeypatch):
    from gateway import services
    from shared.messaging import now

    forgot(client)
    later = now() + timedelta(minutes=gateway.settings.password_reset_minutes, seconds=1)
    monkeypatch.setattr(services, "now", lambda: later)
    assert reset(client, outbox.code()).status_code == 422
    assert login(client, "li_ming", "Jasmine-Tea-88")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"token": "x" * 20},
        {"token": "short", "new_password": "Good-Pass-123"},
        {"token": "x" * 20, "new_password": "short"},
    ],
)
def test_a_bad_reset_is_422(client, body):
    assert client.post("/api/auth/password/reset", json=body).status_code == 422


def test_a_wrong_code_changes_nothing(client, outbox, member):
    forgot(client)
    assert reset(client, outbox.code() + "x").status_code == 422
    assert login(client, "li_ming", "Jasmine-Tea-88")


def test_the_embedded_default_writes_mail_a_mail_client_opens(tmp_path):
    from email.message import EmailMessage

    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "mall@localhost", "li@example.com", "Hello"
    message.set_content("Your reset code: abc")
    mailer = mailer_for(None, tmp_path)
    assert isinstance(mailer, FolderMailer)
    mailer.send(message)
    [written] = list((tmp_path / "mail").glob("*.eml"))
    assert message_from_bytes(written.read_bytes())["To"] == "li@example.com"


def test_an_smtp_url_chooses_the_server_and_a_bad_one_is_refused():
    mailer = mailer_for("smtp://mall%40example.com:s3cret@mail.example.com", None)
    assert isinstance(mailer, SmtpMailer)
    assert (mailer.host, mailer.port, mailer.user, mailer.password, mailer.tls) == (
        "mail.example.com",
        587,
        "mall@example.com",
        "s3cret",
        False,
    )
    assert mailer_for("smtps://mail.example.com", None).port == 465
    with pytest.raises(ValueError, match="MALL_SMTP_URL"):
        mailer_for("http://mail.example.com", None)


def test_a_disabled_account_gets_no_reset_code(client, outbox, root, make_account, gateway):
    from gateway.models import User

    make_account("chen_tea", "staff", unit="DS-TEA")
    with gateway.db.session() as session, session.begin():
        user = session.query(User).filter_by(username="chen_tea").one()
        user.email, staff_id = "chen@example.com", user.id
    forgot(client, "chen_tea")
    code = outbox.code()
    assert client.post(f"/api/admin/staff/{staff_id}/disable", json={}, headers=bearer(root)).status_code == 200
    assert reset(client, code).status_code == 422  # a code sent before the account was disabled
    forgot(client, "chen_tea")
    assert len(outbox.sent) == 1
