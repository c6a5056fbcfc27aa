"""Masking personal data for roles that may not see it.

Masks keep just enough to tell values apart on a screen (the first letter, the e-mail's top-level
domain, a phone's country code and last two digits) and nothing that identifies the person.

>>> mask_email("justine1951@orange.fr")
'j•••@•••.fr'
>>> mask_phone("+33612345678")
'+33 ••• •• 78'
>>> mask_trait("last_name", "Morel")
'M•••'
"""

from __future__ import annotations

import re
from typing import Any

__all__ = [
    "MASK",
    "PERSONAL_IDENTIFIERS",
    "PERSONAL_TRAITS",
    "mask_email",
    "mask_identifier",
    "mask_phone",
    "mask_text",
    "mask_trait",
    "mask_tree",
]

MASK = "•••"
PERSONAL_TRAITS = frozenset(
    {
        "email",
        "phone",
        "mobile",
        "first_name",
        "last_name",
        "name",
        "full_name",
        "street",
        "address",
        "birth_date",
        "postal_code",
        "ip",
    }
)
"""Golden traits (and event property keys) that hold personal data."""
PERSONAL_IDENTIFIERS = frozenset({"email", "phone"})
"""Identifier types whose value is personal data (hashes and system ids are pseudonyms)."""

_EMAIL = re.compile(r"[^\s@]+@[^\s@]+\.[A-Za-z]{2,}")
_PHONE = re.compile(r"\+[1-9][0-9 .\-]{6,16}[0-9]")  # international numbers only: not dates or ids


def mask_email(value: str) -> str:
    """The first letter and the top-level domain."""
    local, _, domain = value.partition("@")
    tld = domain.rsplit(".", 1)[-1] if "." in domain else ""
    return f"{local[:1]}{MASK}@{MASK}.{tld}" if tld else f"{local[:1]}{MASK}@{MASK}"


def mask_phone(value: str) -> str:
    """The country code (of an international number) and the last two digits."""
    digits = "".join(ch for ch in value if ch.isdigit())
    if len(digits) < 4:
        return MASK
    head = f"+{digits[:2]} " if value.startswith("+") else ""
    return f"{head}{MASK} •• {digits[-2:]}"


def mask_text(value: str) -> str:
    """The first letter only."""
    return f"{value[:1]}{MASK}" if value else value


def mask_trait(name: str, value: Any) -> Any:
    """A golden trait's value as a role without personal data sees it."""
    if value is None or name not in PERSONAL_TRAITS:
        return value
    text = str(value)
    if name == "email" or _EMAIL.fullmatch(text):
        return mask_email(text)
    if name in ("phone", "mobile"):
        return mask_phone(text)
    if name in ("first_name", "last_name", "name", "full_name"):
        return mask_text(text)
    return MASK


def mask_identifier(id_type: str, value: str) -> str:
    """An identifier's value as a role without personal data sees it."""
    if id_type == "email":
        return mask_email(value)
    if id_type == "phone":
        return mask_phone(value)
    return value


def _mask_string(text: str) -> str:
    text = _EMAIL.sub(lambda m: mask_email(m.group(0)), text)
    return _PHONE.sub(lambda m: mask_phone(m.group(0)), text)


def mask_tree(value: Any, key: str | None = None) -> Any:
    """A JSON-like value with personal keys masked and e-mails or phones in any text replaced.

    >>> mask_tree({"email": "a@b.fr", "note": "call +33612345678", "sku": "X1"})
    {'email': 'a•••@•••.fr', 'note': 'call +33 ••• •• 78', 'sku': 'X1'}
    """
    if isinstance(value, dict):
        return {k: mask_tree(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_tree(v, key) for v in value]
    if key is not None and key in PERSONAL_TRAITS and value is not None:
        return mask_trait(key, value)
    if isinstance(value, str):
        return _mask_string(value)
    return value
