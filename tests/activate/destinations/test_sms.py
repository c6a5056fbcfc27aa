"""The ``sms`` destination against a local server speaking Twilio's Messages API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from profilo.activate.destinations import DeliveryError, make_destination
from profilo.activate.destinations.sms import SmsDestination, make_sms
from profilo.errors import ConfigError

from ._server import Reply
from .factories import LOOPBACK, change
from .fake_twilio import FakeTwilio, twilio_error

SID = "AC" + "0123456789abcdef" * 2
TOKEN = "twilio-auth-token"
SERVICE_SID = "MG" + "f" * 32
OPENED: list[SmsDestination] = []


@pytest.fixture(autouse=True)
def _close_destinations() -> Iterator[None]:
    yield
    while OPENED:
        OPENED.pop().close()


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    fake = FakeTwilio(SID, TOKEN)
    yield fake
    fake.close()


def sms(fake: FakeTwilio, token: str = TOKEN, **settings: Any) -> SmsDestination:
    base = {
        **LOOPBACK,
        "base_url": fake.url,
        "account_sid": SID,
        "from_number": "+14155550100",
        "body": "Hi {{ first_name }}, {{ offer | default('10% off') }} today. Reply STOP to opt out.",
    }
    destination = make_sms({**base, **settings}, {"auth_token": token})
    OPENED.append(destination)
    return destination


def test_one_text_per_profile_form_encoded_with_basic_auth(twilio: FakeTwilio) -> None:
    outcome = sms(twilio).send(
        [
            change("p1", phone="+447700900123", fields={"first_name": "Ada"}),
            change("p2", phone="+14155550199", fields={"first_name": "Bob", "offer": "free P&P"}),
        ]
    )
    assert outcome.failed == {}
    assert outcome.details["sent"] == 2
    assert all(sid.startswith("SM") for sid in outcome.details["message_sids"].values())
    first = twilio.requests[0]
    assert first.path == f"/2010-04-01/Accounts/{SID}/Messages.json"
    assert first.headers["content-type"] == "application/x-www-form-urlencoded"
    assert first.form() == {
        "To": ["+447700900123"],
        "From": ["+14155550100"],
        "Body": ["Hi Ada, 10% off today. Reply STOP to opt out."],
    }
    assert twilio.messages[1]["body"] == "Hi Bob, free P&P today. Reply STOP to opt out."


def test_messaging_service_instead_of_a_number(twilio: FakeTwilio) -> None:
    destination = sms(twilio, from_number=None, messaging_service_sid=SERVICE_SID)
    assert (
        destination.send([change("p1", phone="+447700900123", fields={"first_name": "A"})]).failed
        == {}
    )
    form = twilio.requests[0].form()
    assert form["MessagingServiceSid"] == [SERVICE_SID] and "From" not in form
    assert twilio.messages[0]["status"] == "accepted"


def test_bad_recipients_fail_for_good_one_by_one(twilio: FakeTwilio) -> None:
    twilio.unsubscribed.add("+14155550111")
    stopped = change("p1", phone="+14155550111", fields={"first_name": "A"})
    fine = change("p2", phone="+14155550122", fields={"first_name": "B"})
    outcome = sms(twilio).send([stopped, fine])
    assert set(outcome.failed) == {stopped.change_id}
    failure = outcome.failed[stopped.change_id]
    assert not failure.retryable and "21610" in failure.reason
    assert [m["to"] for m in twilio.messages] == ["+14155550122"]


def test_invalid_number_code_21211_is_permanent(twilio: FakeTwilio) -> None:
    item = change("p1", phone="+447700900123", fields={"first_name": "A"})
    twilio.fail_next(twilio_error(400, 21211, "Invalid 'To' Phone Number: +447700900123"))
    outcome = sms(twilio).send([item])
    assert not outcome.failed[item.change_id].retryable
    assert "21211" in outcome.failed[item.change_id].reason


def test_numbers_not_in_e164_and_missing_traits_never_leave(twilio: FakeTwilio) -> None:
    local = change("p1", phone="07700 900123", fields={"first_name": "A"})
    no_phone = change("p2", fields={"first_name": "B"})
    no_name = change("p3", phone="+447700900124")
    outcome = sms(twilio).send([local, no_phone, no_name])
    assert "not in E.164" in outcome.failed[local.change_id].reason
    assert "no phone number" in outcome.failed[no_phone.change_id].reason
    assert "'first_name' is undefined" in outcome.failed[no_name.change_id].reason
    assert not any(f.retryable for f in outcome.failed.values())
    assert twilio.requests == []


def test_429_first_fails_the_batch_with_retry_after(twilio: FakeTwilio) -> None:
    batch = [change("p1", phone="+447700900123", fields={"first_name": "A"})]
    too_many = twilio_error(429, 20429, "Too Many Requests")
    too_many.headers["Retry-After"] = "3"
    twilio.fail_next(too_many)
    destination = sms(twilio)
    with pytest.raises(DeliveryError) as caught:
        destination.send(batch)
    assert caught.value.retryable and caught.value.retry_after == 3.0
    assert "20429" in caught.value.reason
    assert destination.send(batch).failed == {}
    assert len(twilio.messages) == 1


def test_server_error_mid_batch_keeps_what_was_sent(twilio: FakeTwilio) -> None:
    items = [
        change(f"p{i}", phone=f"+44770090010{i}", fields={"first_name": "A"}) for i in range(3)
    ]
    twilio.fail_on(2, Reply(503, {"message": "Service Unavailable"}))
    destination = sms(twilio)
    outcome = destination.send(items)
    assert outcome.details["sent"] == 1
    assert set(outcome.failed) == {items[1].change_id, items[2].change_id}
    assert all(f.retryable for f in outcome.failed.values())
    # the engine retries only what failed: each profile gets its text once
    assert destination.send(items[1:]).failed == {}
    assert sorted(m["to"] for m in twilio.messages) == [i.identifiers["phone"][0] for i in items]


def test_connection_refused_is_retryable() -> None:
    fake = FakeTwilio(SID, TOKEN)
    destination = sms(fake)
    fake.close()
    with pytest.raises(DeliveryError) as caught:
        destination.send([change("p1", phone="+447700900123", fields={"first_name": "A"})])
    assert caught.value.retryable


def test_refused_credentials_and_bad_sender_fail_the_batch_for_good(twilio: FakeTwilio) -> None:
    item = change("p1", phone="+447700900123", fields={"first_name": "A"})
    with pytest.raises(DeliveryError) as auth:
        sms(twilio, token="wrong").send([item])
    assert not auth.value.retryable and "20003" in auth.value.reason
    twilio.fail_next(
        twilio_error(400, 21606, "The From phone number is not a valid, SMS-capable number")
    )
    with pytest.raises(DeliveryError) as sender:
        sms(twilio).send([item, change("p2", phone="+447700900124", fields={"first_name": "B"})])
    assert not sender.value.retryable and "21606" in sender.value.reason
    assert len(twilio.requests) == 2  # stopped at the first: the second would fail alike


def test_removes_send_nothing(twilio: FakeTwilio) -> None:
    outcome = sms(twilio).send([change("p1", "remove", phone="+447700900123")])
    assert outcome.failed == {} and outcome.details["skipped"] == 1
    assert twilio.requests == []


def test_settings_are_checked() -> None:
    body = {"account_sid": SID, "body": "x"}
    with pytest.raises(ConfigError, match="exactly one of from_number and messaging_service_sid"):
        make_sms(body, {"auth_token": "t"})
    with pytest.raises(ConfigError, match=r"E\.164"):
        make_sms({**body, "from_number": "0044 7700"}, {"auth_token": "t"})
    with pytest.raises(ConfigError, match="'AC' and 32"):
        make_sms({**body, "account_sid": "AC1", "from_number": "+14155550100"}, {})
    with pytest.raises(ConfigError, match="credential 'auth_token' is required"):
        make_sms({**body, "from_number": "+14155550100"}, {})
    with pytest.raises(ConfigError, match="credential 'api_key_secret' is required"):
        make_sms({**body, "from_number": "+14155550100"}, {"api_key_sid": "SK1"})


def test_api_key_credentials_and_registration(twilio: FakeTwilio) -> None:
    settings = {"account_sid": SID, "body": "x", "from_number": "+14155550100"}
    destination = make_destination("sms", settings, {"api_key_sid": "SK1", "api_key_secret": "s"})
    assert destination.kind == "sms"
    assert destination.purposes == ("sms_marketing",)
    assert destination.max_batch == 50
    destination.close()


def test_loopback_refused_unless_allowed(twilio: FakeTwilio) -> None:
    settings = {
        "base_url": twilio.url,
        "account_sid": SID,
        "body": "x",
        "from_number": "+14155550100",
    }
    with pytest.raises(ConfigError, match="loopback"):
        make_sms(settings, {"auth_token": TOKEN})
