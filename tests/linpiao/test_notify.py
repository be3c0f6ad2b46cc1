"""Mail to buyers through a real SMTP conversation (aiosmtpd on loopback), the demo senders, and the choice."""

from __future__ import annotations

import email
import logging
from collections.abc import Iterator
from email.header import decode_header, make_header
from email.message import Message

import pytest
from aiosmtpd.controller import Controller

from kernel.settings import Settings, SettingsError, load_settings
from linpiao.notify import LoggedMail, LoggedSms, Notifier, SmtpMailer, notifier_for
from registry.service_desk import Channel, ChannelUnavailable, DeliveryFailed
from tests.live import free_port


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], Message]] = []

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), email.message_from_bytes(envelope.content)))
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, _Inbox]]:
    inbox = _Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, inbox
    finally:
        controller.stop()


async def test_smtp_mailer_delivers_plain_text_utf8(smtp_server):
    port, inbox = smtp_server
    mailer = SmtpMailer(host="127.0.0.1", port=port, sender="shop@linpiao.example", security="none")
    await mailer.send("buyer@example.com", "订单链接 / Your order", "您好：\nhttps://lp.example/orders/abc\n")
    [(sender, recipients, message)] = inbox.messages
    assert sender == "shop@linpiao.example" and recipients == ["buyer@example.com"]
    assert str(make_header(decode_header(message["Subject"]))) == "订单链接 / Your order"
    body = message.get_payload(decode=True).decode(message.get_content_charset())
    assert "https://lp.example/orders/abc" in body and "您好" in body


async def test_an_unreachable_server_is_a_delivery_failure():
    mailer = SmtpMailer(host="127.0.0.1", port=free_port(), sender="shop@linpiao.example", security="none", timeout=2)
    with pytest.raises(DeliveryFailed):
        await mailer.send("buyer@example.com", "s", "b")


async def test_demo_senders_only_log(caplog):
    with caplog.at_level(logging.INFO, logger="linpiao.notify"):
        await LoggedMail().send("a@example.com", "subject", "body with link")
        await LoggedSms().send("13800138000", "text with link")
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "a@example.com" in logged and "13800138000" in logged and "text with link" in logged


async def test_a_channel_without_a_sender_is_unavailable():
    notifier = Notifier(mailer=LoggedMail(), sms=None)
    assert notifier.available(Channel.EMAIL) and not notifier.available(Channel.SMS)
    with pytest.raises(ChannelUnavailable):
        await notifier.send_sms("13800138000", "x")


def test_the_settings_choose_the_senders(tmp_path):
    development = notifier_for(Settings())
    assert isinstance(development.mailer, LoggedMail) and isinstance(development.sms, LoggedSms)
    smtp = notifier_for(Settings(smtp_host="mail.example", smtp_from="shop@linpiao.example", smtp_port=465))
    assert isinstance(smtp.mailer, SmtpMailer) and smtp.mailer.port == 465
    production = notifier_for(Settings(env="production"))
    assert production.mailer is None and production.sms is None  # never pretend to send in production
    loaded = load_settings(
        {"LINPIAO_SMTP_HOST": "mail.example", "LINPIAO_SMTP_FROM": "a@b.example", "LINPIAO_SMTP_SECURITY": "ssl"},
        env_file=tmp_path / "none",
    )
    assert (loaded.smtp_host, loaded.smtp_port, loaded.smtp_security) == ("mail.example", 587, "ssl")
    with pytest.raises(SettingsError):
        Settings(smtp_security="plain").check()
    with pytest.raises(SettingsError):
        Settings(smtp_host="mail.example").check()  # a sender address is required
