"""The web application that mounts each capability's routes (today: collect's tracking API).

Names are imported when first used, so ``profilo serve`` can start the store worker before the
web process has imported the application (both imports then run side by side).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from profilo.api.app import create_app
    from profilo.api.server import serve
    from profilo.api.settings import ServeSettings, serve_file

__all__ = ["ServeSettings", "create_app", "serve", "serve_file"]

_WHERE = {
    "create_app": "profilo.api.app",
    "serve": "profilo.api.server",
    "ServeSettings": "profilo.api.settings",
    "serve_file": "profilo.api.settings",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'profilo.api' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_WHERE[name]), name)
