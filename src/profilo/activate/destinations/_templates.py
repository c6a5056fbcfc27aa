"""Per-profile message templates: Jinja2 in a sandbox, missing values named, never guessed.

Templates see the change's fields (traits after the destination's mapping) by name, and also
``traits`` (the same mapping), ``profile_id``, ``audience``, ``email`` and ``phone``. A trait the
template uses but the profile lacks fails that one message with a permanent error naming it; write
``{{ first_name | default("there") }}`` to allow for it. The sandbox keeps a template from
reaching into Python objects (attribute access to internals raises ``SecurityError``).
"""

from __future__ import annotations

from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from profilo.activate.destinations.base import Change
from profilo.errors import ConfigError

__all__ = ["MessageTemplate", "TemplateFailure", "template_context"]


class TemplateFailure(Exception):
    """A template could not be rendered for one profile (not a ProfiloError: it fails one item)."""


def _environment(html: bool) -> SandboxedEnvironment:
    return SandboxedEnvironment(
        undefined=jinja2.StrictUndefined, autoescape=html, keep_trailing_newline=True
    )


class MessageTemplate:
    """One compiled template; ``html`` turns on escaping of the values put into it."""

    def __init__(self, kind: str, name: str, source: str, *, html: bool = False) -> None:
        try:
            self._template = _environment(html).from_string(source)
        except jinja2.TemplateSyntaxError as exc:
            raise ConfigError(
                f"{kind} destination: template {name!r} line {exc.lineno}: {exc.message}"
            ) from None
        self.name = name

    def render(self, context: dict[str, Any]) -> str:
        try:
            return self._template.render(context)
        except jinja2.UndefinedError as exc:
            raise TemplateFailure(f"template {self.name!r}: {exc.message}") from None
        except jinja2.TemplateError as exc:
            raise TemplateFailure(f"template {self.name!r}: {exc}") from None
        except (TypeError, ValueError, ArithmeticError) as exc:
            raise TemplateFailure(f"template {self.name!r}: {type(exc).__name__}: {exc}") from None


def template_context(change: Change) -> dict[str, Any]:
    """What a template sees for ``change``."""
    emails = change.identifiers.get("email") or ()
    phones = change.identifiers.get("phone") or ()
    return {
        **change.fields,
        "traits": dict(change.fields),
        "profile_id": change.profile_id,
        "audience": change.audience,
        "email": emails[0] if emails else None,
        "phone": phones[0] if phones else None,
    }
