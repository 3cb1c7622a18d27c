"""The JSON Schemas an event's payload is validated against (schemas/, or inline in a spec): found
offline by `$ref`, checked, and compiled at load with every reference inlined."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any
from urllib.parse import urljoin

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from providers.spec import format_path
from schemas import SCHEMAS_DIR, load_schema, schema_uri

__all__ = ["compile_payload_schema"]

_PERMISSIVE = Draft202012Validator({})


def compile_payload_schema(
    schema: str | dict[str, Any], path: str, problem: Callable[[str, str], None]
) -> tuple[Draft202012Validator, str | None]:
    """The validator of an event's `schema` (a file under schemas/ by name, or inline) and its
    name; every problem goes to `problem(path, message)` and leaves a validator that accepts
    anything (the spec is refused anyway)."""
    registry = _registry()
    name: str | None = None
    if isinstance(schema, str):
        name = schema
        uri = schema_uri(schema)
        try:
            contents = registry.contents(uri)
        except (LookupError, Unresolvable):
            problem(path, f"no schema file schemas/{schema}")
            return _PERMISSIVE, name
    else:
        contents = schema
        uri = str(schema.get("$id", ""))
    try:
        Draft202012Validator.check_schema(contents)
    except SchemaError as exc:
        where = format_path(exc.absolute_path)
        problem(f"{path}{'.' + where if where else ''}", f"not a valid JSON Schema: {exc.message}")
        return _PERMISSIVE, name
    try:
        _check_refs(contents, uri, registry, set())
        inlined = _inline_refs(contents, uri, registry, ())
    except Unresolvable as exc:
        problem(path, f"unresolvable $ref {exc.ref!r}" if hasattr(exc, "ref") else str(exc))
        return _PERMISSIVE, name
    except RecursionError:
        # a recursive schema cannot be inlined; validate it through the registry instead
        return Draft202012Validator(contents, registry=registry), name
    return Draft202012Validator(inlined), name


@lru_cache(maxsize=1)
def _registry() -> Registry[Any]:
    """Every schema under schemas/, by its `$id` and by its path URI, for offline `$ref`s."""
    registry: Registry[Any] = Registry()
    for file in sorted(SCHEMAS_DIR.rglob("*.json")):
        name = file.relative_to(SCHEMAS_DIR).as_posix()
        contents = load_schema(name)
        resource = Resource.from_contents(contents, default_specification=DRAFT202012)
        registry = registry.with_resource(schema_uri(name), resource)
        if isinstance(contents, dict) and isinstance(contents.get("$id"), str):
            registry = registry.with_resource(contents["$id"], resource)
    return registry.crawl()


def _check_refs(schema: Any, base: str, registry: Registry[Any], seen: set[str]) -> None:
    resolver = registry.resolver(base_uri=base)
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                resolver.lookup(ref)  # raises Unresolvable
                target = ref.split("#")[0]
                document = urljoin(base, target) if target else ""
                if document and document not in seen:
                    seen.add(document)
                    _check_refs(registry.contents(document), document, registry, seen)
            stack.extend(v for k, v in node.items() if k not in ("const", "enum", "default"))
        elif isinstance(node, list):
            stack.extend(node)


def _inline_refs(node: Any, base: str, registry: Registry[Any], chain: tuple[str, ...]) -> Any:
    """The schema with every `$ref` replaced by its target, resolved once at load: looking
    references up on every request costs more than the rest of the validation."""
    if isinstance(node, list):
        return [_inline_refs(item, base, registry, chain) for item in node]
    if not isinstance(node, dict):
        return node
    result = {
        key: value
        if key in ("const", "enum", "default", "examples")
        else _inline_refs(value, base, registry, chain)
        for key, value in node.items()
        if key not in ("$ref", "$id", "$schema", "$defs")
    }
    ref = node.get("$ref")
    if not isinstance(ref, str):
        return result
    target_uri = urljoin(base, ref)
    if target_uri in chain:
        raise RecursionError(target_uri)
    resolved = registry.resolver(base_uri=base).lookup(ref)
    document = urljoin(base, ref.split("#")[0]) if ref.split("#")[0] else base
    target = _inline_refs(resolved.contents, document, registry, (*chain, target_uri))
    if isinstance(target, dict) and not set(target) & set(result):
        return {**target, **result}
    return {**result, "allOf": [target, *result.get("allOf", [])]}
