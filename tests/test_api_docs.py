"""The API reference: built with pdoc from the docstrings, its links checked (docs/build_api.py)."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("pdoc")

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIR = ROOT / "model" / "fasciculation_dx"


def _load_script():
    spec = importlib.util.spec_from_file_location("fasciculation_dx_docs_build_api", ROOT / "docs" / "build_api.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


build_api = _load_script()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Run the script as CI would (build, then --check) once for the whole module."""
    out = tmp_path_factory.mktemp("api")
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        status = build_api.main(["--out", str(out), "--check"])
    return out, status, stdout.getvalue(), stderr.getvalue()


def test_reference_builds_without_problems_and_every_link_resolves(built):
    out, status, stdout, stderr = built
    errors = [line for line in stderr.splitlines() if "error:" in line]
    assert status == 0, "\n".join(errors)
    assert errors == []
    assert "none broken" in stdout
    assert (out / "index.html").is_file()


def test_every_public_module_has_a_page_and_private_ones_none(built):
    out = built[0]
    on_disk = {
        ".".join(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts).removesuffix(".__init__")
        for path in PACKAGE_DIR.rglob("*.py")
    }
    public = {name for name in on_disk if not any(part.startswith("_") for part in name.split("."))}
    private = on_disk - public
    assert "fasciculation_dx.web.server" in public and "fasciculation_dx.__main__" in private
    pages = {".".join(p.relative_to(out).with_suffix("").parts) for p in out.rglob("*.html")} - {"index"}
    assert pages == public


def _ids(page: Path) -> set[str]:
    return build_api._parse(page).ids


def test_key_public_names_are_documented(built):
    out = built[0]
    top = _ids(out / "fasciculation_dx.html")
    for name in ("Model", "Model.posterior", "Model.explain", "load_model", "load_priors", "Priors", "EvidenceError"):
        assert name in top, name
    assert "Model.posterior" in _ids(out / "fasciculation_dx" / "model.html")
    # names a package serves lazily (PEP 562) are documented on its page, not dropped with a warning
    assert {"serve", "DiagnosisService"} <= _ids(out / "fasciculation_dx" / "web.html")
    text = (out / "fasciculation_dx.html").read_text(encoding="utf-8")
    assert "they are not diagnoses" in text
    assert '<h6 id="parameters">Parameters</h6>' in text  # numpydoc sections rendered as sections


def _write(folder: Path, name: str, body: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def test_link_check_reports_missing_files_ids_and_bad_urls_and_lists_external_links(tmp_path):
    _write(
        tmp_path,
        "a.html",
        """\
        <html><head><meta http-equiv="refresh" content="0; url=./sub/gone.html"/></head><body>
        <h1 id="top">A</h1>
        <a href="#top">ok</a> <a href="">ok</a> <a href="sub/b.html#there">ok</a> <img src="data:image/png;base64,AA">
        <a href="#nowhere">bad id</a>
        <a href="sub/missing.html">bad file</a>
        <a href="sub/b.html#gone">bad id elsewhere</a>
        <a href="https://example.org/page#x">external</a>
        <a href="http:///no-host">malformed</a>
        <a href="ftp://example.org/file">scheme</a>
        </body></html>
        """,
    )
    _write(tmp_path, "sub/b.html", '<p id="there">B</p><a href="../a.html#top">ok</a><script src="../a.js"></script>')
    report = build_api.check_links(tmp_path)
    assert report.external == ["https://example.org/page#x"]
    assert report.checked == 13
    broken = "\n".join(report.broken)
    assert len(report.broken) == 7, broken
    expected = ("'#nowhere'", "sub/missing.html", "./sub/gone.html", "'gone'", "http:///no-host", "ftp://", "../a.js")
    for fragment in expected:
        assert fragment in broken, fragment
    assert all(line.split(":", 1)[0] in ("a.html", "sub/b.html") for line in report.broken)


def test_link_check_refuses_a_folder_without_html(tmp_path):
    with pytest.raises(build_api.DocsBuildError, match="no HTML files"):
        build_api.check_links(tmp_path)


@pytest.fixture
def fake_package(tmp_path, monkeypatch):
    """Return a function that writes an importable one-module package in tmp_path and returns its name."""
    base = f"docsfake_{tmp_path.name.replace('-', '_')}"
    monkeypatch.syspath_prepend(str(tmp_path))
    made = []

    def write(body: str, suffix: str = "") -> str:
        made.append(base + suffix)
        _write(tmp_path / made[-1], "__init__.py", body)
        return made[-1]

    yield write
    for name in made:
        sys.modules.pop(name, None)


def test_build_fails_on_roles_pdoc_cannot_render_and_passes_good_ones(tmp_path, fake_package):
    package = fake_package(
        '''\
        """A fake package.

        See :func:`helper` and :class:`Thing`, or :func:`os.path.join` and :class:`dict`.
        """

        __all__ = ["Thing", "helper"]


        class Thing:
            """Hold nothing; see :meth:`describe`."""

            def describe(self) -> str:
                """Describe it, unlike :func:`missing_function` and :class:`~Thing`.

                Code::

                    Thing().describe()
                """
                return "thing"


        def helper() -> None:
            """Help; :func:`_private` is not documented."""


        def _private() -> None:
            """Do nothing."""
        '''
    )
    with pytest.raises(build_api.DocsBuildError) as caught:
        build_api.build(tmp_path / "out", modules=[package])
    lines = str(caught.value).splitlines()
    assert len(lines) == 4, lines
    assert any(":func:`missing_function` names nothing" in line for line in lines)
    assert any(":class:`~Thing` pdoc prints the '~'" in line for line in lines)
    assert any("ends in '::'" in line and "Thing.describe" in line for line in lines)
    assert any(":func:`_private` names nothing" in line and f"{package}.helper" in line for line in lines)
    assert not (tmp_path / "out").exists()  # nothing is written when the build fails


def test_build_fails_on_a_pdoc_warning_and_writes_a_clean_package(tmp_path, fake_package):
    package = fake_package('"""Fake."""\n\n__all__ = ["absent"]\n')
    with pytest.raises(build_api.DocsBuildError, match="absent"):
        build_api.build(tmp_path / "out", modules=[package])
    package = fake_package(
        '"""Fake, :func:`present`."""\n\n__all__ = ["present"]\n\n\ndef present() -> None:\n    """Be."""\n', "b"
    )
    written = build_api.build(tmp_path / "out", modules=[package])
    page = tmp_path / "out" / f"{package}.html"
    assert page in written
    assert "present" in _ids(page)
    assert build_api.check_links(tmp_path / "out").broken == []
    # a rebuild replaces the whole folder, so a page of a module since removed does not linger
    (tmp_path / "out" / "stale.html").write_text("<p>old</p>", encoding="utf-8")
    build_api.build(tmp_path / "out", modules=[package])
    assert not (tmp_path / "out" / "stale.html").exists() and page.is_file()
    # a folder that is not an earlier build is never replaced
    _write(tmp_path, "mine/notes.txt", "keep")
    with pytest.raises(build_api.DocsBuildError, match="refusing to replace"):
        build_api.build(tmp_path / "mine", modules=[package])
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == ["notes.txt"]


def test_main_exits_1_with_one_line_per_problem(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(build_api, "public_modules", lambda: ["no_such_module_for_docs"])
    assert build_api.main(["--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("build_api: error: ") and "no_such_module_for_docs" in err
    assert "Traceback" not in err
