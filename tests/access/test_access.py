"""Users, passwords, sessions, roles and masking, on DuckDB and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from profilo.access import (
    PERMISSIONS,
    ROLES,
    add_user,
    can,
    csrf_token,
    end_session,
    get_user,
    hash_password,
    list_users,
    log_in,
    mask_identifier,
    mask_trait,
    mask_tree,
    remove_user,
    session_user,
    set_password,
    update_user,
    verify_password,
)
from profilo.errors import ConfigError, NotFound
from profilo.store import Store

SECRET = "test-secret"


def test_password_hashes_are_salted_scrypt() -> None:
    first, second = hash_password("s3cret!"), hash_password("s3cret!")
    assert first != second  # a fresh salt each time
    assert first.startswith("scrypt$16384$8$1$")
    assert "s3cret" not in first
    assert verify_password("s3cret!", first) and verify_password("s3cret!", second)
    assert not verify_password("s3cret", first)
    assert not verify_password("s3cret!", "md5$abc")
    assert not verify_password("s3cret!", "garbage")


def test_users_are_created_listed_changed_and_removed(store: Store) -> None:
    add_user(store, "ana", "pw-ana", role="marketer", language="fr", display_name="Ana")
    add_user(store, "bob", "pw-bob")
    assert [(u.username, u.role, u.language) for u in list_users(store)] == [
        ("ana", "marketer", "fr"),
        ("bob", "viewer", "en"),
    ]
    with pytest.raises(ConfigError, match="exists already"):
        add_user(store, "ana", "other")
    with pytest.raises(ConfigError, match="unknown role 'boss'; known: admin, analyst"):
        add_user(store, "carl", "pw-carl", role="boss")
    with pytest.raises(ConfigError, match="unknown language 'de'"):
        add_user(store, "carl", "pw-carl", language="de")
    with pytest.raises(ConfigError, match="invalid user name"):
        add_user(store, "Carl Smith", "pw-carl")
    with pytest.raises(ConfigError, match="at least 4"):
        add_user(store, "carl", "pw")
    assert update_user(store, "bob", role="analyst", language="fr").role == "analyst"
    assert get_user(store, "bob").language == "fr"
    remove_user(store, "bob")
    with pytest.raises(NotFound, match="unknown user 'bob'"):
        get_user(store, "bob")
    # the stored row never holds the password in clear
    row = store.to_arrow(store.table("users")).to_pylist()[0]
    assert "pw-ana" not in str(row) and row["password_hash"].startswith("scrypt$")


def test_sessions_log_in_check_and_log_out(store: Store) -> None:
    add_user(store, "ana", "pw-ana", role="admin")
    assert log_in(store, "ana", "wrong", secret=SECRET) is None
    assert log_in(store, "nobody", "pw-ana", secret=SECRET) is None
    session = log_in(store, "ana", "pw-ana", secret=SECRET)
    assert session is not None and session.user.username == "ana"
    user = session_user(store, session.cookie, secret=SECRET)
    assert user is not None and user.role == "admin"
    # the store keeps the token's hash only
    stored = store.to_arrow(store.table("user_sessions")).to_pylist()
    token = session.cookie.rsplit(".", 1)[0]
    assert len(stored) == 1 and token not in str(stored)
    # a forged signature, another key or a tampered token are refused
    assert session_user(store, session.cookie, secret="other") is None
    assert session_user(store, "x" + session.cookie, secret=SECRET) is None
    assert session_user(store, token + ".bad", secret=SECRET) is None
    # CSRF tokens are per session and per key
    assert csrf_token(session.cookie, SECRET) != csrf_token(session.cookie, "other")
    end_session(store, session.cookie, secret=SECRET)
    assert session_user(store, session.cookie, secret=SECRET) is None


def test_sessions_expire_and_end_with_a_new_password(store: Store) -> None:
    add_user(store, "ana", "pw-ana")
    past = datetime.now(UTC) - timedelta(days=2)
    old = log_in(store, "ana", "pw-ana", secret=SECRET, now=past)
    assert old is not None
    assert session_user(store, old.cookie, secret=SECRET) is None  # expired
    fresh = log_in(store, "ana", "pw-ana", secret=SECRET)
    assert fresh is not None
    # logging in dropped the expired session
    assert store.to_arrow(store.table("user_sessions")).num_rows == 1
    set_password(store, "ana", "new-pw")
    assert session_user(store, fresh.cookie, secret=SECRET) is None
    assert log_in(store, "ana", "pw-ana", secret=SECRET) is None
    assert log_in(store, "ana", "new-pw", secret=SECRET) is not None


def test_removing_a_user_ends_their_sessions(store: Store) -> None:
    add_user(store, "ana", "pw-ana")
    session = log_in(store, "ana", "pw-ana", secret=SECRET)
    assert session is not None
    remove_user(store, "ana")
    assert session_user(store, session.cookie, secret=SECRET) is None


def test_role_table() -> None:
    assert set(ROLES) == {"admin", "marketer", "analyst", "viewer"}
    assert all(can("admin", p) for p in PERMISSIONS)
    assert can("viewer", "view") and not can("viewer", "view_personal_data")
    assert not can("viewer", "edit_segments")
    assert can("marketer", "edit_segments") and not can("marketer", "manage_users")
    assert not can("nobody", "view")


def test_masking_hides_personal_data() -> None:
    assert mask_trait("email", "justine1951@orange.fr") == "j•••@•••.fr"
    assert mask_trait("first_name", "Justine") == "J•••"
    assert mask_trait("street", "8 rue de la République") == "•••"
    assert mask_trait("country", "FR") == "FR"
    assert mask_identifier("phone", "+33612345678") == "+33 ••• •• 78"
    assert mask_identifier("crm_id", "CRM-000017") == "CRM-000017"
    masked = mask_tree(
        {"traits": {"email": "a.b@x.fr", "name": "Ana"}, "note": "write to a.b@x.fr", "n": 3}
    )
    assert masked == {
        "traits": {"email": "a•••@•••.fr", "name": "A•••"},
        "note": "write to a•••@•••.fr",
        "n": 3,
    }
    assert mask_tree("2026-10-23") == "2026-10-23"  # dates are not phone numbers
