"""The source mappings shipped with the demo: one YAML file per source, in ``mappings/``.

They are written as text (not dumped from dicts) so that they read like the mappings a user
would write, comments included. Each must load with :func:`profilo.collect.mapping.load_mapping`.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["MAPPINGS", "SOURCE_FILES", "write_mappings"]

SOURCE_FILES: dict[str, str] = {
    "crm_contacts": "crm_contacts.csv",
    "orders": "orders.jsonl",
    "web_tracking": "web_tracking.jsonl",
    "shop_purchases": "shop_purchases.csv",
    "email_engagement": "email_engagement.csv",
    "consents": "consents.csv",
    "helpdesk_tickets": "helpdesk_tickets.csv",
    "survey_answers": "survey_answers.csv",
    "partner_enrichment": "partner_enrichment.csv",
}
"""Each source's data file, in the demo's output folder."""

MAPPINGS: dict[str, str] = {
    "crm_contacts": """\
# Contacts exported from the CRM. Phones are mostly in national form: FR is the default region.
source: crm_contacts
party: first
category: crm
format: csv
path: ../crm_contacts.csv
default_country: FR
timezone: UTC
key: [contact_id]
updated_at: {column: updated_at, type: datetime}
identifiers:
  - {column: contact_id, type: crm_id}
  - {column: email, type: email}
  - {column: mobile, type: phone}
traits:
  first_name: {column: first_name, type: name}
  last_name: {column: last_name, type: name}
  birth_date: {column: birth_date, type: date, format: "%d/%m/%Y"}
  street: {column: street, type: address}
  postal_code: {column: postal_code, type: postal_code}
  city: {column: city, type: city}
  country: {column: country, type: country}
  crm_created_at: {column: created_at, type: datetime}
consents:
  - {purpose: email_marketing, column: email_optin, time: email_optin_at, legal_basis: consent}
  - {purpose: sms_marketing, column: sms_optin, time: sms_optin_at, legal_basis: consent}
""",
    "orders": """\
# Web-shop orders. customer_id is the web account id (the userId of the site's identify calls).
source: orders
party: first
category: ecommerce
format: jsonl
path: ../orders.jsonl
default_country: FR
timezone: Europe/Paris
key: [order_id]
identifiers:
  - {column: customer_email, type: email}
  - {column: customer_id, type: user_id}
consents:
  - {purpose: ad_targeting, column: ad_consent, time: ordered_at, legal_basis: consent}
  - {purpose: email_marketing, column: newsletter_optin, time: ordered_at, legal_basis: consent}
event:
  name: Order Completed
  timestamp: {column: ordered_at, type: datetime, required: true}
  properties:
    order_id: {column: order_id}
    revenue: {column: total, type: float, required: true}
    currency: {column: currency}
    items: {column: items, type: json}
    shipping_postal_code: {column: shipping_postal_code, type: postal_code}
    shipping_city: {column: shipping_city, type: city}
    shipping_country: {column: shipping_country, type: country}
""",
    "web_tracking": """\
# Site and app tracking: Segment messages (analytics.js, analytics-swift, analytics-kotlin).
source: web_tracking
party: first
category: web
format: segment
path: ../web_tracking.jsonl
""",
    "shop_purchases": """\
# Till receipts from the shops. The till system writes Paris time for every shop, London's too.
source: shop_purchases
party: first
category: shop
format: csv
path: ../shop_purchases.csv
default_country: FR
timezone: Europe/Paris
key: [receipt_id]
identifiers:
  - {column: loyalty_id, type: loyalty_id}
  - {column: phone, type: phone}
  - {column: email, type: email}
traits:
  first_name: {column: first_name, type: name}
  last_name: {column: last_name, type: name}
event:
  name: In-Store Purchase
  timestamp: {column: purchased_at, type: datetime, format: "%Y-%m-%d %H:%M:%S", required: true}
  properties:
    receipt_id: {column: receipt_id}
    store: {column: store}
    revenue: {column: amount, type: float, required: true}
    currency: {column: currency}
    items_count: {column: items_count, type: integer}
    category: {column: category}
""",
    "email_engagement": """\
# The e-mail tool's event log: sent, opened, clicked, unsubscribed, bounced.
source: email_engagement
party: first
category: email
format: csv
path: ../email_engagement.csv
default_country: FR
timezone: UTC
key: [event_id]
identifiers:
  - {column: email, type: email}
event:
  name_column: event
  timestamp: {column: occurred_at, type: datetime, required: true}
  properties:
    campaign: {column: campaign}
""",
    "consents": """\
# Consent changes from the CRM, the checkout and the e-mail tool, one purpose per row: each row is
# a consent record (purpose read from its column) and a "Consent Changed" event on the timeline.
source: consents
party: first
category: other
format: csv
path: ../consents.csv
default_country: FR
timezone: UTC
key: [consent_id]
identifiers:
  - {column: email, type: email}
consents:
  - {purpose_column: purpose, column: status, time: occurred_at, legal_basis: consent}
event:
  name: Consent Changed
  timestamp: {column: occurred_at, type: datetime, required: true}
  properties:
    purpose: {column: purpose}
    status: {column: status}
    source_system: {column: source_system}
    legal_basis: {column: legal_basis}
""",
    "helpdesk_tickets": """\
# Help-desk tickets; bodies are free text over several lines.
source: helpdesk_tickets
party: first
category: helpdesk
format: csv
path: ../helpdesk_tickets.csv
default_country: FR
timezone: UTC
key: [ticket_id]
identifiers:
  - {column: requester_email, type: email}
event:
  name: Ticket Created
  timestamp: {column: created_at, type: datetime, required: true}
  properties:
    ticket_id: {column: ticket_id}
    subject: {column: subject, type: text}
    body: {column: body, type: text}
    status: {column: status}
    priority: {column: priority}
""",
    "survey_answers": """\
# Net Promoter Score survey answers.
source: survey_answers
party: first
category: survey
format: csv
path: ../survey_answers.csv
default_country: FR
timezone: UTC
key: [response_id]
identifiers:
  - {column: email, type: email}
event:
  name: Survey Answered
  timestamp: {column: answered_at, type: datetime, required: true}
  properties:
    nps: {column: nps, type: integer, required: true}
    comment: {column: comment, type: text}
""",
    "partner_enrichment": """\
# A data partner's attributes, keyed by SHA-256 of the trimmed, lower-cased e-mail address.
source: partner_enrichment
party: third
category: partner
format: csv
path: ../partner_enrichment.csv
timezone: UTC
key: [email_sha256]
identifiers:
  - {column: email_sha256, type: email_sha256}
traits:
  age_band: {column: age_band}
  household_size: {column: household_size, type: integer}
  income_band: {column: income_band}
""",
}
"""Mapping YAML by source name."""


def write_mappings(folder: Path) -> dict[str, Path]:
    """Write every mapping into ``folder`` (the data files sit in its parent)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for source, text in MAPPINGS.items():
        path = folder / f"{source}.yaml"
        path.write_text(text, encoding="utf-8")
        paths[source] = path
    return paths
