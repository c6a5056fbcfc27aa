"""The store runner of ``profilo serve`` on a DuckDB file: calls run in the store worker.

Only the worker process may open a DuckDB file, so a route's ``fn(store, **kwargs)`` travels to it
by name (:func:`profilo.store.runner.function_name`); reads run on the worker's read connection
beside loads, writes on the loader's connection between two loads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from profilo.api.runtime import Runtime
from profilo.store.runner import function_name

__all__ = ["WorkerRunner"]

T = TypeVar("T")


class WorkerRunner:
    """A :class:`~profilo.store.runner.StoreRunner` that hands calls to the store worker."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def read(self, fn: Callable[..., T], /, **kwargs: Any) -> T:
        # straight from the event loop: no thread hop on the way out, none on the way back
        result: T = await self.runtime.worker.call_async(
            "run.read", fn=function_name(fn), kwargs=kwargs
        )
        return result

    async def write(self, fn: Callable[..., T], /, **kwargs: Any) -> T:
        result: T = await self.runtime.call("run.write", fn=function_name(fn), kwargs=kwargs)
        return result
