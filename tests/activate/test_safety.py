"""Safety: the SSRF guard, and credentials that are encrypted at rest and never come back."""

from __future__ import annotations

import json
import os
import socket
import stat
from pathlib import Path

import pytest
from tests.activate.conftest import (
    SECRET,
    FakeClock,
    Receiver,
    add_people,
    enter,
    options,
    webhook,
)

from profilo.activate import admin
from profilo.activate.definitions import get_destination, list_destinations
from profilo.activate.secrets import Keyring, keyring_for, new_key
from profilo.activate.ssrf import NetworkPolicy, UnsafeTarget
from profilo.activate.sync import sync_all, sync_destination
from profilo.errors import ConfigError
from profilo.settings import Settings
from profilo.store import Store, open_store

BLOCKED = [
    "127.0.0.1",
    "0.0.0.0",
    "::1",
    "169.254.169.254",
    "10.1.2.3",
    "172.16.0.9",
    "192.168.1.1",
    "100.64.0.1",
    "fc00::1",
    "fe80::1",
    "::ffff:127.0.0.1",
    "::ffff:169.254.169.254",
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "224.0.0.1",
    "240.0.0.1",
]


def _resolving_to(*addresses: str) -> NetworkPolicy:
    return NetworkPolicy(resolver=lambda host, port: list(addresses))


@pytest.mark.parametrize("address", BLOCKED)
def test_private_loopback_and_reserved_addresses_are_refused(address: str) -> None:
    with pytest.raises(UnsafeTarget, match="refused URL"):
        _resolving_to(address).check("https://hooks.example.com/x")


@pytest.mark.parametrize("spelling", ["2130706433", "0177.0.0.1", "0x7f.1", "localhost", "[::1]"])
def test_odd_spellings_of_loopback_are_refused(spelling: str) -> None:
    with pytest.raises(UnsafeTarget):
        NetworkPolicy().check(f"https://{spelling}/hook")


def test_one_private_address_among_public_ones_is_enough_to_refuse() -> None:
    with pytest.raises(UnsafeTarget, match="private"):
        _resolving_to("93.184.216.34", "10.0.0.1").check("https://rebind.example.com/")


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("file:///etc/passwd", "scheme"),
        ("gopher://example.com/", "scheme"),
        ("http://example.com/", "https"),
        ("https://example.com:22/", "port 22"),
        ("https://user:pw@example.com/", "credentials"),
    ],
)
def test_schemes_ports_and_userinfo_are_checked(url: str, why: str) -> None:
    with pytest.raises(UnsafeTarget, match=why):
        _resolving_to("93.184.216.34").check(url)


def test_public_https_is_pinned_to_the_checked_address() -> None:
    target = _resolving_to("93.184.216.34").check("https://hooks.example.com/a?b=1")
    assert target.pinned_url == "https://93.184.216.34:443/a?b=1"
    assert target.host_header == "hooks.example.com"


def test_allowed_networks_may_be_reached_over_http_on_any_port() -> None:
    policy = NetworkPolicy.from_text("127.0.0.0/8, ::1/128")
    assert policy.check("http://127.0.0.1:8123/h").address == "127.0.0.1"
    with pytest.raises(UnsafeTarget):
        policy.check("http://10.0.0.1/h")


def test_a_webhook_to_loopback_is_refused_when_saved_and_when_sent(
    store: Store, receiver: Receiver, clock: FakeClock, keyring: Keyring
) -> None:
    from profilo.activate.definitions import parse_destination, save_destination

    definition = parse_destination(
        {
            "name": "hook",
            "kind": "webhook",
            "purposes": ["analytics"],
            "audiences": ["vip"],
            "settings": {"url": receiver.url},
        }
    )
    with pytest.raises(UnsafeTarget, match="loopback"):
        save_destination(store, definition, keyring=keyring)  # no allow list
    webhook(store, receiver.url, keyring)  # saved while the operator allowed loopback
    pids = add_people(store, 2, consents=lambda i: {"email_marketing": "granted"})
    enter(store, "vip", pids, "r1")
    opts = options(clock, keyring)
    opts.allow_networks = ()  # the operator withdrew the allowance
    with pytest.raises(UnsafeTarget, match="loopback"):
        sync_destination(store, "hook", opts)
    (report,) = sync_all(store, options=opts)
    assert "refused URL" in report.errors[0] and report.delivered == 0
    assert receiver.answered == []  # the canary saw no connection
    opts.allow_networks = ("127.0.0.0/8",)  # allowed again: nothing was lost
    assert sync_destination(store, "hook", opts).delivered == 2


def test_no_redirect_is_followed(
    store: Store, receiver: Receiver, clock: FakeClock, keyring: Keyring
) -> None:
    canary = socket.socket()
    canary.bind(("127.0.0.1", 0))
    canary.listen()
    canary.settimeout(0.2)
    try:
        location = f"http://127.0.0.1:{canary.getsockname()[1]}/"
        receiver.default = 302
        receiver.script = [(302, {"Location": location})]
        webhook(store, receiver.url, keyring)
        enter(
            store,
            "vip",
            add_people(store, 1, consents=lambda i: {"email_marketing": "granted"}),
            "r",
        )
        report = sync_destination(store, "hook", options(clock, keyring))
        assert report.dead == 1 and "redirects are not followed" in report.errors[0]
        with pytest.raises(TimeoutError):
            canary.accept()
    finally:
        canary.close()


def test_credentials_are_encrypted_at_rest_and_never_listed(
    store: Store, receiver: Receiver, keyring: Keyring
) -> None:
    webhook(store, receiver.url, keyring)
    raw = store.to_arrow(store.table("destinations")).to_pylist()[0]
    everything = json.dumps(raw, default=str)
    assert SECRET not in everything
    assert raw["credentials"] and keyring.decrypt(raw["credentials"]) == {"secret": SECRET}
    listed = json.dumps([d.as_dict() for d in list_destinations(store)], default=str)
    assert SECRET not in listed and '"secret": "********"' in listed
    assert get_destination(store, "hook").credential_names == ("secret",)
    other = Keyring([new_key()])
    with pytest.raises(ConfigError, match="cannot decrypt"):
        other.decrypt(raw["credentials"])


def test_the_key_file_is_made_beside_the_store_readable_by_its_owner_only(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'p.duckdb'}"
    keyring_for(url, Settings(activation_key=None, activation_key_file=None))
    key = tmp_path / "p.duckdb.key"
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    again = keyring_for(url, Settings(activation_key=None, activation_key_file=None))
    token = again.encrypt({"a": "b"})
    assert keyring_for(url, Settings(activation_key=None)).decrypt(token) == {"a": "b"}


def test_the_api_functions_never_return_credentials(
    tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROFILO_ACTIVATION_ALLOW_NETWORKS", "127.0.0.0/8")
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    store = open_store(f"duckdb:///{tmp_path / 'p.duckdb'}", migrate=True)
    try:
        done = admin.apply_destination(
            store,
            {
                "kind": "webhook",
                "purposes": ["analytics"],
                "audiences": ["vip"],
                "settings": {"url": receiver.url},
                "credentials": {"secret": "env:HOOK_SECRET"},
            },
            name="hook",
        )
        shown = json.dumps(
            [done, admin.describe_destinations(store), admin.describe_destination(store, "hook")],
            default=str,
        )
        assert SECRET not in shown
    finally:
        store.close()
