"""Packaging: every third-party package the service imports is declared; the license ships."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib import metadata

from tests.conftest import REPO

FIRST_PARTY = ("survey_flow", "storage", "bot", "reports")


def imported_top_level_modules() -> dict[str, str]:
    """Top-level module -> one file importing it, over the service's packages (lazy imports too)."""
    found: dict[str, str] = {}
    for package in FIRST_PARTY:
        for path in sorted((REPO / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    found.setdefault(name.split(".")[0], str(path.relative_to(REPO)))
    return found


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared_distributions() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return {normalise(re.split(r"[\[<>=!~; ]", spec, maxsplit=1)[0]) for spec in project["dependencies"]}


def test_every_imported_package_is_declared() -> None:
    providers = metadata.packages_distributions()
    declared = declared_distributions()
    undeclared = {}
    for module, where in imported_top_level_modules().items():
        if module in FIRST_PARTY or module in sys.stdlib_module_names or module == "__future__":
            continue
        distributions = {normalise(d) for d in providers.get(module, [])}
        assert distributions, f"{module} (imported in {where}) is not installed"
        if not distributions & declared:
            undeclared[module] = where
    assert undeclared == {}


def test_license_file_matches_the_metadata() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
    assert (REPO / "LICENSE").read_text(encoding="utf-8").startswith("MIT License\n")
