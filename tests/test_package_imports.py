"""The layers stay as README's "Layout" says: which of pbxhub's packages each package may import,
read from every module's imports with `ast` (nothing is imported to check it)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Each package of pbxhub, and the others it may import (README.md, "Layout").
MAY_IMPORT: dict[str, frozenset[str]] = {
    "contracts": frozenset(),
    "schemas": frozenset(),
    "providers": frozenset({"contracts", "schemas"}),
    "recordings": frozenset({"contracts", "providers"}),
    "crm": frozenset({"contracts", "recordings"}),
    "policies": frozenset({"contracts", "crm", "recordings", "schemas"}),
    "activities": frozenset({"contracts", "crm", "policies", "providers", "recordings"}),
    "workflows": frozenset({"contracts", "activities"}),
    "api": frozenset(
        {"contracts", "crm", "policies", "providers", "recordings", "schemas", "workflows", "web"}
    ),
    "web": frozenset(
        {"contracts", "crm", "policies", "providers", "recordings", "schemas", "workflows", "api"}
    ),
    "pbxhub": frozenset(
        {
            "contracts",
            "crm",
            "policies",
            "providers",
            "recordings",
            "schemas",
            "workflows",
            "activities",
            "api",
            "web",
        }
    ),
}
# The benchmarks measure the whole (every package but the tests).
MAY_IMPORT["bench"] = frozenset(MAY_IMPORT) | {"pbxhub"}
PACKAGES = frozenset(MAY_IMPORT) | {"tests"}
# Outside workflows/ and the worker, a workflow is reached through its client side only.
WORKFLOW_CLIENT_MODULES = frozenset(
    {"workflows.starter", "workflows.pbx_action", "workflows.search_attributes"}
)
# The app is the one place of api/ that mounts the pages (web/ builds on api's dependencies).
PAGE_MOUNTS = frozenset({"api/app.py"})


def imported_modules(tree: ast.Module) -> Iterator[tuple[ast.stmt, str, list[str]]]:
    """Each absolute import of a module: the statement, the module, and the names it takes."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node, alias.name, []
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node, node.module, [alias.name for alias in node.names]


def passed_through(tree: ast.Module) -> set[int]:
    """Ids of the import statements inside `with workflow.unsafe.imports_passed_through():`."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.With) and any(
            isinstance(item.context_expr, ast.Call)
            and ast.unparse(item.context_expr.func) == "workflow.unsafe.imports_passed_through"
            for item in node.items
        ):
            inside.update(id(child) for child in ast.walk(node))
    return inside


def violations(relative_path: str, source: str) -> list[str]:
    """What the module at `relative_path` (as under the repository's root) imports against the
    layout, one line each."""
    package = relative_path.split("/", 1)[0]
    allowed = MAY_IMPORT.get(package)
    if allowed is None:
        return []
    tree = ast.parse(source, filename=relative_path)
    sandboxed = passed_through(tree)
    found = []
    for node, module, names in imported_modules(tree):
        top = module.split(".", 1)[0]
        if top not in PACKAGES or top == package:
            continue
        where = f"{relative_path}:{node.lineno} imports {module}"
        if top not in allowed:
            found.append(f"{where}: {package}/ may not import {top}/")
        elif top == "web" and package == "api" and relative_path not in PAGE_MOUNTS:
            found.append(f"{where}: only api/app.py mounts the pages")
        elif top == "workflows" and package not in ("pbxhub", "bench"):
            if module not in WORKFLOW_CLIENT_MODULES:
                found.append(f"{where}: outside workflows/, only their client side")
        elif top == "activities" and package == "workflows":
            if id(node) not in sandboxed:
                found.append(f"{where}: outside workflow.unsafe.imports_passed_through()")
            found.extend(
                f"{where}: a workflow takes activities' classes only, not {name}"
                for name in names
                if not name.endswith("Activities")
            )
    return found


def modules() -> list[Path]:
    return sorted(
        path
        for package in MAY_IMPORT
        for path in (ROOT / package).rglob("*.py")
        if ".venv" not in path.parts
    )


def test_every_package_imports_only_what_the_layout_allows() -> None:
    found = [
        line
        for path in modules()
        for line in violations(path.relative_to(ROOT).as_posix(), path.read_text("utf-8"))
    ]

    assert found == []


def test_every_package_of_the_layout_is_read() -> None:
    read = {path.relative_to(ROOT).parts[0] for path in modules()}

    assert read == set(MAY_IMPORT)


@pytest.mark.parametrize(
    ("path", "source"),
    [
        ("contracts/events.py", "from crm.records import Channel\n"),
        ("contracts/events.py", "import providers.spec\n"),
        ("crm/store/calls.py", "from policies.access import can_see\n"),
        ("crm/store/calls.py", "from workflows.starter import deliver_event\n"),
        ("crm/store/calls.py", "from activities.calls import CallActivities\n"),
        ("crm/store/calls.py", "from api.deps import StoreDep\n"),
        ("crm/store/calls.py", "from web.templates import page\n"),
        ("workflows/call.py", "from crm import Store\n"),
        ("workflows/call.py", "from providers.engine import Engine\n"),
        ("workflows/call.py", "from activities.calls import CallActivities\n"),
        (
            "workflows/call.py",
            "with workflow.unsafe.imports_passed_through():\n"
            "    from activities.calls import store_of\n",
        ),
        ("api/routes/calls.py", "from web.templates import page\n"),
        ("api/routes/calls.py", "from workflows.call import CallWorkflow\n"),
        ("providers/engine.py", "from crm import Store\n"),
        ("recordings/storage.py", "from crm.records import Recording\n"),
    ],
)
def test_an_import_against_the_layout_is_named(path: str, source: str) -> None:
    assert len(violations(path, source)) == 1


def test_a_workflow_takes_activities_classes_passed_through() -> None:
    source = (
        "with workflow.unsafe.imports_passed_through():\n"
        "    from activities.calls import CallActivities\n"
        "    from contracts.events import CallEvent\n"
    )

    assert violations("workflows/call.py", source) == []
