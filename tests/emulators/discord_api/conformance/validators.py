"""JSON Schema 2020-12 validators for the document's schemas, built lazily and cached per process."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from jsonschema.protocols import Validator
from jsonschema.validators import extend
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from .spec import load_spec

SPEC_URI = "urn:discord:openapi"


@functools.cache
def _registry() -> Registry[Any]:
    """Return a registry holding the whole document, so `#/components/...` refs resolve inside it."""
    resource = Resource.from_contents(load_spec(), default_specification=DRAFT202012)
    return Registry().with_resource(SPEC_URI, resource).crawl()


def _allows_int_snowflake(schema: dict[str, Any], instance: Any) -> bool:
    """Return whether an int stands where SnowflakeType wants a string and would match it as a string.

    The one documented leniency: discord.py 2.7.1 serialises snowflakes it holds as Python ints (e.g.
    `recipient_id` in POST /users/@me/channels, `message_reference.message_id`, `allowed_mentions.users`)
    as JSON integers, where the document's SnowflakeType is a string with pattern ^(0|[1-9][0-9]*)$.
    Discord accepts both (its README, "Spec conventions": int-parseable strings and ints are
    interchangeable). Only that: an int (not a bool) whose decimal form matches the snowflake pattern,
    and only in requests; responses from the emulator must carry strings as Discord's do.
    """
    if schema.get("format") != "snowflake" or isinstance(instance, bool) or not isinstance(instance, int):
        return False
    pattern = schema.get("pattern")
    return isinstance(pattern, str) and re.search(pattern, str(instance)) is not None


_BASE_TYPE = Draft202012Validator.VALIDATORS["type"]


def _type_with_int_snowflakes(
    validator: Validator, types: Any, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    if _allows_int_snowflake(schema, instance):
        return
    yield from _BASE_TYPE(validator, types, instance, schema)


#: Draft 2020-12 with the int-snowflake leniency, for request bodies only.
RequestValidator = extend(Draft202012Validator, {"type": _type_with_int_snowflakes})


@functools.cache
def validator_at(pointer: str, *, request: bool) -> Validator:
    """Return a (cached) validator for the schema at a JSON pointer into the document."""
    cls = RequestValidator if request else Draft202012Validator
    schema = {"$ref": f"{SPEC_URI}#{pointer}"}
    validator: Validator = cls(schema, registry=_registry())
    return validator
