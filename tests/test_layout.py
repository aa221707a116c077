"""The package's folders show its architecture, and its imports point down the layers.

Layers, lowest first: the version and errors; the atomic writers; ``network/`` (what the model
is); ``inference/`` (answering queries); ``analysis/`` (research); the ``Model`` facade;
``reporting/``; ``web/``; ``cli/``; the package root. A module may import its own layer or a lower
one, at module level or inside a function.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import fasciculation_dx

PACKAGE = Path(fasciculation_dx.__file__).resolve().parent

WINGS = {
    "network": {"priors", "loader", "writer", "tables", "etiology", "paths", "pgmpy_adapter", "interchange"},
    "inference": {"compiled", "batch", "evidence", "information", "explain", "query"},
    "cli": {"main", "args", "report", "research", "score", "tools"},
    "reporting": {
        "report",
        "report_text",
        "plots",
        "teaching",
        "scenarios",
        "model_card",
        "layered_layout",
        "case_schema",
    },
    "web": {"server", "service"},
}
ANALYSIS_ROOTS = {
    "sensitivity",
    "uncertainty",
    "calibration",
    "evaluate",
    "simulate",
    "cases",
    "scoring",
    "distributed",
}
TOP_LEVEL = {"__init__", "__main__", "_version", "errors", "atomic", "model"}

RANK = {
    "_version": 0,
    "errors": 0,
    "atomic": 1,
    "network": 2,
    "inference": 3,
    "analysis": 4,
    "model": 5,
    "reporting": 6,
    "web": 7,
    "cli": 8,
    "__init__": 9,
    "__main__": 10,
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "__init__"
    return parts[1]


def _imports(path: Path, module: str | None = None) -> list[tuple[int, str]]:
    """Every module imported anywhere in ``path``, resolved to an absolute dotted name."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    module = module or _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            submodules = [f"{target}.{alias.name}" for alias in node.names]
            if target.startswith("fasciculation_dx") and all(_known(m) for m in submodules):
                found += [(node.lineno, m) for m in submodules]  # ``from .. import errors``
            else:
                found.append((node.lineno, target))
    return found


def _package_modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "priors" not in p.relative_to(PACKAGE).parts[:1])


def _known(module: str) -> bool:
    path = PACKAGE.parent.joinpath(*module.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def test_the_tree_matches_the_wings():
    """Every module of the layout table is in its wing (long ones may be split into more)."""
    for wing, modules in {**WINGS, "analysis": ANALYSIS_ROOTS}.items():
        found = {p.stem for p in (PACKAGE / wing).glob("*.py")} - {"__init__"}
        assert modules <= found, wing
    assert {p.stem for p in PACKAGE.glob("*.py")} == TOP_LEVEL
    assert {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").is_file()} == {
        "network",
        "inference",
        "analysis",
        "cli",
        "reporting",
        "web",
    }


@pytest.mark.parametrize("wing", ["network", "inference", "analysis", "cli", "reporting", "web"])
def test_each_wing_says_what_lives_there_and_what_it_may_import(wing):
    doc = ast.get_docstring(ast.parse((PACKAGE / wing / "__init__.py").read_text(encoding="utf-8")))
    assert doc and len(doc.split()) >= 30, wing
    assert "import" in doc, wing


def test_imports_point_down_the_layers():
    upward = []
    for path in _package_modules():
        importer = _module_name(path)
        if path.name == "__main__.py":
            importer = "fasciculation_dx.__main__"
        own = RANK[_layer(importer)]
        for line, target in _imports(path):
            if not target.startswith("fasciculation_dx") or not _known(target):
                continue
            if RANK[_layer(target)] > own:
                upward.append(f"{path.relative_to(PACKAGE)}:{line} imports {target}")
    assert not upward, "\n".join(upward)


def test_the_layer_check_sees_an_upward_import(tmp_path):
    """The check itself: a function-level import of the command line from network/ is resolved."""
    rogue = tmp_path / "rogue.py"
    rogue.write_text("def f():\n    from ..cli.main import main\n    return main\n", encoding="utf-8")
    found = [t for _, t in _imports(rogue, "fasciculation_dx.network.rogue")]
    assert "fasciculation_dx.cli.main" in found
    assert RANK[_layer("fasciculation_dx.cli.main")] > RANK["network"]


def test_only_the_adapter_imports_pgmpy():
    importers = {
        str(path.relative_to(PACKAGE))
        for path in _package_modules()
        for _, target in _imports(path)
        if target == "pgmpy" or target.startswith("pgmpy.")
    }
    assert importers == {"network/pgmpy_adapter.py"}


def test_the_public_api_stays_at_the_package_root():
    for name in ("load_model", "Model", "load_priors", "validate_priors", "Priors", "write_priors"):
        assert hasattr(fasciculation_dx, name)
    for name in ("FasciculationDxError", "EvidenceError", "ImpossibleEvidenceError", "PriorsError", "Problem"):
        assert issubclass(getattr(fasciculation_dx, name), Exception) or name == "Problem"
