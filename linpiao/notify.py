"""Reaching a buyer: e-mail through the SMTP server the settings name, SMS behind a small interface.

:class:`Notifier` is what the customer-service desk uses (:class:`registry.service_desk.Messenger`). E-mail goes
through the standard library's ``smtplib`` in a worker thread, so a slow mail server never blocks the event loop.
No SMS gateway is contracted yet: :class:`LoggedSms` only writes the message to the log, and is used outside
production only, so a production desk says plainly that SMS is not configured rather than pretending to send.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Protocol

from kernel.settings import Settings
from registry.service_desk import Channel, ChannelUnavailable, DeliveryFailed

log = logging.getLogger("linpiao.notify")


class Mailer(Protocol):
    async def send(self, to: str, subject: str, body: str) -> None: ...


class SmsSender(Protocol):
    async def send(self, to: str, text: str) -> None: ...


@dataclass(frozen=True)
class SmtpMailer:
    """Plain-text mail through an SMTP server: STARTTLS (port 587, the default), implicit TLS (465) or none
    (a relay on the same host)."""

    host: str
    port: int = 587
    sender: str = ""
    username: str = ""
    password: str = ""
    security: str = "starttls"  # starttls | ssl | none
    timeout: float = 20.0

    def message(self, to: str, subject: str, body: str) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or None)
        message.set_content(body)
        return message

    def _send(self, message: EmailMessage) -> None:
        context = ssl.create_default_context()
        client: smtplib.SMTP
        if self.security == "ssl":
            client = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with client:
            if self.security == "starttls":
                client.starttls(context=context)
            if self.username:
                client.login(self.username, self.password)
            client.send_message(message)

    async def send(self, to: str, subject: str, body: str) -> None:
        try:
            await asyncio.to_thread(self._send, self.message(to, subject, body))
        except (OSError, smtplib.SMTPException) as exc:
            log.warning("mail to %s failed: %s", to, exc)
            raise DeliveryFailed(type(exc).__name__) from exc


class LoggedMail:
    """The demo mailer (no SMTP server configured, outside production): the message goes to the log only."""

    async def send(self, to: str, subject: str, body: str) -> None:
        log.info("demo e-mail to %s: %s\n%s", to, subject, body)


class LoggedSms:
    """The demo SMS sender: the text goes to the log only (a real gateway implements :class:`SmsSender`)."""

    async def send(self, to: str, text: str) -> None:
        log.info("demo SMS to %s: %s", to, text)


@dataclass
class Notifier:
    """E-mail and SMS for the desk; a channel without a sender is unavailable."""

    mailer: Mailer | None = None
    sms: SmsSender | None = None

    def available(self, channel: Channel) -> bool:
        return (self.mailer if channel is Channel.EMAIL else self.sms) is not None

    async def send_email(self, to: str, subject: str, body: str) -> None:
        if self.mailer is None:
            raise ChannelUnavailable("email")
        await self.mailer.send(to, subject, body)

    async def send_sms(self, to: str, text: str) -> None:
        if self.sms is None:
            raise ChannelUnavailable("sms")
        await self.sms.send(to, text)


def notifier_for(settings: Settings) -> Notifier:
    """SMTP when ``LINPIAO_SMTP_HOST`` is set; otherwise, outside production, the logging demo senders."""
    mailer: Mailer | None = None
    if settings.smtp_host:
        mailer = SmtpMailer(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.smtp_from,
            username=settings.smtp_username,
            password=settings.smtp_password,
            security=settings.smtp_security,
        )
    elif not settings.production:
        mailer = LoggedMail()
    return Notifier(mailer=mailer, sms=None if settings.production else LoggedSms())
