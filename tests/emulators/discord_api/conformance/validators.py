"""JSON Schema 2020-12 validators for the document's schemas, built lazily and cached per process."""

from __future__ import annotations

import functools
import json
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
    registry: Registry[Any] = Registry().with_resource(SPEC_URI, resource).crawl()
    return registry


def _allows_int_snowflake(schema: dict[str, Any], instance: Any) -> bool:
    """Return whether an int stands where SnowflakeType wants a string and would match it as a string.

    The one documented leniency: discord.py 2.7.1 serialises snowflakes it holds as Python ints
    (seen in this suite: `recipient_id` of POST /users/@me/channels, `allowed_mentions.roles/users`,
    `attachments[].id`, which is the file's index, 0 for the first)
    as JSON integers, where the document's SnowflakeType is a string with pattern ^(0|[1-9][0-9]*)$.
    Discord accepts them (every discord.py bot sends them so); the documents only say snowflakes "are
    always returned as strings" (developers/reference.mdx, Snowflakes). So: an int (not a bool) whose
    decimal form matches the pattern, and only in requests; answers must carry strings, as Discord's do.
    """
    if schema.get("format") != "snowflake" or isinstance(instance, bool) or not isinstance(instance, int):
        return False
    pattern = schema.get("pattern")
    return isinstance(pattern, str) and re.search(pattern, str(instance)) is not None


_BASE = Draft202012Validator.VALIDATORS


def _type_with_int_snowflakes(
    validator: Validator, types: Any, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    if _allows_int_snowflake(schema, instance):
        return
    yield from _BASE["type"](validator, types, instance, schema)


def _matching_branches(validator: Validator, branches: list[Any], instance: Any, stop_at: int) -> int:
    """Count the branches the instance is valid under, stopping once `stop_at` are found."""
    found = 0
    for branch in branches:
        if validator.evolve(schema=branch).is_valid(instance):
            found += 1
            if found == stop_at:
                break
    return found


def _fast_one_of(
    validator: Validator, branches: list[Any], instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    # jsonschema's oneOf collects every error of every branch tried before the one that fits; with the
    # document's nested unions (message components, command options) that made a check take 0.3 s per
    # request. is_valid stops at a branch's first error; the full errors are only built on failure,
    # by jsonschema's own keyword, so the verdicts and messages are unchanged.
    if _matching_branches(validator, branches, instance, stop_at=2) != 1:
        yield from _BASE["oneOf"](validator, branches, instance, schema)


def _fast_any_of(
    validator: Validator, branches: list[Any], instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    # As _fast_one_of: the first fitting branch is enough; details only when none fits.
    if not _matching_branches(validator, branches, instance, stop_at=1):
        yield from _BASE["anyOf"](validator, branches, instance, schema)


@functools.cache
def _lookup(ref: str) -> Any:
    """Resolve a `$ref` of the document once (every ref in it is absolute or `#/...` in the one file)."""
    return _registry().resolver(base_uri=SPEC_URI).lookup(ref)


# (validator class, ref, canonical JSON of an object) found valid before: validation is a pure
# function of those, so the answer stands. It is what keeps the suite fast: every test syncs the same
# command tree, whose options (no ids in them) then need checking only once per session.
_VALID: set[tuple[type, str, str]] = set()


def _cached_ref(
    validator: Validator, ref: str, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    # What jsonschema's `$ref` does (look up, then descend with the target's resolver), with the
    # lookup cached: the document has no `$id` or `$dynamicRef`, so a ref always means the same node.
    key = (type(validator), ref, json.dumps(instance, sort_keys=True)) if isinstance(instance, dict) else None
    if key is not None and key in _VALID:
        return
    resolved = _lookup(ref)
    valid = True
    for error in validator.descend(instance, resolved.contents, resolver=resolved.resolver):
        valid = False
        yield error
    if valid and key is not None:
        _VALID.add(key)


_FAST = {"oneOf": _fast_one_of, "anyOf": _fast_any_of, "$ref": _cached_ref}

#: Draft 2020-12 for the emulator's answers (unions checked without building errors that are dropped).
ResponseValidator = extend(Draft202012Validator, _FAST)

#: The same with the int-snowflake leniency, for request bodies only.
RequestValidator = extend(Draft202012Validator, {**_FAST, "type": _type_with_int_snowflakes})


@functools.cache
def validator_at(pointer: str, *, request: bool) -> Validator:
    """Return a (cached) validator for the schema at a JSON pointer into the document."""
    cls = RequestValidator if request else ResponseValidator
    schema = {"$ref": f"{SPEC_URI}#{pointer}"}
    validator: Validator = cls(schema, registry=_registry())
    return validator
