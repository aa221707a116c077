"""The clinician page: a local web server and one offline page (no CDN, no build step).

Start it with ``fasciculation-dx serve`` or, from Python:

    from fasciculation_dx.web import serve
    serve()  # http://127.0.0.1:8765/

The page supports clinical judgement; it does not replace it. The server and its model are imported
on first use, so the command line can describe ``serve`` without loading them. The page may
import the network, inference and analysis wings and the :class:`fasciculation_dx.Model` facade;
only the command line imports it.
"""

from importlib import import_module

DEFAULT_HOST = "127.0.0.1"
"""Listen on this computer only."""
DEFAULT_PORT = 8765

_LAZY = {
    "make_server": "server",
    "serve": "server",
    "start_in_thread": "server",
    "DiagnosisService": "service",
    "RequestError": "service",
    "posterior_interval_or_none": "service",
}

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
