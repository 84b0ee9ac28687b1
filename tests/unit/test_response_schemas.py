"""`majlis.http.responds` and the schemas it puts in an OpenAPI document."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from majlis.http import Page, responds
from majlis.http.responses import add_schema, response_model


class ItemOut(BaseModel):
    """An item."""

    id: int
    name: str | None


async def handler() -> None:
    """A handler without a declared answer."""


def test_a_declared_page_lands_under_a_valid_name_with_its_items() -> None:
    @responds(Page[ItemOut])
    async def listing() -> None:
        """A page of items."""

    model = response_model(listing)
    assert model is not None
    assert response_model(handler) is None
    schemas: dict[str, Any] = {}
    assert add_schema(model, schemas) == {"$ref": "#/components/schemas/PageItemOut"}
    page = schemas["PageItemOut"]
    assert set(page["required"]) == {"items", "next_cursor"}
    assert page["properties"]["items"]["items"] == {"$ref": "#/components/schemas/ItemOut"}
    assert schemas["ItemOut"]["properties"]["name"]["anyOf"][1] == {"type": "null"}
    add_schema(model, schemas)  # the same schema again is fine


def test_two_different_schemas_under_one_name_are_refused() -> None:
    class Other(BaseModel):
        id: str

    Other.__name__ = "ItemOut"
    schemas: dict[str, Any] = {}
    add_schema(ItemOut, schemas)
    with pytest.raises(ValueError, match="ItemOut"):
        add_schema(Other, schemas)
