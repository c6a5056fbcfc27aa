"""Running work against the store from a web request, wherever the store lives.

A route (profiles, segments, the UI, the personalisation API) never opens the store itself: it
asks ``request.app.state.store_runner`` to run a module-level function ``fn(store, **kwargs)``.

- :class:`LocalRunner` runs it in this process, in a thread, on a store it can open (PostgreSQL:
  a connection per thread; a DuckDB file this process owns: one store, one call at a time).
- ``profilo serve`` on a DuckDB file hands the call to its store worker, the only process that may
  open the file (``profilo.api.worker``): ``fn`` travels by name, ``kwargs`` and the result by
  pickle, so both must be plain data.

Reads may run beside a load; writes wait for the loader's transaction to end.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import threading
from collections.abc import Callable, Iterator
from typing import Any, Protocol, TypeVar

from profilo.errors import ConfigError
from profilo.store.core import Store, open_store

__all__ = ["LocalRunner", "StoreRunner", "function_name", "resolve_function"]

T = TypeVar("T")


class StoreRunner(Protocol):
    """Runs ``fn(store, **kwargs)`` somewhere the store is open, without blocking the event loop."""

    async def read(self, fn: Callable[..., T], /, **kwargs: Any) -> T: ...

    async def write(self, fn: Callable[..., T], /, **kwargs: Any) -> T: ...


def function_name(fn: Callable[..., Any]) -> str:
    """``module:qualname`` of a module-level function of Profilo (how a call travels)."""
    name = f"{fn.__module__}:{fn.__qualname__}"
    if not fn.__module__.startswith("profilo.") or "<" in fn.__qualname__:
        raise ConfigError(f"only module-level functions of profilo can run on the store: {name}")
    return name


def resolve_function(name: str) -> Callable[..., Any]:
    """The function a :func:`function_name` names (only Profilo's own)."""
    module, _, qualname = name.partition(":")
    if not module.startswith("profilo.") or not qualname or "<" in qualname:
        raise ConfigError(f"not a runnable store function: {name!r}")
    target: Any = importlib.import_module(module)
    for part in qualname.split("."):
        target = getattr(target, part)
    if not callable(target):
        raise ConfigError(f"not a runnable store function: {name!r}")
    return target  # type: ignore[no-any-return]


class LocalRunner:
    """Runs calls in this process: on one shared store (serialised) or a store per thread."""

    def __init__(
        self, store: Store | None = None, *, url: str | None = None, workspace: str = "default"
    ) -> None:
        if (store is None) == (url is None):
            raise ConfigError("LocalRunner needs either an open store or a store URL")
        self._shared = store
        self._lock = threading.Lock()
        self._url = url
        self._workspace = workspace
        self._local = threading.local()
        self._opened: list[Store] = []

    @contextlib.contextmanager
    def _store(self) -> Iterator[Store]:
        if self._shared is not None:
            with self._lock:
                yield self._shared
            return
        store: Store | None = getattr(self._local, "store", None)
        if store is None:
            assert self._url is not None
            store = open_store(self._url, workspace=self._workspace)
            self._local.store = store
            with self._lock:
                self._opened.append(store)
        yield store

    def run(self, fn: Callable[..., T], /, **kwargs: Any) -> T:
        """Run now, in the calling thread."""
        with self._store() as store:
            return fn(store, **kwargs)

    async def read(self, fn: Callable[..., T], /, **kwargs: Any) -> T:
        return await asyncio.to_thread(self.run, fn, **kwargs)

    async def write(self, fn: Callable[..., T], /, **kwargs: Any) -> T:
        return await asyncio.to_thread(self.run, fn, **kwargs)

    def close(self) -> None:
        """Close the stores this runner opened (not a shared store it was given)."""
        with self._lock:
            opened, self._opened = self._opened, []
        for store in opened:
            with contextlib.suppress(Exception):
                store.close()
