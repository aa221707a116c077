"""A small local HTTP server for the clinician page, on the standard library's ``http.server``.

Routes
    ``GET /``                 the page (``static/index.html``)
    ``GET /static/<file>``    its script and style sheet (a fixed list; nothing else is served)
    ``GET /api/schema``       the evidence form: sections, nodes, states, settings, disclaimer
    ``POST /api/query``       ``{"evidence": {...}, "setting": ..., "top": ..., "interval": ...}``

Every response to a bad request is a 4xx with a JSON body ``{"error": message, "status": code}``;
an unexpected failure is a 500 with a generic message, never a stack trace. The server binds to
127.0.0.1 by default and, while bound to a loopback address, answers only requests whose
``Host`` header names a loopback host (a guard against DNS rebinding). Responses carry a
Content-Security-Policy that allows only the page's own files, so the page works offline and
no injected markup can run script.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..priors import DEFAULT_SETTING, Priors
from . import DEFAULT_HOST, DEFAULT_PORT
from .service import DiagnosisService, RequestError

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "make_server", "serve", "start_in_thread"]

logger = logging.getLogger(__name__)

MAX_BODY = 64 * 1024

STATIC_FILES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/static/style.css": ("style.css", "text/css; charset=utf-8"),
}

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Resource-Policy": "same-origin",
}

LOOPBACK_NAMES = frozenset({"localhost", "localhost.", "127.0.0.1", "::1"})


def _static(name: str) -> bytes:
    return resources.files(__package__).joinpath("static", name).read_bytes()


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _json_bytes(payload: Any) -> bytes:
    # Escape <, > and & so that no JSON body can ever be read as markup.
    text = json.dumps(payload, allow_nan=False, ensure_ascii=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return text.encode("utf-8")


class Handler(BaseHTTPRequestHandler):
    """Request handler; the server's ``service`` answers the API."""

    server: FasciculationServer
    server_version = "fasciculation-dx"
    protocol_version = "HTTP/1.1"

    def version_string(self) -> str:
        """Name the server in the ``Server`` header, without Python's version."""
        return self.server_version

    # -- plumbing ----------------------------------------------------------------------------------
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        """Log a request line to the module's logger (quiet unless logging is configured)."""
        logger.info("%s %s", self.address_string(), format % args)

    def _send(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for key, value in {**SECURITY_HEADERS, **(extra or {})}.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, status: int, payload: Any, extra: dict[str, str] | None = None) -> None:
        self._send(status, _json_bytes(payload), "application/json; charset=utf-8", extra)

    def _error(self, status: int, message: str, extra: dict[str, str] | None = None, **details: Any) -> None:
        self._send_json(status, {"error": message, "status": status, **details}, extra)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Answer errors detected by ``http.server`` itself (bad request line, ...) in JSON."""
        self.close_connection = True
        try:
            text = message or HTTPStatus(code).phrase
        except ValueError:
            text = "error"
        self._error(code, text)

    def _guard(self) -> bool:
        """Refuse requests whose Host header is not loopback while bound to loopback."""
        if not self.server.loopback_only:
            return True
        host = self.headers.get("Host", "")
        try:
            name = urlsplit(f"//{host}").hostname or ""
        except ValueError:
            name = ""
        if _is_loopback(name):
            return True
        self.close_connection = True
        self._error(403, "this server answers only requests addressed to localhost")
        return False

    def _run(self, method) -> None:
        try:
            if self._guard():
                method()
        except RequestError as err:
            self._send_json(err.status, err.payload())
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception:  # a bug: log it, answer without any detail
            logger.exception("unexpected error answering %s %s", self.command, self.path)
            self.close_connection = True
            self._error(500, "internal error: the server could not answer this request; see its log")

    # -- methods -----------------------------------------------------------------------------------
    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        """Serve the page, its files and the schema."""
        self._run(self._get)

    def do_HEAD(self) -> None:  # noqa: N802
        """Like GET without a body."""
        self._run(self._get)

    def do_POST(self) -> None:  # noqa: N802
        """Answer a query."""
        self._run(self._post)

    def _not_allowed(self) -> None:
        self._error(405, f"method {self.command} is not allowed here")

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _not_allowed  # noqa: N815

    def _get(self) -> None:
        path = urlsplit(self.path).path
        if path in STATIC_FILES:
            name, content_type = STATIC_FILES[path]
            self._send(200, _static(name), content_type)
        elif path == "/api/schema":
            self._send_json(200, self.server.schema)
        elif path == "/api/query":
            self._error(405, "send queries as POST with a JSON body", {"Allow": "POST"})
        else:
            self._error(404, "not found: this server has one page, at /")

    def _post(self) -> None:
        path = urlsplit(self.path).path
        if path != "/api/query":
            if path in STATIC_FILES or path == "/api/schema":
                self._error(405, "this address accepts GET only", {"Allow": "GET"})
            else:
                self._error(404, "not found: queries go to POST /api/query")
            return
        content_type = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            self.close_connection = True
            self._error(415, "the request body must be JSON, sent with Content-Type: application/json")
            return
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            self._error(411, "send the request body with a Content-Length, not chunked")
            return
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            self.close_connection = True
            self._error(411, "the request needs a Content-Length header")
            return
        try:
            length = int(length_header)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            self._error(400, "Content-Length must be a non-negative integer")
            return
        if length > MAX_BODY:
            self.close_connection = True
            self._error(413, f"the request body may be at most {MAX_BODY} bytes")
            return
        raw = self.rfile.read(length)
        try:
            payload = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
        except UnicodeDecodeError:
            raise RequestError(400, "the request body must be UTF-8 encoded JSON") from None
        except (ValueError, RecursionError) as err:
            raise RequestError(400, f"the request body is not valid JSON: {err}") from None
        self._send_json(200, self.server.service.query(payload))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


class FasciculationServer(ThreadingHTTPServer):
    """The HTTP server, holding the :class:`DiagnosisService` its handlers use."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], service: DiagnosisService):
        self.service = service
        self.schema = service.schema()
        self.loopback_only = _is_loopback(address[0])
        super().__init__(address, Handler)

    @property
    def url(self) -> str:
        """The page's address."""
        host, port = self.server_address[:2]
        host = f"[{host}]" if ":" in str(host) else host
        return f"http://{host}:{port}/"


def make_server(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    priors: Priors | str | Path | None = None,
    setting: str = DEFAULT_SETTING,
) -> FasciculationServer:
    """Build (and bind) the server; call ``serve_forever()`` on it, or use :func:`serve`.

    Parameters
    ----------
    host
        Address to bind; 127.0.0.1 (this computer only) by default. Binding anything else
        exposes patient findings to the network without encryption or authentication.
    port
        TCP port; 0 picks a free one (read it from ``server.server_address``).
    priors
        Validated priors, a priors directory, or ``None`` for the shipped priors.
    setting
        The care setting the page starts with.

    Returns
    -------
    FasciculationServer
    """
    service = DiagnosisService(priors, setting)
    return FasciculationServer((host, port), service)


def start_in_thread(server: FasciculationServer) -> threading.Thread:
    """Run ``server.serve_forever()`` in a daemon thread (for notebooks and tests).

    Stop it with ``server.shutdown(); server.server_close()``.
    """
    thread = threading.Thread(target=server.serve_forever, name="fasciculation-dx-web", daemon=True)
    thread.start()
    return thread


def serve(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    priors: Priors | str | Path | None = None,
    setting: str = DEFAULT_SETTING,
) -> None:
    """Serve the clinician page until interrupted (Ctrl-C).

    Parameters
    ----------
    host, port, priors, setting
        As for :func:`make_server`.
    """
    server = make_server(host, port, priors, setting)
    print(f"fasciculation-dx: serving the clinician page at {server.url} (Ctrl-C to stop)", file=sys.stderr)
    if not server.loopback_only:
        print(
            f"fasciculation-dx: warning: bound to {host}, reachable from other computers, without "
            "encryption or authentication",
            file=sys.stderr,
        )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
