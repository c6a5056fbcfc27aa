"""The ``ads`` destination: hashing checked byte for byte, files, and both platforms' APIs on
local servers.

Every expected digest below was computed outside Python (``printf '%s' VALUE | sha256sum``) from
the normalised value that the platform's published rule gives for the input; the rule is named
beside each vector.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from profilo.activate.destinations import DeliveryError, make_destination
from profilo.activate.destinations.ads import AdsDestination, hashing, make_ads
from profilo.errors import ConfigError

from ._server import Reply
from .factories import LOOPBACK, change
from .fake_ads import FakeGoogleAds, FakeMeta, google_error, meta_error

# (function, input, normalised value, sha256 of the normalised value, the rule it checks)
GOOGLE_VECTORS: list[tuple[Callable[..., str | None], tuple[Any, ...], str, str, str]] = [
    (hashing.google_email, (" Test.Email@Gmail.com ",), "testemail@gmail.com",
     "a098c724c420a06afc331866e4d878f047f1ca2e9528523ad781b3ba1c63c03d",
     "trim, lower-case, dots before @gmail.com removed"),
    (hashing.google_email, ("Jane.Doe@googlemail.com",), "janedoe@googlemail.com",
     "338abf9ef1c8793cadc7bcf51ed595338eb727ed9e06ce3d91d566d60b975937",
     "dots before @googlemail.com removed"),
    (hashing.google_email, ("Jane.Doe@Example.com",), "jane.doe@example.com",
     "86e0b9e56c17cc4d12387e1949b85053fbe73bc3ce5a1188713a9d300cc6133d",
     "other domains keep their dots"),
    (hashing.google_phone, ("+1 (650) 253-1234",), "+16502531234",
     "e101d1333c2310c83a1f96c4e0c12aa18b151ee0baaa2db3998ee3797d74b685",
     "E.164 with the leading +"),
    (hashing.google_phone, ("07700 900123", "GB"), "+447700900123",
     "a8acc3a90a7b4e4dc65e93db9240ed26523050ef754d63b75b5161de76781436",
     "a national number becomes E.164 (trunk 0 dropped, +44 added)"),
    (hashing.google_name, ("  Zoë ",), "zoë",
     "2752b88686847fa5c86f47b94ce652b7b3f22a91c37617d451a4db9afa431450",
     "names trimmed and lower-cased, hashed as UTF-8"),
    (hashing.google_name, ("O'Brien",), "o'brien",
     "65b87174be3b1b122e2b0929f0b84888637d31a4a83bb96a860bcff411f5e668",
     "Google keeps punctuation in names"),
]  # fmt: skip
META_VECTORS: list[tuple[Callable[..., str | None], tuple[Any, ...], str, str, str]] = [
    (hashing.meta_email, (" Test.Email@Gmail.com ",), "test.email@gmail.com",
     "d76647af2bd05ed0d84a8250f6e307b348b9472e6f834f1e3b003606d8d1b715",
     "EMAIL: trim, lower-case; Gmail dots kept"),
    (hashing.meta_phone, ("+1 (650) 253-1234",), "16502531234",
     "bd7b52a0fffc6680469135b69d575132a985a745c9c5bb754c0a00b4cd0c73fe",
     "PHONE: digits with country code, no +"),
    (hashing.meta_phone, ("0044 7700 900123", "GB"), "447700900123",
     "033134b911b137918338415ee3d20a064b24773d36a3b02e8b99fdd3fcd6b4cd",
     "PHONE: no leading zeros"),
    (hashing.meta_name, ("Mary-Jane",), "maryjane",
     "f08f448a5e7a9dc3619bb7c129f6a7d5fc6af002cea17ad71dfdc1c68f4d4e0e",
     "FN: lower-case letters only, no punctuation"),
    (hashing.meta_name, ("Zoë",), "zoë",
     "2752b88686847fa5c86f47b94ce652b7b3f22a91c37617d451a4db9afa431450",
     "FN/LN: special characters kept, in UTF-8"),
    (hashing.meta_city, ("São Paulo",), "saopaulo",
     "8f7f2f7ccd3f2898cf4850905346e8fb333d00aac1c974f8f37326e068cf7b1e",
     "CT: a-z only, no spaces or special characters"),
    (hashing.meta_state, ("California", "US"), "ca",
     "6959097001d10501ac7d54c0bdb8db61420f658f2922cc26e46d536119a31126",
     "ST: U.S. state as its 2-letter code, lower-case"),
    (hashing.meta_zip, ("94043-1351", "US"), "94043",
     "1b10e5e0b47cefad5c4f6c1d10b8b6fbbd5af9756eb01ed5c8ee1f588b65947b",
     "ZIP: first 5 digits in the U.S."),
    (hashing.meta_zip, ("SW1A 1AA", "GB"), "sw1a1",
     "949af780a19e6f6d4b99d7044743348dbbb7ab2245fe146863573b23d02c5890",
     "ZIP: area/district/sector in the U.K., lower-case, no space"),
    (hashing.meta_country, ("United Kingdom",), "gb",
     "0b407281768f0e833afef47ed464b6571d01ca4d53c12ce5c51d1462f4ad6677",
     "COUNTRY: ISO 3166-1 alpha-2, lower-case"),
    (hashing.meta_gender, ("Female",), "f",
     "252f10c83610ebca1a059c0bae8255eba2f95be4d1d7bcfa89d7248a82d9f111",
     "GEN: m or f"),
]  # fmt: skip

ADA_GMAIL_GOOGLE = "a098c724c420a06afc331866e4d878f047f1ca2e9528523ad781b3ba1c63c03d"
ADA_GMAIL_META = "d76647af2bd05ed0d84a8250f6e307b348b9472e6f834f1e3b003606d8d1b715"
PHONE_GOOGLE = "e101d1333c2310c83a1f96c4e0c12aa18b151ee0baaa2db3998ee3797d74b685"
PHONE_META = "bd7b52a0fffc6680469135b69d575132a985a745c9c5bb754c0a00b4cd0c73fe"
SHA_BOB = "5ff860bf1190596c7188ab851db691f0f3169c453936e9e1eba2f9a47f7a0018"
SHA_JANE = "81f8f6dde88365f3928796ec7aa53f72820b06db8664f5fe76a7eb13e24546a2"
SHA_DOE = "799ef92a11af918e3fb741df42934f3b568ed2d93ac1df74f1b8d41a27932a6f"
SHA_US = "79adb2a2fce5c6ba215fe5f27f532d4e7edbac4b6a5e09e1ef3a08084a904621"
SHA_94043 = "1b10e5e0b47cefad5c4f6c1d10b8b6fbbd5af9756eb01ed5c8ee1f588b65947b"
SHA_1990, SHA_04, SHA_09 = (
    "a7be8e1fe282a37cd666e0632b17d933fa13f21addf4798fc0455bc166e2488c",
    "6cd5b6e51936a442b973660c21553dd22bd72ddc8751132a943475288113b4c0",
    "3514acf61732f662da19625f7fe781c3e483f2dce8506012f3bb393f5003e105",
)

CUSTOMER = "1234567890"
OPENED: list[AdsDestination] = []


@pytest.mark.parametrize(
    ("normalise", "args", "normal", "digest", "rule"),
    GOOGLE_VECTORS + META_VECTORS,
    ids=[v[4] for v in GOOGLE_VECTORS + META_VECTORS],
)
def test_published_rules_byte_for_byte(
    normalise: Callable[..., str | None], args: tuple[Any, ...], normal: str, digest: str, rule: str
) -> None:
    value = normalise(*args)
    assert value == normal
    assert value.encode("utf-8") == normal.encode("utf-8")
    assert hashing.sha256_hex(value) == digest


def test_meta_birth_date_parts() -> None:
    parts = hashing.meta_date_parts("1990-04-09")
    assert parts == ("1990", "04", "09")
    assert [hashing.sha256_hex(p) for p in parts] == [SHA_1990, SHA_04, SHA_09]


@pytest.fixture(autouse=True)
def _close_destinations() -> Iterator[None]:
    yield
    while OPENED:
        OPENED.pop().close()


def ads(settings: dict[str, Any], credentials: dict[str, str] | None = None) -> AdsDestination:
    destination = make_ads(settings, credentials or {})
    OPENED.append(destination)
    return destination


ADA = {
    "email": " Test.Email@Gmail.com ",
    "phone": "+1 (650) 253-1234",
    "fields": {
        "first_name": "Jane",
        "last_name": "Doe",
        "country": "US",
        "zip": "94043",
        "gender": "F",
        "birth_date": "1990-04-09",
    },
}


# --- files -----------------------------------------------------------------------------------


def test_google_customer_match_files_adds_and_removes_apart(tmp_path: Path) -> None:
    destination = ads({"platform": "google", "output": "file", "folder": str(tmp_path)})
    outcome = destination.send(
        [
            change("p1", audience="vip", **ADA),
            change("p2", audience="vip", email="bob@example.com"),
            change("p3", "remove", "vip", phone="+1 (650) 253-1234"),
        ]
    )
    assert outcome.failed == {}
    adds = sorted(tmp_path.glob("google-vip-adds-*.csv"))
    removes = sorted(tmp_path.glob("google-vip-removes-*.csv"))
    assert len(adds) == 1 and len(removes) == 1
    rows = list(csv.reader(adds[0].read_text(encoding="utf-8").splitlines()))
    assert rows[0] == ["Email", "Phone", "First Name", "Last Name", "Country", "Zip"]
    assert rows[1] == [ADA_GMAIL_GOOGLE, PHONE_GOOGLE, SHA_JANE, SHA_DOE, "us", "94043"]
    assert rows[2] == [SHA_BOB, "", "", "", "", ""]
    removed = list(csv.reader(removes[0].read_text(encoding="utf-8").splitlines()))
    assert removed[1] == ["", PHONE_GOOGLE, "", "", "", ""]
    # the same batch again rewrites the same files; another batch writes its own
    again = [change("p1", audience="vip", change_id="x1", **ADA)]
    first = destination.send(again).details["files"]
    assert destination.send(again).details["files"] == first
    assert len(list(tmp_path.glob("google-vip-adds-*.csv"))) == 2


def test_meta_payload_files(tmp_path: Path) -> None:
    destination = ads({"platform": "meta", "output": "file", "folder": str(tmp_path)})
    outcome = destination.send(
        [change("p1", audience="vip", **ADA), change("p2", "remove", "vip", email="x@example.com")]
    )
    assert outcome.failed == {}
    (adds,) = tmp_path.glob("meta-vip-adds-*.json")
    payload = json.loads(adds.read_text())["payload"]
    assert payload["schema"] == [
        "EMAIL",
        "PHONE",
        "FN",
        "LN",
        "CT",
        "ST",
        "ZIP",
        "COUNTRY",
        "GEN",
        "DOBY",
        "DOBM",
        "DOBD",
    ]
    assert payload["data"] == [
        [
            ADA_GMAIL_META,
            PHONE_META,
            SHA_JANE,
            SHA_DOE,
            "",
            "",
            SHA_94043,
            SHA_US,
            "252f10c83610ebca1a059c0bae8255eba2f95be4d1d7bcfa89d7248a82d9f111",
            SHA_1990,
            SHA_04,
            SHA_09,
        ]
    ]
    assert len(list(tmp_path.glob("meta-vip-removes-*.json"))) == 1


# --- Google Ads API --------------------------------------------------------------------------


@pytest.fixture
def google() -> Iterator[FakeGoogleAds]:
    fake = FakeGoogleAds("v21", CUSTOMER, "ya29.token", "dev-token")
    yield fake
    fake.close()


def google_ads(fake: FakeGoogleAds, **settings: Any) -> AdsDestination:
    return ads(
        {
            **LOOPBACK,
            "platform": "google",
            "base_url": fake.url,
            "customer_id": "123-456-7890",
            "lists": {"vip": "111", "churn_risk": "222"},
            **settings,
        },
        {"access_token": "ya29.token", "developer_token": "dev-token"},
    )


def test_google_jobs_add_and_remove_hashed_identifiers(google: FakeGoogleAds) -> None:
    destination = google_ads(google, login_customer_id="9999999999")
    outcome = destination.send(
        [
            change("p1", audience="vip", **ADA),
            change("p2", audience="churn_risk", email="bob@example.com"),
        ]
    )
    assert outcome.failed == {}
    create = google.requests[0]
    assert create.path == f"/v21/customers/{CUSTOMER}/offlineUserDataJobs:create"
    assert create.headers["developer-token"] == "dev-token"
    assert create.headers["login-customer-id"] == "9999999999"
    metadata = create.json()["job"]["customerMatchUserListMetadata"]
    assert metadata["consent"] == {"adUserData": "GRANTED", "adPersonalization": "GRANTED"}
    operations = [r.json() for r in google.requests if r.path.endswith(":addOperations")]
    assert all(body["enablePartialFailure"] for body in operations)
    identifiers = [
        op["create"]["userIdentifiers"] for body in operations for op in body["operations"]
    ]
    assert [
        {"hashedEmail": ADA_GMAIL_GOOGLE},
        {"hashedPhoneNumber": PHONE_GOOGLE},
        {
            "addressInfo": {
                "hashedFirstName": SHA_JANE,
                "hashedLastName": SHA_DOE,
                "countryCode": "US",
                "postalCode": "94043",
            }
        },
    ] in identifiers
    assert google.lists["222"] == {f"email:{SHA_BOB}"}
    assert f"email:{ADA_GMAIL_GOOGLE}" in google.lists["111"]
    assert sum(r.path.endswith(":run") for r in google.requests) == 2

    removed = destination.send([change("p1", "remove", "vip", **ADA)])
    assert removed.failed == {}
    assert google.lists["111"] == set()
    last_ops = [r.json() for r in google.requests if r.path.endswith(":addOperations")][-1]
    assert list(last_ops["operations"][0]) == ["remove"]


def test_google_remove_without_segment_leaves_every_list(google: FakeGoogleAds) -> None:
    destination = google_ads(google)
    destination.send(
        [
            change("p1", audience="vip", email="bob@example.com"),
            change("p1", audience="churn_risk", email="bob@example.com"),
        ]
    )
    assert google.lists == {"111": {f"email:{SHA_BOB}"}, "222": {f"email:{SHA_BOB}"}}
    assert destination.send([change("p1", "remove", None, email="bob@example.com")]).failed == {}
    assert google.lists == {"111": set(), "222": set()}


def test_google_partial_failure_fails_only_that_member(google: FakeGoogleAds) -> None:
    destination = google_ads(google)
    first, second = (
        change("p1", audience="vip", email="a@example.com"),
        change("p2", audience="vip", email="b@example.com"),
    )
    google.fail_on(
        2,
        Reply(
            200,
            {
                "partialFailureError": {
                    "code": 3,
                    "message": "Multiple errors in 'details'.",
                    "details": [
                        {
                            "errors": [
                                {
                                    "errorCode": {
                                        "offlineUserDataJobError": "INVALID_SHA256_FORMAT"
                                    },
                                    "message": "The SHA256 encoded value is malformed.",
                                    "location": {
                                        "fieldPathElements": [
                                            {"fieldName": "operations", "index": 1}
                                        ]
                                    },
                                }
                            ]
                        }
                    ],
                }
            },
        ),
    )
    outcome = destination.send([first, second])
    assert set(outcome.failed) == {second.change_id}
    assert not outcome.failed[second.change_id].retryable
    assert "INVALID_SHA256_FORMAT" in outcome.failed[second.change_id].reason


def test_google_errors_classified(google: FakeGoogleAds) -> None:
    destination = google_ads(google)
    batch = [change("p1", audience="vip", email="a@example.com")]
    exhausted = google_error(429, "RESOURCE_EXHAUSTED", "Too many requests.")
    exhausted.headers["Retry-After"] = "30"
    google.fail_next(exhausted)
    with pytest.raises(DeliveryError) as busy:
        destination.send(batch)
    assert busy.value.retryable and busy.value.retry_after == 30.0
    assert "RESOURCE_EXHAUSTED" in busy.value.reason
    wrong = ads(
        {
            **LOOPBACK,
            "platform": "google",
            "base_url": google.url,
            "customer_id": CUSTOMER,
            "list_id": "111",
        },
        {"access_token": "expired", "developer_token": "dev-token"},
    )
    with pytest.raises(DeliveryError) as refused:
        wrong.send(batch)
    assert not refused.value.retryable and "UNAUTHENTICATED" in refused.value.reason


def test_unmapped_segment_and_unmatchable_profile_fail_for_good(google: FakeGoogleAds) -> None:
    destination = google_ads(google)
    stray = change("p1", audience="newsletter", email="a@example.com")
    nameless = change("p2", audience="vip", fields={"first_name": "Jane"})
    outcome = destination.send([stray, nameless])
    assert "no google list for segment 'newsletter'" in outcome.failed[stray.change_id].reason
    assert "no e-mail, phone or full address" in outcome.failed[nameless.change_id].reason
    assert not any(f.retryable for f in outcome.failed.values())
    assert google.requests == []


# --- Meta Marketing API ----------------------------------------------------------------------


@pytest.fixture
def meta() -> Iterator[FakeMeta]:
    fake = FakeMeta("v21.0", "EAAB-token")
    yield fake
    fake.close()


def meta_ads(fake: FakeMeta, token: str = "EAAB-token") -> AdsDestination:
    return ads(
        {**LOOPBACK, "platform": "meta", "base_url": fake.url, "list_id": "23850000000000001"},
        {"access_token": token},
    )


def test_meta_adds_with_post_and_removes_with_delete(meta: FakeMeta) -> None:
    destination = meta_ads(meta)
    outcome = destination.send(
        [change("p1", audience="vip", **ADA), change("p2", audience="vip", email="bob@example.com")]
    )
    assert outcome.failed == {}
    post = meta.requests[0]
    assert (post.method, post.path) == ("POST", "/v21.0/23850000000000001/users")
    assert post.headers["authorization"] == "Bearer EAAB-token"
    body = post.json()
    assert body["payload"]["schema"][:2] == ["EMAIL", "PHONE"]
    assert body["payload"]["data"][0][:4] == [ADA_GMAIL_META, PHONE_META, SHA_JANE, SHA_DOE]
    assert body["session"]["last_batch_flag"] is True
    assert outcome.details["requests"][0]["num_invalid_entries"] == 0
    assert len(meta.audiences["23850000000000001"]) == 2
    assert destination.send([change("p2", "remove", "vip", email="bob@example.com")]).failed == {}
    assert meta.requests[-1].method == "DELETE"
    assert len(meta.audiences["23850000000000001"]) == 1


def test_meta_errors_classified(meta: FakeMeta) -> None:
    batch = [change("p1", audience="vip", email="a@example.com")]
    destination = meta_ads(meta)
    meta.fail_next(
        meta_error(
            400, 80003, "There have been too many calls to this ad-account.", is_transient=False
        )
    )
    with pytest.raises(DeliveryError) as throttled:
        destination.send(batch)
    assert throttled.value.retryable and "80003" in throttled.value.reason
    meta.fail_next(Reply(503, b"upstream unavailable"))
    with pytest.raises(DeliveryError) as down:
        destination.send(batch)
    assert down.value.retryable
    with pytest.raises(DeliveryError) as token:
        meta_ads(meta, token="bad").send(batch)
    assert not token.value.retryable and "error 190" in token.value.reason


# --- settings --------------------------------------------------------------------------------


def test_settings_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs a folder"):
        make_ads({"platform": "google", "output": "file"}, {})
    with pytest.raises(ConfigError, match="needs list_id or lists"):
        make_ads({"platform": "meta"}, {"access_token": "t"})
    with pytest.raises(ConfigError, match="needs customer_id"):
        make_ads({"platform": "google", "list_id": "1"}, {})
    with pytest.raises(ConfigError, match="10 digits"):
        make_ads({"platform": "google", "list_id": "1", "customer_id": "12"}, {})
    with pytest.raises(ConfigError, match="credential 'developer_token' is required"):
        make_ads(
            {"platform": "google", "list_id": "1", "customer_id": CUSTOMER}, {"access_token": "t"}
        )
    with pytest.raises(ConfigError, match="setting 'platform'"):
        make_ads({"platform": "tiktok", "output": "file", "folder": str(tmp_path)}, {})
    destination = make_destination(
        "ads", {"platform": "meta", "output": "file", "folder": str(tmp_path)}, {}
    )
    assert (destination.kind, destination.purposes, destination.max_batch) == (
        "ads",
        ("ad_targeting",),
        1000,
    )


def test_api_targets_go_through_the_ssrf_guard(meta: FakeMeta) -> None:
    with pytest.raises(ConfigError, match="loopback"):
        make_ads({"platform": "meta", "base_url": meta.url, "list_id": "1"}, {"access_token": "t"})
