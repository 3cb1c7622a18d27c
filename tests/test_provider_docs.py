"""The docs for integrators cannot drift from the code: every shipped spec has its page, and the
meta-schema's description and docs/providers/writing-a-spec.md name every filter the templates
may use and every field a spec may set."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from providers.spec_loader import DEFAULT_SPECS_DIR
from providers.template_filters import TESTS
from providers.templating import environment
from schemas import PROVIDER_SPEC_SCHEMA, load_schema

DOCS = Path(__file__).resolve().parent.parent / "docs" / "providers"
WRITING_A_SPEC = DOCS / "writing-a-spec.md"
SPEC_IDS = sorted(path.stem for path in DEFAULT_SPECS_DIR.glob("*.yaml"))
FILTERS = sorted(environment().filters)


@pytest.mark.parametrize("provider", SPEC_IDS)
def test_every_shipped_spec_has_its_page_in_docs_providers(provider: str) -> None:
    page = DOCS / f"{provider}.md"
    assert page.is_file(), f"write {page.relative_to(DOCS.parent.parent)} (see TEMPLATE.md)"
    assert f"providers/{provider}.yaml" in page.read_text("utf-8"), "the page names its spec"


def named(name: str, text: str) -> bool:
    """`name` appears as a word of the text (not inside another name)."""
    return re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text) is not None


@pytest.mark.parametrize("name", FILTERS)
def test_the_meta_schema_and_the_guide_name_every_filter_templates_may_use(name: str) -> None:
    description = load_schema(PROVIDER_SPEC_SCHEMA)["description"]
    assert named(name, description), f"the meta-schema's description does not name {name!r}"
    assert named(name, WRITING_A_SPEC.read_text("utf-8")), f"writing-a-spec.md misses {name!r}"


@pytest.mark.parametrize("name", sorted(TESTS))
def test_the_meta_schema_and_the_guide_name_every_test_of_ours(name: str) -> None:
    description = load_schema(PROVIDER_SPEC_SCHEMA)["description"]
    assert named(name, description) and named(name, WRITING_A_SPEC.read_text("utf-8"))


def field_names(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every property the meta-schema lets a spec set, with where it is."""
    if isinstance(node, dict):
        for name, value in (node.get("properties") or {}).items():
            yield f"{path}.{name}".lstrip("."), name
            yield from field_names(value, f"{path}.{name}")
        for key, value in node.items():
            if key == "$defs":
                for definition, item in value.items():
                    yield from field_names(item, f"$defs.{definition}")
            elif key in ("items", "additionalProperties", "then", "else"):
                yield from field_names(value, path)
            elif key in ("oneOf", "anyOf", "allOf"):
                for item in value:
                    yield from field_names(item, path)


FIELDS = sorted(set(field_names(load_schema(PROVIDER_SPEC_SCHEMA))))


@pytest.mark.parametrize(("where", "name"), FIELDS, ids=[where for where, _ in FIELDS])
def test_the_guide_documents_every_field_of_the_meta_schema(where: str, name: str) -> None:
    assert f"`{name}`" in WRITING_A_SPEC.read_text("utf-8"), f"document {where}"
