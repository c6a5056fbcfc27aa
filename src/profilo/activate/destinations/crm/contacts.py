"""The ``crm`` destination: profiles as HubSpot contacts, segments as a multi-value property.

For a batch it (1) reads the contacts it already knows, by external id and then by e-mail,
(2) folds each profile's changes in order over the contact's current memberships, and (3) upserts
one input per profile: by the external id when the contact was found by it or is new, by e-mail
when only the e-mail found it (setting the external id, so the next sync finds it by that).

A ``remove`` takes the segment out of the membership property (or, without a segment, empties it);
it never deletes the contact, and a contact the CRM does not have is left alone. Everything is
written as "set these values", so sending a batch again has the effect of sending it once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, ClassVar

from profilo.activate.destinations.base import Change, ItemFailure, Outcome
from profilo.activate.destinations.crm.client import BatchAnswer, HubSpotClient
from profilo.activate.destinations.crm.config import CrmSettings

__all__ = ["CrmDestination", "property_value"]

EMAIL = "email"


def property_value(value: Any) -> str:
    """A field's value as HubSpot takes it: text, ``true``/``false``, ISO dates, ``;``-joined lists.

    >>> property_value(True), property_value(3), property_value(["a", "b"]), property_value(None)
    ('true', '3', 'a;b', '')
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple | set | frozenset):
        return ";".join(property_value(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


@dataclass
class _Contact:
    """One profile's changes in this batch, folded into what to write."""

    profile_id: str
    external_id: str | None
    email: str | None
    change_ids: list[str] = field(default_factory=list)
    properties: dict[str, str] = field(default_factory=dict)
    steps: list[tuple[str, str | None]] = field(default_factory=list)
    """(action, audience) in order, applied to the memberships the CRM holds."""
    creates: bool = False
    """Some change is an upsert: a contact the CRM lacks is created."""


class CrmDestination:
    """Upserts contacts and their segment memberships into HubSpot (CRM v3 contacts API)."""

    kind: ClassVar[str] = "crm"

    def __init__(self, settings: CrmSettings, client: HubSpotClient) -> None:
        self.settings = settings
        self.client = client
        self.purposes = settings.purposes
        self.max_batch = settings.max_batch

    def close(self) -> None:
        self.client.close()

    def send(self, batch: Sequence[Change]) -> Outcome:
        outcome = Outcome()
        contacts = self._fold(batch, outcome)
        if not contacts:
            return outcome
        found_by_external, found_by_email = self._find(contacts)
        inputs: dict[str, list[tuple[dict[str, Any], _Contact]]] = {}
        untouched = 0
        for contact in contacts:
            record = None
            id_property = None
            if contact.external_id is not None:
                record = found_by_external.get(contact.external_id)
                id_property = self.settings.external_id_property
            if record is None and contact.email is not None:
                record = found_by_email.get(contact.email.lower())
                id_property = EMAIL if record is not None else id_property
            if record is None and not contact.creates:
                untouched += 1  # removing from a contact the CRM never had: nothing to do
                continue
            if id_property is None:
                id_property = EMAIL
            current = (record or {}).get("properties", {}).get(self.settings.membership_property)
            properties = self._properties(contact, current)
            key = contact.external_id if id_property != EMAIL else contact.email
            assert key is not None
            properties.pop(id_property, None)  # the idProperty value travels as the input's id
            entry = {"id": key, "idProperty": id_property, "properties": properties}
            inputs.setdefault(id_property, []).append((entry, contact))
        written = 0
        for group in inputs.values():
            answer = self.client.upsert([entry for entry, _ in group])
            written += len(answer.results)
            self._item_errors(answer, group, outcome)
        outcome.details.update(
            {
                "upserted": written,
                "not_in_crm": untouched,
                "rate_limit_remaining": self.client.window.remaining,
            }
        )
        return outcome

    def _fold(self, batch: Sequence[Change], outcome: Outcome) -> list[_Contact]:
        by_profile: dict[str, _Contact] = {}
        for change in batch:
            contact = by_profile.get(change.profile_id)
            if contact is None:
                external_id = self._external_id(change)
                emails = change.identifiers.get(EMAIL) or ()
                email = emails[0] if emails else None
                if external_id is None and email is None:
                    outcome.failed[change.change_id] = ItemFailure(
                        f"no {self.settings.external_id_from} or e-mail to find the contact by",
                        retryable=False,
                    )
                    continue
                contact = _Contact(change.profile_id, external_id, email)
                by_profile[change.profile_id] = contact
            contact.change_ids.append(change.change_id)
            contact.steps.append((change.action, change.audience))
            if change.action == "upsert":
                contact.creates = True
                for name, value in change.fields.items():
                    contact.properties[name] = property_value(value)
        return list(by_profile.values())

    def _external_id(self, change: Change) -> str | None:
        if self.settings.external_id_property is None:
            return None
        source = self.settings.external_id_from
        if source == "profile_id":
            return change.profile_id
        values = change.identifiers.get(source) or ()
        return values[0] if values else None

    def _find(
        self, contacts: list[_Contact]
    ) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
        """Existing contacts by external id, then (for the rest) by lower-cased e-mail."""
        wanted = [self.settings.membership_property, EMAIL]
        by_external: dict[str, dict[str, Any]] = {}
        external_property = self.settings.external_id_property
        if external_property is not None:
            ids = sorted({c.external_id for c in contacts if c.external_id is not None})
            if ids:
                wanted.append(external_property)
                answer = self.client.read(external_property, ids, wanted)
                by_external = _index(answer, external_property)
        emails = sorted(
            {
                c.email.lower()
                for c in contacts
                if c.email is not None
                and (c.external_id is None or c.external_id not in by_external)
            }
        )
        by_email = _index(self.client.read(EMAIL, emails, wanted), EMAIL) if emails else {}
        by_email = {key.lower(): record for key, record in by_email.items()}
        return by_external, by_email

    def _properties(self, contact: _Contact, current: str | None) -> dict[str, str]:
        properties = dict(contact.properties)
        if contact.email is not None:
            properties.setdefault(EMAIL, contact.email)
        if self.settings.external_id_property is not None and contact.external_id is not None:
            properties[self.settings.external_id_property] = contact.external_id
        memberships = {value for value in (current or "").split(";") if value}
        touched = False
        for action, audience in contact.steps:
            if audience is not None:
                touched = True
                if action == "upsert":
                    memberships.add(audience)
                else:
                    memberships.discard(audience)
            elif action == "remove":
                touched = True
                memberships.clear()
        if touched:
            properties[self.settings.membership_property] = ";".join(sorted(memberships))
        return properties

    @staticmethod
    def _item_errors(
        answer: BatchAnswer, group: list[tuple[dict[str, Any], _Contact]], outcome: Outcome
    ) -> None:
        by_id = {str(entry["id"]).lower(): contact for entry, contact in group}
        for error in answer.errors:
            reason = _reason(error)
            retryable = str(error.get("category", "")) in ("RATE_LIMITS", "INTERNAL_ERROR")
            ids = _error_ids(error)
            hit = [by_id[i.lower()] for i in ids if i.lower() in by_id]
            if not hit:  # an error that names no input of ours: it may concern any of them
                hit = [contact for _, contact in group]
            for contact in hit:
                for change_id in contact.change_ids:
                    outcome.failed[change_id] = ItemFailure(reason, retryable=retryable)


def _index(answer: BatchAnswer, id_property: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for record in answer.results:
        value = (record.get("properties") or {}).get(id_property)
        if value:
            found[str(value)] = record
    return found


def _error_ids(error: Mapping[str, Any]) -> list[str]:
    context = error.get("context") or {}
    ids = context.get("ids") or context.get("id") or []
    return [str(value) for value in (ids if isinstance(ids, list) else [ids])]


def _reason(error: Mapping[str, Any]) -> str:
    parts = [str(error.get("category") or "ERROR"), str(error.get("message") or "")]
    codes = [str(e.get("code")) for e in error.get("errors") or [] if e.get("code")]
    if codes:
        parts.append(f"({', '.join(codes)})")
    return "HubSpot: " + " ".join(part for part in parts if part)
