"""The clinician page: a local web server and one offline page (no CDN, no build step).

Start it with ``fasciculation-dx serve`` or, from Python::

    from fasciculation_dx.web import serve
    serve()  # http://127.0.0.1:8765/

The page supports clinical judgement; it does not replace it.
"""

from .server import DEFAULT_HOST, DEFAULT_PORT, make_server, serve, start_in_thread
from .service import DiagnosisService, RequestError, posterior_interval_or_none

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "DiagnosisService",
    "RequestError",
    "make_server",
    "posterior_interval_or_none",
    "serve",
    "start_in_thread",
]
