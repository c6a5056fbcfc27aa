"""The ``email`` destination: one message per profile, through an SMTP server.

A batch opens one SMTP session (STARTTLS or implicit TLS, login when configured) and sends one
message per change that asks for one. Failures are read from the SMTP reply codes: 5xx refuses
that recipient for good (permanent), 4xx asks to try later (retryable). A connection that cannot
be opened or a login refused fails the whole batch (retryable, resp. permanent); a connection lost
mid-batch fails the messages not yet accepted, each retryable, so none already sent goes twice.

The ``Message-ID`` is derived from the change id, so a receiving system can tell a message sent
again after a lost answer from a new one.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import ClassVar

from profilo.activate.destinations._templates import (
    MessageTemplate,
    TemplateFailure,
    template_context,
)
from profilo.activate.destinations.base import Change, DeliveryError, ItemFailure, Outcome
from profilo.activate.destinations.email.config import EmailSettings

__all__ = ["EmailDestination"]

_ID_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def _code_reason(code: int, message: bytes | str) -> str:
    text = message.decode(errors="replace") if isinstance(message, bytes) else message
    return f"SMTP {code} {text}".strip()


class EmailDestination:
    """Sends each profile entering a segment a message rendered from its traits."""

    kind: ClassVar[str] = "email"

    def __init__(self, settings: EmailSettings, password: str | None) -> None:
        self.settings = settings
        self.purposes = settings.purposes
        self.max_batch = settings.max_batch
        self._password = password
        self.subject = MessageTemplate("email", "subject", settings.subject)
        self.text = MessageTemplate("email", "text", settings.text)
        self.html = (
            MessageTemplate("email", "html", settings.html, html=True) if settings.html else None
        )
        self.unsubscribe = (
            MessageTemplate("email", "list_unsubscribe", settings.list_unsubscribe)
            if settings.list_unsubscribe
            else None
        )

    def close(self) -> None:
        """Nothing held between batches: each batch has its own SMTP session."""

    def send(self, batch: Sequence[Change]) -> Outcome:
        outcome = Outcome()
        messages: list[tuple[Change, str, EmailMessage]] = []
        skipped = 0
        for change in batch:
            if change.action == "remove" or (
                change.audience is None and not self.settings.send_on_trait_change
            ):
                skipped += 1
                continue
            emails = change.identifiers.get("email") or ()
            if not emails:
                outcome.failed[change.change_id] = ItemFailure(
                    "no e-mail address to send to", retryable=False
                )
                continue
            try:
                message = self._message(change, emails[0])
            except TemplateFailure as exc:
                outcome.failed[change.change_id] = ItemFailure(str(exc), retryable=False)
                continue
            messages.append((change, emails[0], message))
        outcome.details.update({"sent": 0, "skipped": skipped})
        if messages:
            self._deliver(messages, outcome)
        return outcome

    def _message(self, change: Change, recipient: str) -> EmailMessage:
        context = template_context(change)
        settings = self.settings
        message = EmailMessage()
        subject = " ".join(self.subject.render(context).split())
        try:
            message["Subject"] = subject
            message["From"] = formataddr((settings.from_name or "", settings.from_address))
            message["To"] = recipient
        except ValueError as exc:  # a line break or an address the header cannot hold
            raise TemplateFailure(f"cannot write the message headers: {exc}") from None
        if settings.reply_to:
            message["Reply-To"] = settings.reply_to
        message["Date"] = format_datetime(change.occurred_at)
        domain = settings.from_address.rpartition("@")[2]
        message["Message-ID"] = f"<{_ID_UNSAFE.sub('-', change.change_id)}.profilo@{domain}>"
        if self.unsubscribe is not None:
            target = self.unsubscribe.render(context).strip()
            message["List-Unsubscribe"] = f"<{target}>"
            if target.startswith("https://"):
                message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        message.set_content(self.text.render(context))
        if self.html is not None:
            message.add_alternative(self.html.render(context), subtype="html")
        return message

    def _connect(self) -> smtplib.SMTP:
        settings = self.settings
        context = ssl.create_default_context(cafile=settings.tls_ca_file)
        where = f"SMTP {settings.host}:{settings.port}"
        try:
            if settings.ssl:
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    settings.host, settings.port, timeout=settings.timeout, context=context
                )
            else:
                smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"{where}: cannot connect: {exc}", retryable=True) from exc
        try:
            smtp.ehlo()
            if settings.starttls:
                smtp.starttls(context=context)
                smtp.ehlo()
            if settings.username:
                smtp.login(settings.username, self._password or "")
        except smtplib.SMTPNotSupportedError as exc:
            smtp.close()
            raise DeliveryError(f"{where}: {exc}", retryable=False) from exc
        except smtplib.SMTPAuthenticationError as exc:
            smtp.close()
            raise DeliveryError(
                f"{where}: login refused: {_code_reason(exc.smtp_code, exc.smtp_error)}",
                retryable=False,
            ) from exc
        except ssl.SSLError as exc:
            smtp.close()
            raise DeliveryError(f"{where}: TLS failed: {exc}", retryable=False) from exc
        except (OSError, smtplib.SMTPException) as exc:
            smtp.close()
            raise DeliveryError(f"{where}: {exc}", retryable=True) from exc
        return smtp

    def _deliver(self, messages: list[tuple[Change, str, EmailMessage]], outcome: Outcome) -> None:
        smtp = self._connect()
        sent = 0
        try:
            for index, (change, recipient, message) in enumerate(messages):
                try:
                    smtp.send_message(message, self.settings.from_address, [recipient])
                    sent += 1
                except smtplib.SMTPRecipientsRefused as exc:
                    code, said = exc.recipients.get(recipient, (550, b"refused"))
                    outcome.failed[change.change_id] = ItemFailure(
                        f"{recipient}: {_code_reason(code, said)}", retryable=code < 500
                    )
                except (smtplib.SMTPDataError, smtplib.SMTPSenderRefused) as exc:
                    outcome.failed[change.change_id] = ItemFailure(
                        _code_reason(exc.smtp_code, exc.smtp_error),
                        retryable=exc.smtp_code < 500,
                    )
                except (OSError, smtplib.SMTPException) as exc:
                    # The session is gone: what was accepted stays delivered, the rest waits.
                    if index == 0:
                        raise DeliveryError(f"SMTP: {exc}", retryable=True) from exc
                    for rest, _, _ in messages[index:]:
                        outcome.failed[rest.change_id] = ItemFailure(
                            f"SMTP connection lost: {exc}", retryable=True
                        )
                    break
        finally:
            outcome.details["sent"] = sent
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()
