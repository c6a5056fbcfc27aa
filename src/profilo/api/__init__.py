"""The web application that mounts each capability's routes (today: collect's tracking API)."""

from profilo.api.app import create_app
from profilo.api.serve import serve
from profilo.api.settings import ServeSettings, serve_file

__all__ = ["ServeSettings", "create_app", "serve", "serve_file"]
