"""One settings object, read from the environment (prefix ``PROFILO_``) when asked, never at import."""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["DEFAULT_STORE_URL", "Settings"]

DEFAULT_STORE_URL = "duckdb:///var/profilo.duckdb"


class Settings(BaseSettings):
    """Profilo's settings; every field can be set as ``PROFILO_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="PROFILO_", extra="ignore")

    store: str = DEFAULT_STORE_URL
    workspace: str = "default"
    secret_key: SecretStr = SecretStr("change-me")
    import_batch_rows: int = 200_000
    activation_key: SecretStr | None = None
    """Fernet key(s) for destination credentials, comma-separated; the first encrypts (rotation)."""
    activation_key_file: str | None = None
    """File holding the key(s); default: ``<store file>.key`` beside a DuckDB store (made 0600)."""
    activation_allow_networks: str = ""
    """Networks webhook-style destinations may reach although private or loopback (SSRF guard),
    comma-separated CIDRs, e.g. ``127.0.0.1/32,::1/128``; empty: public addresses only."""
