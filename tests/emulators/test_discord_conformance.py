"""The OpenAPI conformance check: it flags what does not fit Discord's document and passes what does.

Every body here is synthetic (made up for the test); the document is the vendored spec/openapi.json.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from tests.emulators.discord_api import DiscordEmulator
from tests.emulators.discord_api.conformance import NOT_IN_SPEC, check_requests
from tests.emulators.discord_api.conformance.errata import CORRECTIONS
from tests.emulators.discord_api.conformance.spec import SPEC_PATH, load_spec, route_index
from tests.emulators.discord_api.payloads import stored_components, user_payload
from tests.emulators.discord_api.recording import RecordedPart, RecordedRequest
from tests.emulators.discord_api.state import ALERTS_CHANNEL_ID, MEMBER_ID, UserConfig

CHANNEL = "/channels/1190000000000001101/messages"


def _record(
    method: str,
    path: str,
    body: Any = None,
    *,
    status: int = 200,
    response: Any = None,
    raw_response: bytes | None = None,
    parts: list[RecordedPart] | None = None,
    content_type: str = "application/json",
    faked: bool = False,
) -> RecordedRequest:
    """Build a synthetic recorded request as the emulator's middleware would."""
    headers = {"Content-Type": content_type} if body is not None or parts else {}
    if raw_response is None:
        raw_response = b"" if response is None else json.dumps(response).encode()
    return RecordedRequest(
        method=method,
        path=path,
        route=None,
        query={},
        headers=headers,
        has_authorization=True,
        json=body,
        parts=parts or [],
        at=0.0,
        status=status,
        injected=faked,
        response_body=raw_response,
        response_faked=faked,
    )


def _user(**changes: Any) -> dict[str, Any]:
    payload = user_payload(UserConfig(id=MEMBER_ID, username="bob"))
    payload.update(changes)
    return payload


def _message(**changes: Any) -> dict[str, Any]:
    """Return a synthetic message object with every key the document requires."""
    payload: dict[str, Any] = {
        "id": "1190000000000009001",
        "type": 0,
        "channel_id": str(ALERTS_CHANNEL_ID),
        "content": "synthetic",
        "author": _user(),
        "embeds": [],
        "attachments": [],
        "components": [],
        "mentions": [],
        "mention_roles": [],
        "mention_everyone": False,
        "pinned": False,
        "tts": False,
        "timestamp": "2026-01-13T00:00:00+00:00",
        "edited_timestamp": None,
        "flags": 0,
    }
    payload.update(changes)
    return payload


def _details(records: list[RecordedRequest]) -> list[str]:
    return [str(m) for m in check_requests(records).mismatches]


def test_a_request_and_an_answer_that_fit_the_document_pass() -> None:
    report = check_requests(
        [_record("POST", CHANNEL, {"content": "hi", "embeds": [{"title": "t"}]}, response=_message())]
    )
    assert report.mismatches == [] and report.requests == 1
    assert report.routes == {"POST /channels/{channel_id}/messages"}


def test_a_request_field_of_the_wrong_type_is_flagged() -> None:
    [mismatch] = check_requests([_record("POST", CHANNEL, {"content": 5}, response=_message())]).mismatches
    assert mismatch.kind == "request" and mismatch.route == "POST /channels/{channel_id}/messages"
    assert "$.content" in mismatch.detail and "is not of type" in mismatch.detail


def test_an_unknown_route_is_flagged() -> None:
    [mismatch] = check_requests([_record("GET", "/channels/1/nonsense", status=404)]).mismatches
    assert mismatch.kind == "route" and "no such path" in mismatch.detail
    # A known path with a method the document lacks says which methods it has.
    [wrong] = check_requests([_record("PUT", "/users/@me/channels", {}, status=405)]).mismatches
    assert wrong.kind == "route" and "only POST" in wrong.detail


def test_a_response_missing_a_required_field_is_flagged() -> None:
    user = _user()
    del user["username"]
    [mismatch] = check_requests([_record("GET", f"/users/{MEMBER_ID}", response=user)]).mismatches
    assert mismatch.kind == "response" and "'username' is a required property" in mismatch.detail


def test_an_error_body_without_its_code_is_flagged_and_one_with_it_passes() -> None:
    bad = _record("GET", "/channels/1", status=404, response={"message": "Unknown Channel"})
    good = _record("GET", "/channels/1", status=404, response={"message": "Unknown Channel", "code": 10003})
    assert ["'code' is a required property" in d for d in _details([bad])] == [True]
    assert _details([good]) == []


def test_a_status_the_operation_does_not_document_is_flagged_unless_a_fault_faked_it() -> None:
    real = _record("GET", "/gateway", status=500, raw_response=b"<html>oops</html>")
    faked = _record("GET", "/gateway", status=500, raw_response=b"<html>oops</html>", faked=True)
    assert ["status 500 is not among the documented responses" in d for d in _details([real])] == [True]
    report = check_requests([faked])
    assert report.mismatches == [] and report.faked_responses == 1


def test_a_faked_answer_still_has_its_request_checked() -> None:
    faked = _record("POST", CHANNEL, {"content": 5}, status=503, raw_response=b"down", faked=True)
    assert [m.kind for m in check_requests([faked]).mismatches] == ["request"]


def test_an_int_snowflake_is_allowed_in_requests_only_when_it_would_match_as_a_string() -> None:
    dm = {"id": "1190000000000009002", "type": 1, "flags": 0, "recipients": [_user()]}
    ok = _record("POST", "/users/@me/channels", {"recipient_id": MEMBER_ID}, response=dm)
    assert _details([ok]) == []
    for bad in (-5, 1.5, True, "12ab"):
        record = _record("POST", "/users/@me/channels", {"recipient_id": bad}, response=dm)
        assert [m.kind for m in check_requests([record]).mismatches] == ["request"], bad
    # Answers must carry strings, as Discord's do.
    [mismatch] = check_requests(
        [_record("GET", f"/users/{MEMBER_ID}", response=_user(id=MEMBER_ID))]
    ).mismatches
    assert mismatch.kind == "response" and "$.id" in mismatch.detail


def test_multipart_payload_json_is_validated_with_its_files() -> None:
    parts = [
        RecordedPart("payload_json", None, "application/json", b'{"content": 7}'),
        RecordedPart("files[0]", "chart.png", "image/png", b"\x89PNG synthetic"),
    ]
    record = _record(
        "POST",
        CHANNEL,
        {"content": 7},
        parts=parts,
        content_type="multipart/form-data; boundary=x",
        response=_message(),
    )
    [mismatch] = check_requests([record]).mismatches
    assert mismatch.kind == "request" and "$.content" in mismatch.detail
    good = _record(
        "POST",
        CHANNEL,
        {"content": "ok", "attachments": [{"id": 0, "filename": "chart.png"}]},
        parts=[parts[1]],
        content_type="multipart/form-data; boundary=x",
        response=_message(),
    )
    assert _details([good]) == []


def test_literal_segments_win_over_parameters() -> None:
    index = route_index()
    assert index.match("GET", "/users/@me").template == "/users/@me"  # type: ignore[union-attr]
    assert index.match("GET", "/users/42").template == "/users/{user_id}"  # type: ignore[union-attr]
    original = index.match("PATCH", "/webhooks/1/tok/messages/@original")
    assert original is not None and original.template.endswith("/messages/@original")
    assert index.match("GET", "/channels/1/messages/2/extra") is None


def test_components_get_sequential_ids_that_skip_ids_already_used() -> None:
    emoji = {"id": None, "name": "◀"}  # what discord.py sends for a unicode emoji
    rows = [
        {
            "type": 1,
            "components": [{"type": 2, "custom_id": "a", "style": 1, "emoji": emoji}, {"type": 2, "id": 2}],
        },
        {"type": 1, "id": 0, "components": [{"type": 3, "custom_id": "b", "options": [{"emoji": emoji}]}]},
    ]
    numbered = stored_components(rows)
    ids = [numbered[0]["id"], *(c["id"] for c in numbered[0]["components"]), numbered[1]["id"]]
    assert ids == [1, 3, 2, 4] and numbered[1]["components"][0]["id"] == 5
    assert numbered[0]["components"][0]["emoji"] == {"name": "◀"}
    assert numbered[1]["components"][0]["options"][0]["emoji"] == {"name": "◀"}
    assert "id" not in rows[0] and emoji == {"id": None, "name": "◀"}  # the bot's body is left as it was


def test_every_correction_targets_a_node_of_the_vendored_document() -> None:
    raw = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    for correction in CORRECTIONS:
        node: Any = raw
        for token in correction.pointer.strip("/").split("/"):
            node = node[int(token)] if isinstance(node, list) else node[token]
        assert node != correction.schema and correction.source.startswith("developers/")
    assert load_spec() is load_spec()  # parsed and corrected once per process


def test_the_gateway_upgrade_is_listed_not_flagged() -> None:
    report = check_requests([_record("GET", "/", status=101)])
    assert report.mismatches == [] and report.routes == set() and "GET /" in NOT_IN_SPEC


@pytest.mark.discord_invalid_requests  # bad on purpose: the emulator must refuse them
async def test_the_fixture_records_what_the_checker_needs(discord_emu: DiscordEmulator) -> None:
    url = f"{discord_emu.api_base}/channels/{ALERTS_CHANNEL_ID}/messages"
    headers = {"Authorization": f"Bot {discord_emu.config.token}"}
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json={"content": "ok"}, headers=headers) as resp:
            assert resp.status == 200
        async with session.post(url, json={"embeds": [{"title": "t" * 300}]}, headers=headers) as resp:
            assert resp.status == 400
    report = check_requests(discord_emu.requests)
    assert [m.kind for m in report.mismatches] == ["request"]
    assert report.routes == {"POST /channels/{channel_id}/messages"}
    expected = check_requests(discord_emu.requests, invalid_requests_expected=True)
    assert expected.mismatches == [] and [m.kind for m in expected.expected] == ["request"]


def test_only_accepted_requests_need_the_accepted_reason() -> None:
    accepted = _record("POST", CHANNEL, {"content": 5}, response=_message())
    assert [m.kind for m in check_requests([accepted], invalid_requests_expected=True).mismatches] == [
        "request"
    ]
    both = check_requests([accepted], invalid_requests_expected=True, even_accepted=True)
    assert both.mismatches == [] and len(both.expected) == 1
    # An answer that does not fit is never expected.
    user = _user()
    del user["username"]
    wrong_answer = _record("GET", f"/users/{MEMBER_ID}", response=user)
    kinds = check_requests([wrong_answer], invalid_requests_expected=True, even_accepted=True).mismatches
    assert [m.kind for m in kinds] == ["response"]
