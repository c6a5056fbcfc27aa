"""The ``crm`` destination against a local server speaking HubSpot's CRM v3 contacts API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from profilo.activate.destinations import DeliveryError, make_destination
from profilo.activate.destinations.crm import CrmDestination, make_crm
from profilo.errors import ConfigError

from ._server import Reply
from .factories import LOOPBACK, change
from .fake_hubspot import FakeHubSpot

TOKEN = "pat-test-token"


OPENED: list[CrmDestination] = []


@pytest.fixture(autouse=True)
def _close_destinations() -> Iterator[None]:
    yield
    while OPENED:
        OPENED.pop().close()


@pytest.fixture
def hubspot() -> Iterator[FakeHubSpot]:
    fake = FakeHubSpot(TOKEN)
    yield fake
    fake.close()


def crm(fake: FakeHubSpot, token: str = TOKEN, **settings: object) -> CrmDestination:
    return opened(make_crm({"base_url": fake.url, **LOOPBACK, **settings}, {"token": token}))


def opened(destination: CrmDestination) -> CrmDestination:
    OPENED.append(destination)
    return destination


def test_new_profiles_become_contacts_with_traits_and_membership(hubspot: FakeHubSpot) -> None:
    destination = crm(hubspot)
    outcome = destination.send(
        [
            change("p1", email="ada@example.com", fields={"firstname": "Ada", "plan": "pro"}),
            change("p2", email="bob@example.com", fields={"firstname": "Bob"}),
        ]
    )
    assert outcome.failed == {}
    assert outcome.details["upserted"] == 2
    ada = hubspot.find("profilo_id", "p1")
    assert ada is not None
    assert ada["email"] == "ada@example.com"
    assert ada["firstname"] == "Ada"
    assert ada["plan"] == "pro"
    assert ada["profilo_segments"] == "vip"
    upsert = hubspot.calls("/batch/upsert")[0]
    assert upsert.headers["authorization"] == f"Bearer {TOKEN}"
    assert {i["idProperty"] for i in upsert.json()["inputs"]} == {"profilo_id"}


def test_contact_known_only_by_email_is_updated_not_duplicated(hubspot: FakeHubSpot) -> None:
    record = hubspot.add_contact(
        email="Ada@Example.com", firstname="A.", profilo_segments="newsletter"
    )
    outcome = crm(hubspot).send(
        [change("p1", email="ada@example.com", fields={"firstname": "Ada"})]
    )
    assert outcome.failed == {}
    assert len(hubspot.contacts) == 1
    contact = hubspot.contacts[record]
    assert contact["firstname"] == "Ada"
    assert contact["profilo_id"] == "p1"  # found by it next time
    assert contact["profilo_segments"] == "newsletter;vip"
    reads = [r.json()["idProperty"] for r in hubspot.calls("/batch/read")]
    assert reads == ["profilo_id", "email"]
    assert hubspot.calls("/batch/upsert")[0].json()["inputs"][0]["idProperty"] == "email"


def test_remove_takes_the_segment_out_and_keeps_the_contact(hubspot: FakeHubSpot) -> None:
    destination = crm(hubspot)
    destination.send(
        [
            change("p1", audience="vip", email="ada@example.com"),
            change("p1", audience="churn_risk", email="ada@example.com"),
        ]
    )
    assert hubspot.find("profilo_id", "p1")["profilo_segments"] == "churn_risk;vip"  # type: ignore[index]
    outcome = destination.send([change("p1", "remove", "vip", email="ada@example.com")])
    assert outcome.failed == {}
    contact = hubspot.find("profilo_id", "p1")
    assert contact is not None
    assert contact["profilo_segments"] == "churn_risk"
    assert contact["email"] == "ada@example.com"


def test_changes_of_one_profile_apply_in_order(hubspot: FakeHubSpot) -> None:
    crm(hubspot).send(
        [
            change("p1", audience="a", email="ada@example.com"),
            change("p1", audience="b", email="ada@example.com"),
            change("p1", "remove", "a", email="ada@example.com"),
        ]
    )
    assert hubspot.find("profilo_id", "p1")["profilo_segments"] == "b"  # type: ignore[index]
    assert len(hubspot.calls("/batch/upsert")[0].json()["inputs"]) == 1


def test_remove_of_an_unknown_contact_sends_nothing(hubspot: FakeHubSpot) -> None:
    outcome = crm(hubspot).send([change("p9", "remove", "vip", email="nobody@example.com")])
    assert outcome.failed == {}
    assert outcome.details["not_in_crm"] == 1
    assert hubspot.calls("/batch/upsert") == []
    assert hubspot.contacts == {}


def test_remove_without_segment_empties_memberships(hubspot: FakeHubSpot) -> None:
    destination = crm(hubspot)
    destination.send([change("p1", audience="vip", email="ada@example.com")])
    destination.send([change("p1", "remove", None, email="ada@example.com")])
    assert hubspot.find("profilo_id", "p1")["profilo_segments"] == ""  # type: ignore[index]


def test_sending_twice_has_the_effect_of_once(hubspot: FakeHubSpot) -> None:
    destination = crm(hubspot)
    batch = [change("p1", email="ada@example.com", fields={"plan": "pro"})]
    destination.send(batch)
    snapshot = {k: dict(v) for k, v in hubspot.contacts.items()}
    destination.send(batch)
    assert len(hubspot.contacts) == 1
    for record_id, props in hubspot.contacts.items():
        before = {k: v for k, v in snapshot[record_id].items() if k != "lastmodifieddate"}
        assert {k: v for k, v in props.items() if k != "lastmodifieddate"} == before


def test_per_item_validation_errors_fail_only_their_change(hubspot: FakeHubSpot) -> None:
    good = change("p1", email="ada@example.com")
    bad_email = change("p2", email="not-an-email")
    bad_property = change("p3", email="cy@example.com", fields={"no_such_property": "x"})
    outcome = crm(hubspot).send([good, bad_email, bad_property])
    assert set(outcome.failed) == {bad_email.change_id, bad_property.change_id}
    assert not outcome.failed[bad_email.change_id].retryable
    assert "INVALID_EMAIL" in outcome.failed[bad_email.change_id].reason
    assert "PROPERTY_DOESNT_EXIST" in outcome.failed[bad_property.change_id].reason
    assert hubspot.find("profilo_id", "p1") is not None
    assert hubspot.find("profilo_id", "p2") is None


def test_profile_without_any_identifier_fails_permanently(hubspot: FakeHubSpot) -> None:
    destination = crm(hubspot, external_id_from="crm_id")
    lost = change("p1")
    outcome = destination.send([lost])
    assert not outcome.failed[lost.change_id].retryable
    assert "crm_id or e-mail" in outcome.failed[lost.change_id].reason
    assert hubspot.requests == []


def test_external_id_from_an_identifier_falls_back_to_email(hubspot: FakeHubSpot) -> None:
    destination = crm(hubspot, external_id_property="profilo_id", external_id_from="crm_id")
    destination.send(
        [
            change("p1", email="ada@example.com", identifiers={"crm_id": ["CRM-1"]}),
            change("p2", email="bob@example.com"),
        ]
    )
    assert hubspot.find("profilo_id", "CRM-1")["email"] == "ada@example.com"  # type: ignore[index]
    bob = hubspot.find("email", "bob@example.com")
    assert bob is not None and "profilo_id" not in bob
    upserts = [i["idProperty"] for r in hubspot.calls("/batch/upsert") for i in r.json()["inputs"]]
    assert sorted(upserts) == ["email", "profilo_id"]


def test_429_is_retryable_with_retry_after_then_delivers_once(hubspot: FakeHubSpot) -> None:
    destination = crm(hubspot)
    batch = [change("p1", email="ada@example.com")]
    hubspot.fail_next(
        Reply(
            429,
            {
                "status": "error",
                "message": "You have reached your ten_secondly_rolling limit.",
                "errorType": "RATE_LIMIT",
                "policyName": "TEN_SECONDLY_ROLLING",
            },
            {"Retry-After": "7"},
        )
    )
    with pytest.raises(DeliveryError) as caught:
        destination.send(batch)
    assert caught.value.retryable
    assert caught.value.retry_after == 7.0
    assert "RATE_LIMIT" in caught.value.reason
    assert destination.send(batch).failed == {}
    assert len(hubspot.contacts) == 1


def test_server_errors_and_connection_errors_are_retryable(hubspot: FakeHubSpot) -> None:
    destination = crm(hubspot)
    batch = [change("p1", email="ada@example.com")]
    hubspot.fail_next(Reply(200, {"results": []}), Reply(502, {"message": "Bad gateway"}))
    with pytest.raises(DeliveryError) as caught:
        destination.send(batch)
    assert caught.value.retryable and "502" in caught.value.reason
    url = hubspot.url
    hubspot.close()
    gone = opened(make_crm({"base_url": url, **LOOPBACK}, {"token": TOKEN}))
    with pytest.raises(DeliveryError) as refused:
        gone.send(batch)
    assert refused.value.retryable


def test_refused_token_is_permanent(hubspot: FakeHubSpot) -> None:
    destination = crm(hubspot, token="wrong")
    with pytest.raises(DeliveryError) as caught:
        destination.send([change("p1", email="ada@example.com")])
    assert not caught.value.retryable
    assert "INVALID_AUTHENTICATION" in caught.value.reason


def test_spent_rate_window_is_not_spent_again() -> None:
    fake = FakeHubSpot(TOKEN, rate_max=3)
    try:
        destination = crm(fake)
        destination.send(
            [change("p1", email="ada@example.com")]
        )  # two reads and an upsert: window spent
        sent = len(fake.requests)
        with pytest.raises(DeliveryError) as caught:
            destination.send([change("p2", email="bob@example.com")])
        assert caught.value.retryable
        assert caught.value.retry_after is not None and 0 < caught.value.retry_after <= 10
        assert len(fake.requests) == sent  # asked nothing of HubSpot: no 429 earned
    finally:
        fake.close()


def test_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="credential 'token' is required"):
        make_crm({}, {})
    with pytest.raises(ConfigError, match="'max_batch'"):
        make_crm({"max_batch": 500}, {"token": "t"})
    with pytest.raises(ConfigError, match="unknown purpose 'emails'"):
        make_crm({"purposes": ["emails"]}, {"token": "t"})
    with pytest.raises(ConfigError, match="unknown setting 'bse_url'"):
        make_crm({"bse_url": "x"}, {"token": "t"})
    with pytest.raises(ConfigError, match="not a HubSpot property"):
        make_crm({"membership_property": "Segments!"}, {"token": "t"})


def test_registered_as_crm_with_declared_capabilities(hubspot: FakeHubSpot) -> None:
    destination = make_destination(
        "crm",
        {"base_url": hubspot.url, "purposes": ["email_marketing"], **LOOPBACK},
        {"token": TOKEN},
    )
    assert destination.kind == "crm"
    assert destination.purposes == ("email_marketing",)
    assert destination.max_batch == 100
    destination.close()


def test_loopback_and_private_targets_refused_unless_allowed(hubspot: FakeHubSpot) -> None:
    with pytest.raises(ConfigError, match="loopback"):
        make_crm({"base_url": hubspot.url}, {"token": TOKEN})
    with pytest.raises(ConfigError, match=r"169\.254\.169\.254"):
        make_crm({"base_url": "http://169.254.169.254/latest"}, {"token": TOKEN})
