"""How the pages read their forms: checked as the API checks its bodies (a 422 naming the field),
and the few plain-text shapes a person types (lines, "name: value" fields)."""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import HTTPException
from pydantic import BaseModel, ValidationError

Body = TypeVar("Body", bound=BaseModel)


def validated(model: type[Body], **values: Any) -> Body:
    """A form's values checked as the API checks its body; 422 naming the first field wrong."""
    try:
        return model.model_validate(values)
    except ValidationError as error:
        problem = error.errors()[0]
        where = ".".join(str(part) for part in problem["loc"])
        raise HTTPException(422, detail=f"{where}: {problem['msg']}") from None


def lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def read_fields(text: str) -> dict[str, str]:
    """`name: value` a line → the contact's fields; 422 naming a line without its colon."""
    values = {}
    for number, line in enumerate(lines(text), start=1):
        field, colon, value = line.partition(":")
        if not colon or not field.strip():
            raise HTTPException(422, detail=f"fields: line {number} is not 'name: value'")
        values[field.strip()] = value.strip()
    return values
