"""Tracking plans: per source, what each event's properties and the identify and group traits may be.

A plan is a JSON Schema per event name (for its ``properties``), one for ``identify`` traits and one
for ``group`` traits, and two policies::

    events:
      Order Completed:
        type: object
        required: [order_id, revenue]
        properties:
          order_id: {type: string}
          revenue: {type: number, minimum: 0}
    identify:
      type: object
      properties:
        email: {type: string, format: email}
    unknown_events: allow        # allow | flag | quarantine: a track whose event is not listed
    on_violation: quarantine     # quarantine | flag: a message that breaks its schema

A flagged message is stored with its violations in ``context.protocols.violations`` (where Segment
Protocols puts them); a quarantined one waits in quarantine with the violation as its reason, to be
fixed and replayed.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as ModelError

from profilo.errors import ConfigError

__all__ = ["PlanChecker", "TrackingPlan", "parse_plan"]

_MAX_VIOLATIONS = 5
_REQUIRED = re.compile(r"^'(.+)' is a required property$")


class TrackingPlan(BaseModel):
    """A source's tracking plan (see the module's docstring for its shape)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    events: dict[str, dict[str, Any]] = Field(default_factory=dict)
    identify: dict[str, Any] | None = None
    group: dict[str, Any] | None = None
    unknown_events: Literal["allow", "flag", "quarantine"] = "allow"
    on_violation: Literal["quarantine", "flag"] = "quarantine"


def parse_plan(data: Any) -> TrackingPlan:
    """Validate a plan (its shape and every JSON Schema in it); raises :class:`ConfigError`."""
    try:
        plan = TrackingPlan.model_validate(data)
    except ModelError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "plan"
        raise ConfigError(f"invalid tracking plan at {where}: {first['msg']}") from None
    schemas = [(f"events.{name}", schema) for name, schema in plan.events.items()]
    schemas += [(name, getattr(plan, name)) for name in ("identify", "group")]
    for where, schema in schemas:
        if schema is None:
            continue
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            raise ConfigError(f"invalid JSON Schema at {where}: {exc.message}") from None
    return plan


def _validator(schema: dict[str, Any] | None) -> Draft202012Validator | None:
    if schema is None:
        return None
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def _field(prefix: str, error: ValidationError) -> str:
    path = [str(p) for p in error.absolute_path]
    if error.validator == "required":
        missing = _REQUIRED.match(error.message)
        if missing:
            path.append(missing.group(1))
    return ".".join([prefix, *path])


class PlanChecker:
    """A plan compiled for checking messages; call it on a message (see :data:`PlanCheck`).

    Returns None when the message may be stored (after flagging it in place if the plan says
    so), or (reason, field, detail) to quarantine it: ``plan_violation`` or ``unplanned_event``.
    """

    def __init__(self, plan: TrackingPlan) -> None:
        self.plan = plan
        self._events = {name: _validator(schema) for name, schema in plan.events.items()}
        self._identify = _validator(plan.identify)
        self._group = _validator(plan.group)

    def __call__(self, message: dict[str, Any]) -> tuple[str, str | None, str] | None:
        kind = message.get("type")
        if kind == "track":
            name = message.get("event")
            validator = self._events.get(name) if isinstance(name, str) else None
            if validator is None:
                return self._unplanned(message, str(name))
            prefix, instance = "properties", message.get("properties") or {}
        elif kind in ("identify", "group"):
            validator = self._identify if kind == "identify" else self._group
            if validator is None:
                return None
            prefix, instance = "traits", message.get("traits")
            context = message.get("context")
            if (
                not instance
                and isinstance(context, dict)
                and isinstance(context.get("traits"), dict)
            ):
                # RudderStack's clients send identify traits in context.traits only
                prefix, instance = "context.traits", context["traits"]
            instance = instance or {}
        else:
            return None
        errors = sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.path)))
        if not errors:
            return None
        errors = errors[:_MAX_VIOLATIONS]
        if self.plan.on_violation == "flag":
            _flag(
                message,
                [
                    {"type": "plan_violation", "field": _field(prefix, e), "description": e.message}
                    for e in errors
                ],
            )
            return None
        detail = "; ".join(f"{_field(prefix, e)}: {e.message}" for e in errors)
        return ("plan_violation", _field(prefix, errors[0]), detail)

    def _unplanned(self, message: dict[str, Any], name: str) -> tuple[str, str, str] | None:
        policy = self.plan.unknown_events
        if policy == "allow":
            return None
        detail = f"event {name!r} is not in the source's tracking plan"
        if policy == "flag":
            _flag(message, [{"type": "unplanned_event", "field": "event", "description": detail}])
            return None
        return ("unplanned_event", "event", detail)


def _flag(message: dict[str, Any], violations: list[dict[str, str]]) -> None:
    context = message.get("context")
    context = dict(context) if isinstance(context, dict) else {}
    protocols = context.get("protocols")
    protocols = dict(protocols) if isinstance(protocols, dict) else {}
    protocols["violations"] = violations
    context["protocols"] = protocols
    message["context"] = context
