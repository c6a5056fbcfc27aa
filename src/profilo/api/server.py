"""``profilo serve``: the application on uvicorn (uvloop and httptools when installed)."""

from __future__ import annotations

from profilo.api.logs import configure_logging
from profilo.api.settings import ServeSettings

__all__ = ["serve"]


def serve(settings: ServeSettings, *, ceiling_endpoint: bool = False) -> None:
    """Serve until interrupted; SIGINT/SIGTERM stop taking requests, then the store worker stores
    what the spool still holds and exits."""
    from profilo.api.worker import WorkerClient, WorkerConfig

    configure_logging(settings.log_level)
    # the store worker starts first: its imports and the store's opening overlap ours
    worker = WorkerClient(WorkerConfig.from_settings(settings))
    worker.launch()

    import uvicorn

    from profilo.api.app import create_app

    app = create_app(settings, ceiling_endpoint=ceiling_endpoint, worker=worker)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="auto",
        http="auto",
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_keep_alive=30,
    )
    uvicorn.Server(config).run()
