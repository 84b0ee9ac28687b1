"""The OpenAPI examples synthesizer on small schemas: each example is the expected value, and
valid against its schema (JSON Schema 2020-12, formats checked)."""

from __future__ import annotations

from typing import Any

import jsonschema_rs
import pytest

from gateway.schema_examples import (
    PLACEHOLDER_ID,
    PLACEHOLDER_TIME,
    Unsupported,
    example_of,
    from_pattern,
)

SCHEMAS: dict[str, Any] = {
    "Contact": {
        "type": "object",
        "additionalProperties": False,
        "required": ["phone"],
        "properties": {
            "phone": {"type": "string", "maxLength": 64},
            "name": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
            "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 200},
            "marketing": {"enum": ["opted_in", "opted_out"], "type": "string"},
            "owner": {"anyOf": [{"$ref": "#/components/schemas/Owner"}, {"type": "null"}]},
        },
    },
    "Owner": {
        "type": "object",
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "email": {"type": "string", "format": "email"},
            "since": {"type": "string", "format": "date-time"},
        },
    },
    "Text": {
        "type": "object",
        "required": ["type", "text"],
        "properties": {"type": {"const": "text"}, "text": {"type": "string", "minLength": 1}},
    },
    "Media": {
        "type": "object",
        "required": ["type", "link"],
        "properties": {"type": {"const": "image"}, "link": {"type": "string", "format": "uri"}},
    },
    "Loop": {"type": "object", "properties": {"next": {"$ref": "#/components/schemas/Loop"}}},
}


def valid(schema: dict[str, Any], example: Any) -> Any:
    """`example`, after checking it against `schema` (its refs resolved in SCHEMAS)."""
    root = {"$ref": "#/$defs/it", "$defs": {"it": schema}, "components": {"schemas": SCHEMAS}}
    validator = jsonschema_rs.Draft202012Validator(root, validate_formats=True)
    errors = [f"{e.instance_path}: {e.message}" for e in validator.iter_errors(example)]
    assert not errors, (example, errors)
    return example


def synth(schema: dict[str, Any], name: str = "") -> Any:
    return valid(schema, example_of(schema, SCHEMAS, name))


def test_refs_enums_null_branches_formats_and_names() -> None:
    assert synth({"$ref": "#/components/schemas/Contact"}) == {
        "phone": "+971501234567",
        "name": "Fatima",
        "tags": ["vip"],
        "marketing": "opted_in",
        "owner": {"id": PLACEHOLDER_ID, "email": "fatima@alnoor.ae", "since": PLACEHOLDER_TIME},
    }


def test_the_schemas_own_values_come_first() -> None:
    assert synth({"type": "string", "example": "hello"}) == "hello"
    assert synth({"type": "string", "examples": ["first", "second"]}) == "first"
    assert synth({"type": "integer", "default": 30, "minimum": 1}) == 30
    assert synth({"const": "BODY", "type": "string"}) == "BODY"
    assert synth({"enum": [None, "b", "c"]}) == "b"
    # An empty or null default says nothing: a value is made instead.
    assert synth({"type": "string", "default": ""}, "description") == "Quotes and new orders"


def test_one_of_takes_the_first_branch_and_its_discriminator_value() -> None:
    schema = {
        "oneOf": [{"$ref": "#/components/schemas/Text"}, {"$ref": "#/components/schemas/Media"}],
        "discriminator": {"propertyName": "type"},
    }
    assert synth(schema) == {"type": "text", "text": "Marhaba! How can we help you today?"}
    assert synth({"anyOf": [{"type": "null"}, {"type": "integer"}]}) == 1
    assert synth({"type": ["null", "boolean"]}) is True
    assert synth({"allOf": [{"$ref": "#/components/schemas/Media"}]}) == {
        "type": "image",
        "link": "https://example.com/majlis",  # the format comes before the name
    }


def test_arrays_have_one_item_or_as_many_as_required() -> None:
    assert synth({"type": "array", "items": {"type": "string", "format": "uuid"}}) == [
        PLACEHOLDER_ID
    ]
    assert synth({"type": "array", "items": {"type": "integer"}, "minItems": 3}) == [1, 1, 1]
    assert synth({"type": "array", "items": {"type": "integer"}, "maxItems": 0}) == []
    unique = {"type": "array", "items": {"enum": ["a", "b", "c"]}, "minItems": 2}
    assert synth({**unique, "uniqueItems": True}) == ["a", "b"]
    pair = {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}]}
    assert synth({**pair, "minItems": 2, "maxItems": 2}) == ["example", 1]


def test_objects_maps_and_limits() -> None:
    assert synth({"type": "object", "additionalProperties": {"type": "integer"}}) == {"key": 1}
    assert synth({"type": "object", "patternProperties": {"^[a-z]{2}$": {"type": "string"}}}) == {
        "aa": "aa"
    }
    assert synth({"type": "object", "additionalProperties": True}) == {}
    limited = {
        "type": "object",
        "maxProperties": 1,
        "required": ["b"],
        "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
    }
    assert synth(limited) == {"b": 1}
    # A model's title picks the value of a generic name.
    assert synth({"title": "TeamCreate", "properties": {"name": {"type": "string"}}}) == {
        "name": "Sales"
    }


def test_strings_honour_patterns_and_lengths() -> None:
    assert synth({"type": "string", "pattern": "^[a-z]{2,3}(_[A-Z]{2})?$"}, "language") == "ar"
    # The name's value does not match: a string is built from the pattern.
    assert synth({"type": "string", "pattern": "^[0-9]{6}$"}, "name") == "000000"
    assert synth({"type": "string", "pattern": "^[A-Z]{3}$"}) == "AAA"
    assert synth({"type": "string", "pattern": r"^[^@\s]+@[^@\s]+\.[^@\s]+$"}) == "a@a.a"
    assert synth({"type": "string", "pattern": "^https://[^\\s/?#]+[^\\s]*$"}, "url") == (
        "https://example.com/majlis"
    )
    assert synth({"type": "string", "minLength": 10}) == "exampleexa"
    assert synth({"type": "string", "maxLength": 3}, "text") == "exa"
    assert synth({"type": "string", "format": "date"}) == "2026-12-04"
    assert synth({"type": "string"}, "conversation_id") == PLACEHOLDER_ID
    assert synth({"type": "string"}, "scheduled_at") == PLACEHOLDER_TIME


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("^[a-z0-9][a-z0-9_-]{0,31}$", "a"),
        ("^(?:ab|cd)+x?$", "ab"),
        (r"^\d{2}\.\w$", "00.a"),
        ("^[!-~]{3}$", "aaa"),
        ("^[^a-z]$", "0"),
        (r"^[\x41-\x43]$", "A"),
    ],
)
def test_from_pattern(pattern: str, expected: str) -> None:
    assert from_pattern(pattern) == expected
    valid({"type": "string", "pattern": pattern}, expected)


def test_numbers_stay_within_bounds() -> None:
    assert synth({"type": "integer", "minimum": 5, "maximum": 9}) == 5
    assert synth({"type": "integer", "maximum": -3}) == -3
    assert synth({"type": "integer", "exclusiveMinimum": 1}) == 2
    assert synth({"type": "number", "exclusiveMinimum": 0, "maximum": 1}) == 1.0
    assert synth({"type": "number", "minimum": 0, "exclusiveMaximum": 1}) == 0.5
    assert synth({"type": "integer", "minimum": 7, "multipleOf": 5}) == 10


def test_what_it_cannot_do_it_says() -> None:
    with pytest.raises(Unsupported):
        example_of({"$ref": "#/components/schemas/Loop"}, SCHEMAS)
    with pytest.raises(Unsupported):
        from_pattern(r"^\p{L}+$")
    with pytest.raises(Unsupported):
        from_pattern("^(ab$")


def test_the_same_schema_gives_the_same_example() -> None:
    schema = {"$ref": "#/components/schemas/Contact"}
    assert example_of(schema, SCHEMAS) == example_of(schema, SCHEMAS)
