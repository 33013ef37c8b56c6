"""The HTTP service and web page: `create_app(settings, pipeline)` for ASGI servers and tests,
`serve(settings, host, port, api_key, allow_ingest)` for `rag serve`."""

from rag.serve.app import create_app, serve
from rag.serve.service import ServeOptions

__all__ = ["ServeOptions", "create_app", "serve"]
