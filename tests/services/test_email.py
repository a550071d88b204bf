import email
import time
from collections.abc import Iterator
from email.message import Message
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from photoai.services.email import send_email
from photoai.settings import get_settings
from tests.local_servers import free_port


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def smtp_server(settings_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Inbox]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    monkeypatch.setenv("PHOTOAI_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("PHOTOAI_SMTP_PORT", str(controller.port))
    monkeypatch.setenv("PHOTOAI_SMTP_STARTTLS", "false")
    get_settings.cache_clear()
    yield inbox
    controller.stop()


def test_smtp_delivery_over_loopback(smtp_server: Inbox, data_dir: Path) -> None:
    assert send_email("ada@example.com", "Your model is ready", "Open photoai.") is None
    deadline = time.monotonic() + 5
    while not smtp_server.messages and time.monotonic() < deadline:
        time.sleep(0.05)
    [message] = smtp_server.messages
    assert message["To"] == "ada@example.com"
    assert message["Subject"] == "Your model is ready"
    assert "Open photoai." in message.get_payload()  # type: ignore[operator]
    assert not (data_dir / "outbox").exists()


def test_without_smtp_messages_go_to_the_outbox(settings_env: None, data_dir: Path) -> None:
    path = send_email("bob@example.com", "Hello", "Line one\nLine two")
    assert path is not None and path.parent == data_dir / "outbox"
    message = email.message_from_bytes(path.read_bytes())
    assert message["To"] == "bob@example.com"
    assert "Line two" in message.get_payload()  # type: ignore[operator]


def test_unreachable_smtp_server_raises(
    settings_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PHOTOAI_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("PHOTOAI_SMTP_PORT", str(free_port()))
    get_settings.cache_clear()
    with pytest.raises(OSError):
        send_email("c@example.com", "x", "y")
