"""A small local HTTP server for the clinician page: a WSGI application served by ``waitress``.

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
no injected markup can run script. A JSON body that repeats a key (at any depth) is refused.

Why waitress rather than fixes to the standard library's ``http.server`` (whose listen backlog
is 5, which has no read or idle timeout, spends a thread on each connection for as long as the
client keeps it open, and logs tracebacks when clients disconnect): waitress has a configurable
backlog and connection limit, closes connections that stall for ``channel_timeout``, buffers each
request in full in one asynchronous I/O loop before handing it to a bounded pool of worker
threads (so slow clients hold no thread), and treats disconnects as routine. It is pure Python,
well kept, and has no dependencies of its own.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import socket
import sys
import threading
from collections.abc import Callable, Iterable
from http import HTTPStatus
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.server import create_server
from waitress.task import ErrorTask

from ..network.priors import DEFAULT_SETTING, Priors
from . import DEFAULT_HOST, DEFAULT_PORT
from .service import DiagnosisService, RequestError

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "make_server", "serve", "start_in_thread"]

logger = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
"""Largest request body answered (a query is a few hundred bytes)."""
MAX_READ_BODY = 4 * MAX_BODY
"""Bodies up to this size are read and refused by the page (413, connection kept); larger ones are refused
by waitress once the headers are in, and the connection closed."""
MAX_HEADER = 32 * 1024
"""Largest request line plus headers (a browser sends one or two kilobytes)."""
BACKLOG = 1024
"""Connections the kernel queues before they are accepted."""
THREADS = 8
"""Worker threads answering complete requests; the I/O loop reads and writes for all."""
CONNECTION_LIMIT = 512
"""Open connections at most (fewer when the process may open few files); later ones wait in the backlog."""
CHANNEL_TIMEOUT = 30
"""Seconds a connection may go without a byte in either direction (idle, or stalled mid-request) before it is closed."""
CLEANUP_INTERVAL = 5
"""Seconds between checks for idle connections."""
SERVER_NAME = "fasciculation-dx"

JSON_TYPE = "application/json; charset=utf-8"

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

INTERNAL_ERROR = "internal error: the server could not answer this request; see its log"


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
    # A lone surrogate echoed from a request cannot be UTF-8: write it as a JSON escape, backslash-u-XXXX.
    return text.encode("utf-8", "backslashreplace")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Build a JSON object, refusing a repeated key (``json`` would silently keep the last)."""
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise RequestError(400, f"duplicate key '{key}' in the request body: each key may appear once per object")
        obj[key] = value
    return obj


def decode_json(raw: bytes) -> Any:
    """Decode a request body: strict UTF-8 JSON, no NaN or Infinity, no repeated keys at any depth.

    Raises
    ------
    RequestError
        (400) saying what is wrong with the body.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise RequestError(400, "the request body must be UTF-8 encoded JSON") from None
    try:
        return json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
    except RequestError:
        raise
    except (ValueError, RecursionError) as err:
        raise RequestError(400, f"the request body is not valid JSON: {err}") from None


# -- the WSGI application ----------------------------------------------------------------------------------
Response = tuple[int, bytes, str, dict[str, str]]
"""``(status, body, content type, extra headers)``."""


def _json_response(status: int, payload: Any, extra: dict[str, str] | None = None) -> Response:
    return status, _json_bytes(payload), JSON_TYPE, extra or {}


def _error(status: int, message: str, extra: dict[str, str] | None = None) -> Response:
    return _json_response(status, {"error": message, "status": status}, extra)


def _headers(body: bytes, content_type: str, extra: dict[str, str] | None = None) -> list[tuple[str, str]]:
    return [
        ("Content-Type", content_type),
        ("Content-Length", str(len(body))),
        ("Cache-Control", "no-store"),
        *SECURITY_HEADERS.items(),
        *(extra or {}).items(),
    ]


def _allow(path: str) -> dict[str, str]:
    if path == "/api/query":
        return {"Allow": "POST"}
    if path in STATIC_FILES or path == "/api/schema":
        return {"Allow": "GET, HEAD"}
    return {}


class PageApp:
    """The clinician page as a WSGI application; the HTTP server only moves bytes.

    Parameters
    ----------
    service
        Answers the API.
    loopback_only
        Answer only requests whose ``Host`` header names a loopback host.
    """

    def __init__(self, service: DiagnosisService, loopback_only: bool):
        self.service = service
        self.schema = service.schema()
        self._schema_json = _json_bytes(self.schema)
        self.loopback_only = loopback_only

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """Answer one request (WSGI)."""
        method = environ.get("REQUEST_METHOD", "GET")
        try:
            status, body, content_type, extra = self._answer(method, environ)
        except RequestError as err:
            status, body, content_type, extra = _json_response(err.status, err.payload())
        except Exception:  # a bug: log it, answer without any detail
            logger.exception("unexpected error answering %s %s", method, environ.get("PATH_INFO", ""))
            status, body, content_type, extra = _error(500, INTERNAL_ERROR)
        start_response(f"{status} {HTTPStatus(status).phrase}", _headers(body, content_type, extra))
        return [b"" if method == "HEAD" else body]

    def _host_allowed(self, environ: dict[str, Any]) -> bool:
        """Refuse requests whose Host header is not loopback while bound to loopback (DNS rebinding)."""
        if not self.loopback_only:
            return True
        try:
            name = urlsplit(f"//{environ.get('HTTP_HOST', '')}").hostname or ""
        except ValueError:
            name = ""
        return _is_loopback(name)

    def _answer(self, method: str, environ: dict[str, Any]) -> Response:
        if not self._host_allowed(environ):
            return _error(403, "this server answers only requests addressed to localhost")
        path = environ.get("PATH_INFO", "")
        if method in ("GET", "HEAD"):
            return self._get(path)
        if method == "POST":
            return self._post(path, environ)
        return _error(405, f"method {method} is not allowed here", _allow(path))

    def _get(self, path: str) -> Response:
        if path in STATIC_FILES:
            name, content_type = STATIC_FILES[path]
            return 200, _static(name), content_type, {}
        if path == "/api/schema":
            return 200, self._schema_json, JSON_TYPE, {}
        if path == "/api/query":
            return _error(405, "send queries as POST with a JSON body", _allow(path))
        return _error(404, "not found: this server has one page, at /")

    def _post(self, path: str, environ: dict[str, Any]) -> Response:
        if path != "/api/query":
            if path in STATIC_FILES or path == "/api/schema":
                return _error(405, "this address accepts GET only", _allow(path))
            return _error(404, "not found: queries go to POST /api/query")
        content_type = environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            return _error(415, "the request body must be JSON, sent with Content-Type: application/json")
        length_header = environ.get("CONTENT_LENGTH")  # waitress sets it for chunked bodies too
        if length_header is None:
            return _error(411, "the request needs a Content-Length header")
        try:
            length = int(length_header)
        except ValueError:
            length = -1
        if length < 0:
            return _error(400, "Content-Length must be a non-negative integer")
        if length > MAX_BODY:
            return _error(413, f"the request body may be at most {MAX_BODY} bytes")
        payload = decode_json(environ["wsgi.input"].read(length))
        return _json_response(200, self.service.query(payload))


# -- errors found by waitress while reading a request ---------------------------------------------------------
def _parse_error_message(code: int, reason: str, detail: str) -> str:
    if code == 413:
        return f"the request body may be at most {MAX_BODY} bytes"
    if code == 431:
        return f"the request line and headers may be at most {MAX_HEADER} bytes"
    if code == 500:
        return INTERNAL_ERROR
    return f"{reason.lower()}: {detail}"


class _JsonErrorTask(ErrorTask):
    """Answer a request waitress refused while reading it (malformed, too large) in JSON, like the rest."""

    def execute(self) -> None:
        error = self.request.error
        code = int(error.code)
        message = _parse_error_message(code, str(error.reason), str(error.body))
        body = _json_bytes({"error": message, "status": code})
        self.status = f"{code} {error.reason}"
        self.response_headers.extend(_headers(body, JSON_TYPE))
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class _Channel(HTTPChannel):
    error_task_class = _JsonErrorTask


class _QueueDepthLog:
    """Waitress warns whenever a request waits for a worker; a burst is load, not a fault: say so at INFO."""

    _logger = logging.getLogger("waitress.queue")

    def warning(self, message: str, *args: Any) -> None:
        self._logger.info(message, *args)


def _connection_limit() -> int:
    """:data:`CONNECTION_LIMIT`, or half the files this process may open if that is fewer."""
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError, ValueError):
        return CONNECTION_LIMIT
    if soft == resource.RLIM_INFINITY:
        return CONNECTION_LIMIT
    return max(16, min(CONNECTION_LIMIT, soft // 2))


def _bind(host: str, port: int) -> socket.socket:
    """Bind and listen; raise :class:`OSError` (e.g. address in use, unknown host) before anything is served."""
    found = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, _, _, _, address = found[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if os.name == "posix":  # rebind at once after a restart; Windows would let another process share it
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6 and hasattr(socket, "IPPROTO_IPV6"):
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
    except BaseException:
        sock.close()
        raise
    return sock


# -- the server ----------------------------------------------------------------------------------------------
class FasciculationServer:
    """The clinician page's HTTP server: :class:`PageApp` on waitress, bound at construction.

    The interface follows :mod:`socketserver`: ``serve_forever()`` (in one thread), ``shutdown()``
    (from another; waits until the loop has stopped), then ``server_close()``.

    Parameters
    ----------
    address
        ``(host, port)``; port 0 picks a free port, read it from :attr:`server_address`.
    service
        Answers the API.

    Raises
    ------
    OSError
        If the address cannot be bound.
    """

    def __init__(self, address: tuple[str, int], service: DiagnosisService):
        sock = _bind(*address)
        try:
            self.server_address: tuple[str, int] = tuple(sock.getsockname()[:2])  # type: ignore[assignment]
            self.app = PageApp(service, loopback_only=_is_loopback(self.server_address[0]))
            self._map: dict[int, Any] = {}
            self._waitress = create_server(
                self.app,
                map=self._map,
                sockets=[sock],
                threads=THREADS,
                backlog=BACKLOG,
                connection_limit=_connection_limit(),
                channel_timeout=CHANNEL_TIMEOUT,
                cleanup_interval=CLEANUP_INTERVAL,
                max_request_header_size=MAX_HEADER,
                max_request_body_size=MAX_READ_BODY,
                ident=SERVER_NAME,
                log_socket_errors=False,  # a client that goes away is routine, not a traceback
                expose_tracebacks=False,
                asyncore_use_poll=True,  # no FD_SETSIZE limit on open connections
            )
        except BaseException:
            sock.close()
            raise
        self._waitress.channel_class = _Channel
        self._waitress.task_dispatcher.queue_logger = _QueueDepthLog()
        self._shutdown_request = False
        self._is_shut_down = threading.Event()
        self._is_shut_down.set()
        self._closed = False

    @property
    def service(self) -> DiagnosisService:
        """The model behind the page."""
        return self.app.service

    @property
    def schema(self) -> dict[str, Any]:
        """The evidence form, as served at ``/api/schema``."""
        return self.app.schema

    @property
    def loopback_only(self) -> bool:
        """Whether the server is bound to a loopback address (and so checks ``Host`` headers)."""
        return self.app.loopback_only

    @property
    def url(self) -> str:
        """The page's address."""
        host, port = self.server_address[:2]
        host = f"[{host}]" if ":" in str(host) else host
        return f"http://{host}:{port}/"

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Serve until :meth:`shutdown` is called (from another thread) or the process is interrupted."""
        self._is_shut_down.clear()
        try:
            while not self._shutdown_request and self._map:
                wasyncore.loop(timeout=poll_interval, map=self._map, use_poll=True, count=1)
        finally:
            self._shutdown_request = False
            self._is_shut_down.set()

    def shutdown(self) -> None:
        """Stop :meth:`serve_forever` and wait until it has returned."""
        self._shutdown_request = True
        try:
            self._waitress.pull_trigger()  # wake the loop now rather than at its next poll
        except OSError:
            pass
        self._is_shut_down.wait()

    def server_close(self) -> None:
        """Stop the worker threads and close the listening socket and every connection."""
        if self._closed:
            return
        self._closed = True
        self._waitress.task_dispatcher.shutdown(timeout=5)
        wasyncore.close_all(self._map)

    def __enter__(self) -> FasciculationServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.server_close()


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

    Raises
    ------
    OSError
        If the address cannot be bound (in use, not this computer's, unknown host name).
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

    Raises
    ------
    OSError
        If the address cannot be bound; nothing is served then.
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
