"""The demo's last act: its audiences exported to a folder and pushed to a local webhook.

Two destinations are defined (and written as YAML beside the data, like the segments):

- ``audience_files``: Parquet files of the audiences' adds, removes and changes in
  ``<demo>/exports/``, for ad targeting;
- ``email_tool``: the same audiences POSTed, signed, to a small receiver the demo starts on
  loopback — the address the operator allows for the demo (``127.0.0.1/32``) and no other.

Both declare their purposes, so people without consent for them are skipped, and the summary says
how many were sent and how many were skipped, and why, per destination.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from profilo.activate import (
    Keyring,
    SyncOptions,
    keyring_for,
    parse_destination,
    save_destination,
    sync_all,
)
from profilo.activate.destinations.webhook import verify_signature
from profilo.activate.secrets import new_key
from profilo.errors import ConfigError
from profilo.store import Store

__all__ = ["AUDIENCES", "DemoReceiver", "activate_demo", "demo_destinations"]

AUDIENCES = ["vip", "lapsed_buyers", "cart_abandoners", "french_repeat_buyers_engaged"]
ALLOW = ("127.0.0.1/32",)
_FIELDS = {
    "first_name": "trait:first_name",
    "city": "trait:city",
    "country": "trait:country",
    "spend_365d": "computed:spend_365d",
    "orders_365d": "computed:orders_365d",
}


@dataclass
class DemoReceiver:
    """A loopback HTTP server standing in for an e-mail tool: checks signatures, counts changes."""

    secret: str | None
    changes: Counter[tuple[str, str]] = field(default_factory=Counter)
    requests: int = 0
    bad_signatures: int = 0
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> DemoReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                genuine = receiver.secret is None or verify_signature(
                    receiver.secret,
                    body,
                    self.headers.get("X-Profilo-Timestamp"),
                    self.headers.get("X-Profilo-Signature"),
                )
                with receiver._lock:
                    receiver.requests += 1
                    if genuine:
                        for change in json.loads(body)["changes"]:
                            key = (change["type"], change["audience"] or "(traits)")
                            receiver.changes[key] += 1
                    else:
                        receiver.bad_signatures += 1
                self.send_response(200 if genuine else 401)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/profilo"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def demo_destinations(
    export_folder: Path, webhook_url: str, secret: str | None
) -> list[dict[str, Any]]:
    """The demo's two destination definitions."""
    return [
        {
            "name": "audience_files",
            "kind": "files",
            "description": "The demo's audiences as Parquet files, for ad targeting",
            "purposes": ["ad_targeting"],
            "audiences": AUDIENCES,
            "fields": _FIELDS,
            "identifiers": ["email", "phone"],
            "settings": {"folder": str(export_folder), "format": "parquet", "mode": "incremental"},
        },
        {
            "name": "email_tool",
            "kind": "webhook",
            "description": "The demo's audiences pushed to the e-mail tool's webhook",
            "purposes": ["email_marketing"],
            "audiences": AUDIENCES,
            "fields": _FIELDS,
            "identifiers": ["email"],
            "settings": {"url": webhook_url, "max_batch": 500},
            "credentials": {"secret": secret} if secret else {},
            "rate_limit": 50,
        },
    ]


def _keyring(store: Store) -> Keyring | None:
    try:
        return keyring_for(store.url)
    except ConfigError:
        return None  # a PostgreSQL store without PROFILO_ACTIVATION_KEY: an unsigned webhook


def activate_demo(store: Store, out_dir: Path) -> dict[str, Any]:
    """Define the demo's destinations, sync them once, and say what was sent and skipped."""
    keyring = _keyring(store)
    secret = new_key() if keyring is not None else None
    receiver = DemoReceiver(secret).start()
    try:
        definitions = demo_destinations(out_dir / "exports", receiver.url, secret)
        folder = out_dir / "definitions" / "destinations"
        folder.mkdir(parents=True, exist_ok=True)
        for data in definitions:
            shown = (
                {**data, "credentials": {"secret": "env:EMAIL_TOOL_SECRET"}}
                if data.get("credentials")
                else data
            )
            (folder / f"{data['name']}.yaml").write_text(
                yaml.safe_dump(shown, sort_keys=False), encoding="utf-8"
            )
            save_destination(store, parse_destination(data), keyring=keyring, allow_networks=ALLOW)
        options = SyncOptions(keyring=keyring, allow_networks=ALLOW, drain=True)
        reports = sync_all(store, ["audience_files", "email_tool"], options)
    finally:
        receiver.stop()
    return {
        "destinations": {r.destination: r.as_dict() for r in reports},
        "webhook": {
            "url": receiver.url,
            "requests": receiver.requests,
            "signed": secret is not None,
            "bad_signatures": receiver.bad_signatures,
            "received": {f"{k[0]} {k[1]}": n for k, n in sorted(receiver.changes.items())},
        },
        "exports": str(out_dir / "exports"),
    }
