"""Process plumbing shared by the services: logging setup and running an ASGI app."""

from adstack_runtime.logs import setup_logging
from adstack_runtime.serve import serve_app

__all__ = ["serve_app", "setup_logging"]
