"""The web UI for marketers: pages served by the same application as the API.

``router`` holds every page (log-in, overview, profiles, segments, sources, destinations,
privacy) and the builder's JSON endpoints; ``STATIC_DIR`` holds the CSS and the builder's script,
served at ``/static``. Pages read the store through ``app.state.store_runner`` only.
"""

from __future__ import annotations

from fastapi import APIRouter

from profilo.ui import pages, segment_pages
from profilo.ui.web import STATIC_DIR

__all__ = ["STATIC_DIR", "router"]

router = APIRouter(include_in_schema=False)
router.include_router(pages.router)
router.include_router(segment_pages.router)
