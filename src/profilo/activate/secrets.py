"""Destination credentials, encrypted at rest with Fernet (AES-128-CBC + HMAC-SHA256).

The key never lives in the database: it comes from ``PROFILO_ACTIVATION_KEY`` (one or more Fernet
keys, comma-separated: the first encrypts, all decrypt, so a key can be rotated), from the file
``PROFILO_ACTIVATION_KEY_FILE``, or, for a DuckDB store, from ``<store file>.key`` beside it,
created on first use with mode 0600. A PostgreSQL store needs one of the two settings: a key made
up on one machine would leave every other API worker unable to read the credentials.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from profilo.errors import ConfigError
from profilo.settings import Settings
from profilo.store import StoreURL, parse_store_url

__all__ = ["Keyring", "keyring_for", "new_key", "redact"]


def new_key() -> str:
    """A fresh Fernet key (URL-safe base64 text)."""
    return Fernet.generate_key().decode()


class Keyring:
    """Encrypts and decrypts credential sets with one or more Fernet keys."""

    def __init__(self, keys: Sequence[str | bytes]) -> None:
        if not keys:
            raise ConfigError("an activation keyring needs at least one key")
        try:
            self._fernet = MultiFernet([Fernet(k) for k in keys])
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                f"invalid activation key: {exc}; make one with `profilo destination new-key`"
            ) from None

    def encrypt(self, credentials: Mapping[str, str]) -> str:
        """One token holding every credential (names and values)."""
        plain = json.dumps(dict(credentials), sort_keys=True).encode()
        return self._fernet.encrypt(plain).decode()

    def decrypt(self, token: str) -> dict[str, str]:
        try:
            plain = self._fernet.decrypt(token.encode())
        except InvalidToken:
            raise ConfigError(
                "cannot decrypt destination credentials: the activation key is not the one they"
                " were stored with (set PROFILO_ACTIVATION_KEY to the old key first, comma-separated"
                " after the new one, to rotate)"
            ) from None
        data = json.loads(plain)
        return {str(k): str(v) for k, v in data.items()}

    def rotate(self, token: str) -> str:
        """The token re-encrypted with the first key."""
        return self._fernet.rotate(token.encode()).decode()


def _key_file(path: Path, create: bool) -> list[str]:
    if not path.exists():
        if not create:
            raise ConfigError(f"activation key file {path} does not exist")
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first: read theirs
        else:
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(new_key() + "\n")
    text = path.read_text(encoding="ascii")
    keys = [k.strip() for k in text.replace(",", "\n").splitlines() if k.strip()]
    if not keys:
        raise ConfigError(f"activation key file {path} holds no key")
    return keys


def keyring_for(store_url: str | StoreURL, settings: Settings | None = None) -> Keyring:
    """The keyring for a store, from settings, a key file, or a key file made beside the store."""
    settings = settings or Settings()
    if settings.activation_key is not None:
        keys = [k.strip() for k in settings.activation_key.get_secret_value().split(",")]
        return Keyring([k for k in keys if k])
    if settings.activation_key_file:
        return Keyring(_key_file(Path(settings.activation_key_file), create=False))
    url = parse_store_url(store_url) if isinstance(store_url, str) else store_url
    if url.engine == "duckdb" and url.path is not None:
        return Keyring(_key_file(url.path.with_name(url.path.name + ".key"), create=True))
    raise ConfigError(
        f"store {url} keeps destination credentials encrypted and needs a key: set"
        " PROFILO_ACTIVATION_KEY (make one with `profilo destination new-key`) or"
        " PROFILO_ACTIVATION_KEY_FILE"
    )


def redact(credentials: Mapping[str, str]) -> dict[str, str]:
    """The names of credentials with their values hidden, for listings."""
    return {name: "********" for name in credentials}
