"""The ``email`` destination against a real SMTP server on loopback (aiosmtpd)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from profilo.activate.destinations import DeliveryError, make_destination
from profilo.activate.destinations.email import EmailDestination, make_email
from profilo.errors import ConfigError

from .factories import change
from .smtp_server import SMTPTestServer, free_port, self_signed

TEMPLATES: dict[str, Any] = {
    "from_address": "news@shop.example",
    "from_name": "The Shop",
    "subject": "{{ first_name }}, your {{ tier | default('member') }} offer",
    "text": "Hello {{ first_name }},\nYou have {{ points }} points.\n",
    "html": "<p>Hello <b>{{ first_name }}</b></p>",
    "list_unsubscribe": "https://shop.example/unsubscribe/{{ profile_id }}",
}


@pytest.fixture
def smtp() -> Iterator[SMTPTestServer]:
    server = SMTPTestServer()
    yield server
    server.stop()


def plain(server: SMTPTestServer, **settings: Any) -> EmailDestination:
    return make_email(
        {"host": "127.0.0.1", "port": server.port, "starttls": False, **TEMPLATES, **settings}, {}
    )


def test_one_message_per_profile_with_its_traits(smtp: SMTPTestServer) -> None:
    destination = plain(smtp)
    outcome = destination.send(
        [
            change("p1", email="ada@example.com", fields={"first_name": "Ada", "points": 120}),
            change(
                "p2",
                email="bob@example.com",
                fields={"first_name": "<Bob>", "points": 3, "tier": "gold"},
            ),
        ]
    )
    assert outcome.failed == {}
    assert outcome.details["sent"] == 2
    assert [r.recipients for r in smtp.received] == [["ada@example.com"], ["bob@example.com"]]
    ada = smtp.received[0].message
    assert ada["Subject"] == "Ada, your member offer"
    assert ada["From"] == "The Shop <news@shop.example>"
    assert ada["List-Unsubscribe"] == "<https://shop.example/unsubscribe/p1>"
    assert ada["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert ada["Message-ID"].endswith(".profilo@shop.example>")
    text = ada.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert text.replace("\r\n", "\n") == "Hello Ada,\nYou have 120 points.\n"
    bob = smtp.received[1].message
    assert bob["Subject"] == "<Bob>, your gold offer"
    html = bob.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "<b>&lt;Bob&gt;</b>" in html  # values are escaped in HTML


def test_removes_and_trait_changes_send_nothing_by_default(smtp: SMTPTestServer) -> None:
    outcome = plain(smtp).send(
        [
            change("p1", "remove", email="ada@example.com"),
            change("p2", audience=None, email="bob@example.com", fields={"first_name": "B"}),
        ]
    )
    assert outcome.failed == {}
    assert outcome.details == {"sent": 0, "skipped": 2}
    assert smtp.received == []


def test_refused_recipients_permanent_for_5xx_retryable_for_4xx(smtp: SMTPTestServer) -> None:
    fields = {"first_name": "X", "points": 1}
    gone = change("p1", email="gone@bounce.example", fields=fields)
    busy = change("p2", email="full@busy.example", fields=fields)
    fine = change("p3", email="ada@example.com", fields=fields)
    outcome = plain(smtp).send([gone, busy, fine])
    assert set(outcome.failed) == {gone.change_id, busy.change_id}
    assert not outcome.failed[gone.change_id].retryable
    assert "550" in outcome.failed[gone.change_id].reason
    assert outcome.failed[busy.change_id].retryable
    assert "451" in outcome.failed[busy.change_id].reason
    assert [r.recipients for r in smtp.received] == [["ada@example.com"]]


def test_missing_trait_or_address_fails_that_profile_only(smtp: SMTPTestServer) -> None:
    no_points = change("p1", email="ada@example.com", fields={"first_name": "Ada"})
    no_email = change("p2", fields={"first_name": "Bob", "points": 1})
    fine = change("p3", email="cy@example.com", fields={"first_name": "Cy", "points": 2})
    outcome = plain(smtp).send([no_points, no_email, fine])
    assert "'points' is undefined" in outcome.failed[no_points.change_id].reason
    assert not outcome.failed[no_points.change_id].retryable
    assert "no e-mail address" in outcome.failed[no_email.change_id].reason
    assert len(smtp.received) == 1


def test_template_sandbox_refuses_python_internals(smtp: SMTPTestServer) -> None:
    destination = plain(smtp, subject="{{ first_name.__class__.__mro__ }}")
    item = change("p1", email="ada@example.com", fields={"first_name": "Ada", "points": 1})
    outcome = destination.send([item])
    assert not outcome.failed[item.change_id].retryable
    assert smtp.received == []


def test_server_down_is_retryable_for_the_whole_batch() -> None:
    destination = make_email(
        {"host": "127.0.0.1", "port": free_port(), "starttls": False, **TEMPLATES}, {}
    )
    with pytest.raises(DeliveryError) as caught:
        destination.send(
            [change("p1", email="a@example.com", fields={"first_name": "A", "points": 1})]
        )
    assert caught.value.retryable


def test_starttls_and_login(tmp_path: Path) -> None:
    certificate = self_signed(tmp_path)
    server = SMTPTestServer(certificate=certificate, logins={"mailer": "s3cret"})
    try:
        settings = {
            "host": "localhost",
            "port": server.port,
            "starttls": True,
            "tls_ca_file": str(certificate[0]),
            "username": "mailer",
            **TEMPLATES,
        }
        item = change("p1", email="ada@example.com", fields={"first_name": "Ada", "points": 5})
        assert make_email(settings, {"password": "s3cret"}).send([item]).failed == {}
        assert len(server.received) == 1
        with pytest.raises(DeliveryError) as refused:
            make_email(settings, {"password": "wrong"}).send([item])
        assert not refused.value.retryable
        assert "535" in refused.value.reason
        untrusted = make_email({**settings, "tls_ca_file": None}, {"password": "s3cret"})
        with pytest.raises(DeliveryError) as tls:
            untrusted.send([item])
        assert not tls.value.retryable
        assert len(server.received) == 1
    finally:
        server.stop()


def test_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="setting 'host' is required"):
        make_email({k: v for k, v in TEMPLATES.items()}, {})
    with pytest.raises(ConfigError, match="template 'subject' line 1"):
        make_email({"host": "h", **TEMPLATES, "subject": "{{ oops "}, {})
    with pytest.raises(ConfigError, match="not an e-mail address"):
        make_email({"host": "h", **TEMPLATES, "from_address": "shop"}, {})
    with pytest.raises(ConfigError, match="credential 'password' is required"):
        make_email({"host": "h", **TEMPLATES, "username": "u"}, {})
    with pytest.raises(ConfigError, match="not both"):
        make_email({"host": "h", **TEMPLATES, "ssl": True}, {})


def test_registered_as_email() -> None:
    destination = make_destination("email", {"host": "h", **TEMPLATES}, {})
    assert destination.kind == "email"
    assert destination.purposes == ("email_marketing",)
    assert destination.max_batch == 50
