"""The error tree of Profilo.

Every error Profilo raises on purpose derives from :class:`ProfiloError`::

    ProfiloError
    ├── ConfigError            bad settings, store URL, mapping file or definition
    │   └── MappingError       a source mapping that does not validate (names the field)
    ├── StoreError             the store could not do what was asked
    │   └── UnsupportedFeature an engine lacks a feature (names engine and feature)
    ├── InputError             a data file or message that cannot be read at all
    └── NotFound               a named thing (source, profile, segment…) does not exist

Messages quote the bad value and, where there is a closed list, the valid choices.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "ConfigError",
    "InputError",
    "MappingError",
    "NotFound",
    "ProfiloError",
    "StoreError",
    "UnsupportedFeature",
    "unknown_choice",
]


class ProfiloError(Exception):
    """Root of every error Profilo raises on purpose."""


class ConfigError(ProfiloError):
    """Settings, a store URL, a mapping or a definition is wrong."""


class MappingError(ConfigError):
    """A source mapping does not validate; the message names the field."""


class StoreError(ProfiloError):
    """The store could not carry out a request."""


class UnsupportedFeature(StoreError):
    """An engine lacks a feature that was asked of it."""

    def __init__(self, engine: str, feature: str) -> None:
        super().__init__(f"engine {engine!r} does not support {feature}")
        self.engine = engine
        self.feature = feature


class InputError(ProfiloError):
    """A data file or message cannot be read at all (not a single bad row: those go to quarantine)."""


class NotFound(ProfiloError):
    """A named object does not exist."""


def unknown_choice(kind: str, value: object, choices: Iterable[str]) -> str:
    """Format the house message for a value outside a closed list.

    >>> unknown_choice("identifier type", "emial", ["email", "phone"])
    "unknown identifier type 'emial'; known: email, phone"
    """
    return f"unknown {kind} {value!r}; known: {', '.join(sorted(choices))}"
