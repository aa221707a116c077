"""Build the HTML API reference of ``fasciculation_dx`` with pdoc, and check its links.

Usage (from the repository root, in the project's virtualenv with the ``docs`` or ``test`` extra):

    python docs/build_api.py                      # build into docs/_build/api
    python docs/build_api.py --out /tmp/api       # build elsewhere
    python docs/build_api.py --check              # build, then check every link

The reference documents every module of the package whose dotted name has no part with a leading
underscore and, in each module, the names its ``__all__`` lists. The build fails (exit 1, one line
per problem) when pdoc warns while reading the package or converting its docstrings, or when a
docstring would render wrongly: a Sphinx role (``:func:`x```, ``:class:`x```, ...) naming a package
object the reference does not document (pdoc would print it without a link), a role with a leading
``~`` or a line ending in ``::`` (pdoc prints both as written). ``--check`` then reads every
generated HTML file and fails on a relative link to a missing file or to a missing ``#id``;
external ``http(s)`` links are checked for form and listed, not fetched (CI may be offline).
Exit 2 is bad usage.

This script is documentation tooling; it is not part of the installed package.
"""

from __future__ import annotations

import argparse
import builtins
import importlib
import pkgutil
import re
import sys
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

PACKAGE = "fasciculation_dx"
DEFAULT_OUT = Path(__file__).resolve().parent / "_build" / "api"
ROLE = re.compile(r"(?::py)?:(mod|func|data|const|class|meth|attr|exc|obj):`([^`]+)`")
"""A Sphinx cross-reference role, as pdoc's reStructuredText conversion recognises it."""
LITERAL_MARKER = re.compile(r"\S::[ \t]*$", re.MULTILINE)
"""A reStructuredText ``::`` ending a line to announce a code block; pdoc prints it as written."""


class DocsBuildError(Exception):
    """Raise when the reference cannot be built or checked; the message is one line per problem."""


def public_modules(package: str = PACKAGE) -> list[str]:
    """List the package and its submodules whose dotted names have no part with a leading underscore.

    Parameters
    ----------
    package : str
        Importable name of the package.

    Returns
    -------
    list of str
        Dotted module names, the package first, then sorted.
    """
    root = importlib.import_module(package)

    def fail(name: str) -> None:
        raise DocsBuildError(f"cannot import {name} while listing the modules of {package}")

    names = [
        info.name
        for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}.", onerror=fail)
        if not any(part.startswith("_") for part in info.name.split("."))
    ]
    return [package, *sorted(names)]


def build(out_dir: Path, modules: Sequence[str] | None = None) -> list[Path]:
    """Render the HTML reference of `modules` into `out_dir` and return the files written.

    Parameters
    ----------
    out_dir : Path
        Folder to write into, whole and at once (:func:`fasciculation_dx.atomic.atomic_directory`):
        created if missing, replaced if it holds an earlier build, refused if it holds anything else.
    modules : sequence of str, optional
        Dotted module names; by default :func:`public_modules`.

    Returns
    -------
    list of Path
        The HTML and JavaScript files written.

    Raises
    ------
    DocsBuildError
        If pdoc or the package warns while the modules are read or rendered, a docstring cannot be
        converted, a docstring would render wrongly (see :func:`check_references`), or `out_dir`
        cannot be written.
    """
    import pdoc.doc
    import pdoc.render

    # No "View Source" panes: they made the pages 3.6 times larger and the build half again slower,
    # and the source is in the repository.
    pdoc.render.configure(docformat="numpy", show_source=False, search=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            names = list(modules) if modules is not None else public_modules()
            for name in names:
                _materialise_lazy_exports(importlib.import_module(name))
            all_modules = {name: pdoc.doc.Module.from_name(name) for name in names}
            pages = {name: pdoc.render.html_module(module, all_modules) for name, module in all_modules.items()}
            index = pdoc.render.html_index(all_modules)
            search = pdoc.render.search_index(all_modules)
        except ImportError as error:
            raise DocsBuildError(f"cannot import a module to document: {error}") from error
        except RuntimeError as error:  # pdoc wraps an import or docstring failure in a RuntimeError
            lines = [line for line in str(error).splitlines() if line.strip()] or [type(error).__name__]
            where = [line for line in lines if line.startswith("source_file=")]
            raise DocsBuildError(f"pdoc failed: {lines[0]} {' '.join(where[:1])}".strip()) from error
    problems = [_describe_warning(w) for w in caught if _is_docs_warning(w)]
    problems += [line for _, line in check_references(all_modules)]
    if problems:
        raise DocsBuildError("\n".join(problems))

    from fasciculation_dx.atomic import atomic_directory
    from fasciculation_dx.errors import FasciculationDxError

    out_dir = Path(out_dir)
    files = {f"{name.replace('.', '/')}.html": html for name, html in pages.items()}
    files.update({name: text for name, text in (("index.html", index), ("search.js", search)) if text})
    try:
        with atomic_directory(
            out_dir,
            overwrite=True,
            marker="index.html",
            allowed=lambda rel: rel.suffix in (".html", ".js") or (out_dir / rel).is_dir(),
            what="an API reference",
        ) as staging:
            for name, text in files.items():
                _write(staging / name, text)
    except FasciculationDxError as error:
        raise DocsBuildError(str(error)) from error
    return [out_dir / name for name in files]


def _materialise_lazy_exports(module: object) -> None:
    """Bind the names a module exports lazily (a PEP 562 ``__getattr__``) so pdoc can read them.

    pdoc reads a module's ``__dict__``; a name in ``__all__`` served by ``__getattr__`` on first
    use (as :mod:`fasciculation_dx.web` serves ``serve``) is not there yet. Binding it here, in the
    build process only, documents it on the package's page instead of warning.
    """
    namespace = vars(module)
    if "__getattr__" not in namespace:
        return
    for name in namespace.get("__all__", []):
        if name not in namespace:
            setattr(module, name, getattr(module, name))


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _is_docs_warning(message: warnings.WarningMessage) -> bool:
    """Tell whether a warning came from pdoc or from the package (not from a third-party import)."""
    import pdoc

    filename = Path(message.filename).resolve()
    roots = [Path(pdoc.__file__).resolve().parent, Path(importlib.import_module(PACKAGE).__file__).resolve().parent]
    return any(filename.is_relative_to(root) for root in roots)


def _describe_warning(message: warnings.WarningMessage) -> str:
    text = " ".join(str(message.message).split())
    return f"pdoc warning: {text[:300]}"


def check_references(all_modules: Mapping[str, object]) -> list[tuple[str, str]]:
    """Find docstring roles that pdoc would render without a link or with a stray ``~``, and ``::``.

    A role whose target is outside the package (``:class:`pandas.DataFrame```) or a builtin is
    not checked: pdoc prints it as code, as intended. A leading ``~`` (Sphinx's "show the last
    part only") is printed literally by pdoc, so it is reported too, as is a line ending in the
    reStructuredText literal-block marker ``::`` (Markdown needs only the indented block).

    Parameters
    ----------
    all_modules : mapping of str to pdoc.doc.Module
        The modules being rendered, by dotted name.

    Returns
    -------
    list of tuple of (str, str)
        The module's dotted name and a ``file:line: object: role: what is wrong`` line, per problem.
    """
    problems = []
    for module in all_modules.values():
        for doc in _own_docs(module):
            if LITERAL_MARKER.search(doc.docstring):
                why = "a line ends in '::', which pdoc prints as written; end it with ':' before the indented block"
                problems.append((module.modulename, f"{_where(doc, module)}: {doc.fullname}: {why}"))
            for match in ROLE.finditer(doc.docstring):
                target = match.group(2)
                if target.startswith("~"):
                    why = "pdoc prints the '~' as written; drop it"
                elif not _resolves(target, module, doc.qualname, all_modules):
                    why = "names nothing the reference documents (write the full dotted name of a public object)"
                else:
                    continue
                problems.append((module.modulename, f"{_where(doc, module)}: {doc.fullname}: {match.group(0)} {why}"))
    return problems


def _own_docs(module) -> Iterator[object]:
    """Yield the module and every public member defined in it (not imported from elsewhere)."""
    yield module
    stack = list(module.own_members)
    while stack:
        doc = stack.pop()
        if doc.taken_from[0] != module.modulename or doc.name.startswith("_"):
            continue
        yield doc
        stack.extend(getattr(doc, "own_members", []))


def _resolves(target: str, module, namespace: str, all_modules: Mapping[str, object]) -> bool:
    """Resolve a role target the way pdoc links an identifier: locally, then as a dotted name."""
    from pdoc.render_helpers import possible_sources, qualname_candidates

    identifier = target.lstrip("~").removesuffix("()").strip()
    if identifier.startswith("."):
        parent = module.modulename if module.is_package else module.modulename.rpartition(".")[0]
        while identifier.startswith(".."):
            identifier = identifier[1:]
            parent = parent.rpartition(".")[0]
        identifier = parent + identifier
    else:
        for qualname in qualname_candidates(identifier, namespace):
            if _public(module.get(qualname)):
                return True
        if "." not in identifier and hasattr(builtins, identifier):
            return True
    if "." in identifier and identifier.split(".")[0] not in {name.split(".")[0] for name in all_modules}:
        return True  # another library's object: printed as code, not linked
    if identifier in all_modules:
        return True
    try:
        sources = list(possible_sources(all_modules, identifier))
    except ValueError:
        return False
    return any(_public(all_modules[name].get(qualname)) for name, qualname in sources if name in all_modules)


def _public(doc) -> bool:
    return doc is not None and not doc.name.startswith("_")


def _where(doc, module) -> str:
    source = doc.source_file or module.source_file
    line = max(doc.source_lines[0], 1) if doc.source_lines else 1
    try:
        shown = Path(source).resolve().relative_to(Path.cwd())
    except (TypeError, ValueError):
        shown = source
    return f"{shown}:{line}"


@dataclass
class LinkReport:
    """Hold what the link check found.

    Attributes
    ----------
    broken : list of str
        One line per broken relative link or malformed external link.
    external : list of str
        Every distinct external (``http``/``https``) URL, sorted; listed, not fetched.
    checked : int
        Number of links checked.
    """

    broken: list[str] = field(default_factory=list)
    external: list[str] = field(default_factory=list)
    checked: int = 0


class _Links(HTMLParser):
    """Collect the ids and the link targets (``href``, ``src``, a refresh's URL) of one HTML file."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[tuple[int, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "meta" and (values.get("http-equiv") or "").lower() == "refresh":
            refresh = re.search(r"url\s*=\s*(\S+)", values.get("content") or "", re.IGNORECASE)
            if refresh:
                self.links.append((self.getpos()[0], refresh.group(1).strip("'\"")))
        for name, value in attrs:
            if value is None:
                continue
            if name == "id" or (tag == "a" and name == "name"):
                self.ids.add(value)
            elif name in ("href", "src"):
                self.links.append((self.getpos()[0], value))


def _parse(path: Path) -> _Links:
    parser = _Links()
    parser.feed(path.read_text(encoding="utf-8"))
    parser.close()
    return parser


def check_links(out_dir: Path) -> LinkReport:
    """Check every link of every HTML file under `out_dir`.

    A relative link must name an existing file and, with a ``#fragment``, an ``id`` in that file
    (an empty fragment is the top of the page). An ``http``/``https`` link must have a host and
    no spaces; it is listed, not fetched. ``data:`` and ``mailto:`` links are skipped, and any other
    scheme is reported.

    Parameters
    ----------
    out_dir : Path
        A built reference.

    Returns
    -------
    LinkReport
        The broken links (empty when all resolve) and the external URLs.

    Raises
    ------
    DocsBuildError
        If `out_dir` holds no HTML file.
    """
    out_dir = Path(out_dir)
    pages = sorted(out_dir.rglob("*.html"))
    if not pages:
        raise DocsBuildError(f"no HTML files in {out_dir}: build the reference first (python docs/build_api.py)")
    parsed: dict[Path, _Links] = {page.resolve(): _parse(page) for page in pages}
    report = LinkReport()
    external: set[str] = set()
    for page, links in parsed.items():
        shown = page.relative_to(out_dir.resolve())
        for line, url in links.links:
            report.checked += 1
            problem = _check_one(page, url, parsed, external)
            if problem:
                report.broken.append(f"{shown}:{line}: {problem}")
    report.external = sorted(external)
    return report


def _check_one(page: Path, url: str, parsed: dict[Path, _Links], external: set[str]) -> str | None:
    """Return why one link is broken, or None when it resolves."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        if not parts.netloc or any(ch.isspace() for ch in url.strip()):
            return f"malformed external link {url!r} (expected http(s)://host/path)"
        external.add(url.strip())
        return None
    if scheme in ("data", "mailto"):
        return None
    if scheme or parts.netloc:
        return f"link {url!r} has an unsupported scheme (expected a relative path, #id, http or https)"
    target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
    if not target.is_file():
        return f"link {url!r} points to a missing file {unquote(parts.path)!r}"
    fragment = unquote(parts.fragment)
    if fragment and target.suffix == ".html":
        ids = parsed[target].ids if target in parsed else _parse(target).ids
        if fragment not in ids:
            return f"link {url!r}: no element with id {fragment!r} in {target.name}"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Build the reference (and with ``--check`` check its links); return the exit status.

    Parameters
    ----------
    argv : sequence of str, optional
        Command-line arguments; by default ``sys.argv[1:]``.

    Returns
    -------
    int
        0 when built (and checked) without problems, 1 when there were problems.
    """
    parser = argparse.ArgumentParser(
        prog="python docs/build_api.py",
        description="Build the HTML API reference of fasciculation_dx with pdoc and optionally check its links.",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: docs/_build/api)")
    parser.add_argument(
        "--check", action="store_true", help="after building, check every link; list external links unfetched"
    )
    args = parser.parse_args(argv)
    try:
        written = build(args.out)
        print(f"wrote {len(written)} files to {args.out} (open {args.out / 'index.html'})")
        if args.check:
            report = check_links(args.out)
            for url in report.external:
                print(f"external (not fetched): {url}")
            if report.broken:
                raise DocsBuildError("\n".join(report.broken))
            print(f"checked {report.checked} links: none broken; {len(report.external)} external listed")
    except DocsBuildError as error:
        for line in str(error).splitlines():
            print(f"build_api: error: {line}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
