"""``consents.csv``: every change of consent, from the CRM, the checkout and the e-mail tool.

The log agrees with the other files: a CRM opt-in appears at the CRM's ``email_optin_at``, a
checkout answer (ad targeting when it changed, the newsletter box when ticked) at the order's
time, an unsubscribe at the very second the e-mail tool logged it.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from profilo.demo.commerce import Orders
from profilo.demo.crm import CrmContacts
from profilo.demo.engagement import Engagement
from profilo.demo.noise import bad_rows, invalid_emails, replace_rows
from profilo.demo.people import People
from profilo.demo.records import Counters, Rows
from profilo.demo.render import digits, from_matrix, iso_utc, join, strings, take

__all__ = ["COLUMNS", "consent_log"]

COLUMNS = (
    "consent_id",
    "email",
    "purpose",
    "status",
    "source_system",
    "occurred_at",
    "legal_basis",
)
_PURPOSES = ("email_marketing", "sms_marketing", "ad_targeting")
_SYSTEMS = ("crm", "checkout", "email_tool")


def _changed_answers(orders: Orders) -> np.ndarray:
    """Orders whose ad-targeting answer differs from the buyer's previous answer (or is the first)."""
    asked = np.flatnonzero(orders.ad_asked)
    by_person = asked[np.lexsort((orders.at[asked], orders.person[asked]))]
    person = orders.person[by_person]
    answer = orders.ad_consent[by_person]
    new_person = np.diff(person, prepend=-1) != 0
    flipped = np.diff(answer.astype(np.int64), prepend=-1) != 0
    return by_person[new_person | flipped]


def consent_log(
    rng: np.random.Generator,
    people: People,
    crm: CrmContacts,
    orders: Orders,
    engagement: Engagement,
    counters: Counters,
) -> Rows:
    """The consent changes of a chunk of people, in time order."""
    has_email = pc.not_equal(crm.email, "").to_numpy(zero_copy_only=False)
    email_rows = np.flatnonzero(crm.email_optin & has_email)
    sms_rows = np.flatnonzero(crm.sms_optin & has_email)
    checkout = _changed_answers(orders)
    signups = np.flatnonzero(orders.newsletter)

    email = pa.chunked_array(
        [
            crm.email.take(pa.array(email_rows)),
            crm.email.take(pa.array(sms_rows)),
            orders.email.take(pa.array(checkout)),
            orders.email.take(pa.array(signups)),
            engagement.unsubscribed_email,
        ],
        type=pa.string(),
    ).combine_chunks()
    person = np.concatenate(
        [
            crm.person[email_rows],
            crm.person[sms_rows],
            orders.person[checkout],
            orders.person[signups],
            engagement.unsubscribed_person,
        ]
    )
    at = np.concatenate(
        [
            crm.email_optin_at[email_rows],
            crm.sms_optin_at[sms_rows],
            orders.at[checkout],
            orders.at[signups],
            engagement.unsubscribed_at,
        ]
    )
    sizes = [len(email_rows), len(sms_rows), len(checkout), len(signups)]
    sizes.append(len(engagement.unsubscribed_at))
    purpose = np.repeat([0, 1, 2, 0, 0], sizes)
    system = np.repeat([0, 0, 1, 1, 2], sizes)
    granted = np.concatenate(
        [
            np.ones(sizes[0] + sizes[1], dtype=bool),
            orders.ad_consent[checkout],
            np.ones(sizes[3], dtype=bool),
            np.zeros(sizes[4], dtype=bool),
        ]
    )
    order = np.lexsort((purpose, person, at))
    email, person, at = email.take(pa.array(order)), person[order], at[order]
    purpose, system, granted = purpose[order], system[order], granted[order]
    m = len(person)

    # Spoil only rows typed by people (CRM, checkout): the e-mail tool's own log stays exact.
    typed = system != 2
    occurred_at = pc.if_else(pa.array(bad_rows(rng, m, 0.001, typed)), "", iso_utc(at))
    email = replace_rows(email, bad_rows(rng, m, 0.001, typed), invalid_emails(rng))
    numbers = counters.take("consents", m)
    consent_id = join("CNS-", from_matrix(digits(numbers, counters.width + 1)))
    columns = {
        "consent_id": consent_id,
        "email": email,
        "purpose": take(strings(_PURPOSES), purpose),
        "status": pc.if_else(pa.array(granted), "granted", "withdrawn"),
        "source_system": take(strings(_SYSTEMS), system),
        "occurred_at": occurred_at,
        "legal_basis": pc.if_else(pa.array(np.ones(m, dtype=bool)), "consent", ""),
    }
    return Rows(
        source="consents",
        keys=consent_id,
        persons=people.person_id.take(pa.array(person)),
        columns=columns,
    )
