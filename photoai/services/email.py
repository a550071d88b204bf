"""Outgoing email: SMTP when configured, otherwise one .eml file per message in the outbox.

The outbox makes every flow that sends mail (password reset, training done, low credits)
usable offline: the operator, or a test, opens the file.
"""

import smtplib
import ssl
import time
import uuid
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from photoai.settings import get_settings


def build_message(to: str, subject: str, text: str) -> EmailMessage:
    settings = get_settings()
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="photoai.local")
    message.set_content(text)
    return message


def send_email(to: str, subject: str, text: str) -> Path | None:
    """Deliver a plain-text message; returns the outbox file when no SMTP server is set."""
    settings = get_settings()
    message = build_message(to, subject, text)
    if not settings.smtp_host:
        outbox = settings.outbox_dir
        outbox.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        path = outbox / f"{stamp}_{uuid.uuid4().hex[:8]}.eml"
        path.write_bytes(bytes(message))
        return path
    with smtplib.SMTP(
        settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_seconds
    ) as smtp:
        if settings.smtp_starttls:
            smtp.starttls(context=ssl.create_default_context())
        if settings.smtp_username:
            smtp.login(settings.smtp_username, settings.smtp_password)
        smtp.send_message(message)
    return None
