"""Reading a destination's settings into its config model, with errors that name the setting."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from profilo.activate.destinations.base import PURPOSES
from profilo.activate.ssrf import NETWORK_SETTING
from profilo.errors import ConfigError, unknown_choice

__all__ = ["DestinationSettings", "parse_settings", "require_credential"]

M = TypeVar("M", bound=BaseModel)


class DestinationSettings(BaseModel):
    """What every destination's settings share: the purposes it serves and its batch size."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    purposes: tuple[str, ...]
    max_batch: int

    @field_validator("purposes")
    @classmethod
    def _known_purposes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("a destination serves at least one purpose")
        for purpose in value:
            if purpose not in PURPOSES:
                raise ValueError(unknown_choice("purpose", purpose, PURPOSES))
        return value


def parse_settings(kind: str, model: type[M], settings: Mapping[str, Any]) -> M:
    """``settings`` validated by ``model``; a :class:`ConfigError` names each bad setting.

    The sync engine's own key (the SSRF allow list, :data:`NETWORK_SETTING`) is left out.

    >>> class S(DestinationSettings):
    ...     purposes: tuple[str, ...] = ("analytics",)
    ...     max_batch: int = 10
    >>> parse_settings("demo", S, {"max_batch": "x"})
    Traceback (most recent call last):
    ...
    profilo.errors.ConfigError: demo destination: setting 'max_batch': Input should be a valid integer, unable to parse string as an integer (got 'x')
    """
    # the operator's SSRF allow list, which the sync engine adds: not the user's to set
    values = {key: value for key, value in settings.items() if key != NETWORK_SETTING}
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"]) or "(settings)"
            message = str(error["msg"]).removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                known = ", ".join(sorted(model.model_fields))
                problems.append(f"unknown setting {where!r}; known: {known}")
            elif error["type"] == "missing":
                problems.append(f"setting {where!r} is required")
            else:
                problems.append(f"setting {where!r}: {message} (got {error.get('input')!r})")
        raise ConfigError(f"{kind} destination: " + "; ".join(problems)) from None


def require_credential(kind: str, credentials: Mapping[str, str], name: str) -> str:
    """The credential ``name``, or a ConfigError saying it is missing (never quoting secrets)."""
    value = credentials.get(name)
    if not value:
        given = ", ".join(sorted(credentials)) or "none"
        raise ConfigError(f"{kind} destination: credential {name!r} is required (given: {given})")
    return value
