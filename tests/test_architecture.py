"""The layers run one way (docs/architecture.md), checked on the code's own imports.

`dashboard` and `fundraiser` may use `ingest`; `ingest` imports neither, its entry points (Celery
tasks, management commands) included: the apps plug into the engine's ports (ingest/ports.py). `fundraiser` does not import
`dashboard`. The dev tooling (`devtools`: demo, simulator, embedded servers) sits outside the
product: only `config.local` reaches into it, to start an embedded Redis for local runs. And no
module imports itself back through others: no import cycles.
"""

from __future__ import annotations

import re

import grimp

APPS = ("ingest", "fundraiser", "dashboard", "config", "devtools")


def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*APPS, include_external_packages=False)


def imports_of(importer_package: str, imported_package: str, *, allowed: tuple[str, ...] = ()) -> list[str]:
    found = []
    g = graph()
    for importer in sorted(g.find_descendants(importer_package) | {importer_package}):
        if importer.startswith(allowed):
            continue
        for imported in sorted(g.find_modules_directly_imported_by(importer)):
            if imported == imported_package or imported.startswith(imported_package + "."):
                found.append(f"{importer} -> {imported}")
    return found


def test_the_engine_imports_neither_app_not_even_in_its_entry_points():
    assert imports_of("ingest", "fundraiser") == []
    assert imports_of("ingest", "dashboard") == []


def test_the_product_does_not_import_the_dev_tooling_but_to_start_a_local_redis():
    for app in ("ingest", "fundraiser", "dashboard", "config"):
        assert imports_of(app, "devtools", allowed=("config.local",)) == []


def test_the_configuration_app_does_not_import_the_pages():
    assert imports_of("fundraiser", "dashboard") == []


def test_no_module_imports_itself_back_through_others():
    g = graph()
    cycles = set()
    for module in sorted(g.modules):
        for imported in g.find_modules_directly_imported_by(module):
            chain = g.find_shortest_chain(importer=imported, imported=module)
            if chain:
                cycles.add(" -> ".join((module, *chain)))
    assert sorted(cycles) == []


def test_the_engine_does_not_import_the_apps_by_name_either():
    """grimp reads import statements; an import by name (importlib, __import__, Django's
    import_string) would pass it by. None in the engine."""
    import pathlib

    by_name = re.compile(r"\b(import_module|__import__|import_string)\s*\(")
    root = pathlib.Path(__file__).resolve().parents[1] / "ingest"
    found = [
        f"{path.relative_to(root.parent)}:{number}"
        for path in sorted(root.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if by_name.search(line)
    ]
    assert found == []
