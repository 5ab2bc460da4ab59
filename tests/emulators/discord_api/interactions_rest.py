"""REST handlers for interaction callbacks and interaction webhooks (followups, @original edits)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .errors import under
from .interaction_rules import validate_autocomplete, validate_deferred_flags, validate_modal
from .recording import BodyPart
from .rest import API_PREFIX, body_of, json_object, json_response
from .state import InteractionRecord, StoredMessage
from .world import EPHEMERAL, LOADING, MESSAGE_CHAT_INPUT_COMMAND, MESSAGE_DEFAULT, ApiError, invalid_form

if TYPE_CHECKING:
    from .server import DiscordEmulator

# Interaction types (discord/enums.py InteractionType).
APPLICATION_COMMAND = 2
MESSAGE_COMPONENT = 3
AUTOCOMPLETE = 4
MODAL_SUBMIT = 5

# Callback types (discord/enums.py InteractionResponseType).
CHANNEL_MESSAGE = 4
DEFERRED_CHANNEL_MESSAGE = 5
DEFERRED_UPDATE_MESSAGE = 6
UPDATE_MESSAGE = 7
AUTOCOMPLETE_RESULT = 8
MODAL = 9

# Which callback types Discord accepts for which interaction type.
_ALLOWED_CALLBACKS: dict[int, set[int]] = {
    APPLICATION_COMMAND: {CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, MODAL},
    MESSAGE_COMPONENT: {
        CHANNEL_MESSAGE,
        DEFERRED_CHANNEL_MESSAGE,
        DEFERRED_UPDATE_MESSAGE,
        UPDATE_MESSAGE,
        MODAL,
    },
    AUTOCOMPLETE: {AUTOCOMPLETE_RESULT},
    MODAL_SUBMIT: {CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE_MESSAGE, UPDATE_MESSAGE},
}


def _truthy(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true")


# A callback type's handler: (interaction, callback type, data, files) -> the message it made or edited.
_Responder = Callable[[InteractionRecord, int, dict[str, Any], list[BodyPart]], StoredMessage | None]


def _callback_type(body: dict[str, Any], record: InteractionRecord) -> int:
    """Return the callback's type: 400 50035 if missing, or not one the interaction's type accepts."""
    try:
        ctype = int(body["type"])
    except (KeyError, TypeError, ValueError) as exc:
        raise invalid_form("type", "BASE_TYPE_REQUIRED", "This field is required") from exc
    if ctype not in _ALLOWED_CALLBACKS.get(record.type, set()):
        raise invalid_form(
            "type", "INTERACTION_CALLBACK_TYPE_INVALID", "Interaction callback type is invalid"
        )
    return ctype


def _callback_response(
    record: InteractionRecord, ctype: int, message: StoredMessage | None
) -> dict[str, Any]:
    """Return the callback's ``with_response`` body: the interaction and the resource the response made."""
    interaction: dict[str, Any] = {"id": str(record.id), "type": record.type}
    response: dict[str, Any] = {"interaction": interaction}
    if message is not None:
        interaction["response_message_id"] = str(message.id)
        interaction["response_message_loading"] = message.loading
        interaction["response_message_ephemeral"] = message.ephemeral
    # The resource's message is "only present if type is either CHANNEL_MESSAGE_WITH_SOURCE or
    # UPDATE_MESSAGE" (developers/interactions/receiving-and-responding.mdx, Interaction Callback
    # Resource Object), and the OpenAPI document's `resource` is one of exactly those two (or
    # LAUNCH_ACTIVITY). Assumption: for the other types (defer, autocomplete, modal) Discord sends no
    # `resource`, as `resource?` allows; discord.py then keeps the type it sent.
    if message is not None and ctype in (CHANNEL_MESSAGE, UPDATE_MESSAGE):
        response["resource"] = {"type": ctype, "message": message.payload}
    return response


class InteractionApi:
    """Route table and handlers for interaction responses, which Discord accepts without a bot token."""

    def __init__(self, emu: DiscordEmulator) -> None:
        self.emu = emu
        self.world = emu.world

    def routes(self) -> list[web.RouteDef]:
        """Return the aiohttp routes this class serves."""
        p = API_PREFIX
        hook = p + "/webhooks/{webhook_id}/{webhook_token}"
        return [
            web.post(p + "/interactions/{interaction_id}/{interaction_token}/callback", self.callback),
            web.post(hook, self.execute),
            web.get(hook + "/messages/{message_id}", self.get_message),
            web.patch(hook + "/messages/{message_id}", self.edit_message),
            web.delete(hook + "/messages/{message_id}", self.delete_message),
        ]

    # -- helpers -----------------------------------------------------------------------------------

    def _by_token(self, request: web.Request) -> InteractionRecord:
        """Return the interaction behind a webhook URL: 404 10015 if unknown, 401 50027 once expired."""
        record = self.world.interactions_by_token.get(request.match_info["webhook_token"])
        if record is None or request.match_info["webhook_id"] != str(self.emu.config.application_id):
            raise ApiError(404, 10015)
        ttl = self.emu.config.interaction_token_ttl
        if ttl is not None and time.monotonic() - record.created_at > ttl:
            # interactions/receiving-and-responding.mdx: "Interaction tokens are valid for 15 minutes".
            # topics/opcodes-and-status-codes.mdx lists 50027 "Invalid webhook token provided"; the status
            # (401) and the wire message "Invalid Webhook Token" are what Discord sends for an expired
            # token (the documents give neither).
            raise ApiError(401, 50027)
        return record

    def _target(self, record: InteractionRecord, raw_id: str) -> StoredMessage:
        """Return @original or a followup of this interaction, or 404 10008."""
        if raw_id == "@original":
            message_id = record.original_message_id
        elif raw_id.isdigit() and int(raw_id) in [*record.followup_ids, record.original_message_id]:
            message_id = int(raw_id)
        else:
            message_id = None
        msg = self.world.messages.get(message_id) if message_id is not None else None
        if msg is None or msg.deleted:
            raise ApiError(404, 10008)
        return msg

    def _new_message(
        self,
        record: InteractionRecord,
        data: dict[str, Any],
        files: list[BodyPart],
        source: str,
        *,
        allow_empty: bool = False,
    ) -> StoredMessage:
        if record.channel_id is None:
            raise ApiError(404, 10003)
        kind = MESSAGE_CHAT_INPUT_COMMAND if record.type == APPLICATION_COMMAND else MESSAGE_DEFAULT
        msg = self.world.build_message(
            record.channel_id,
            data,
            files,
            source=source,
            allow_ephemeral=True,
            interaction=record,
            message_type=kind,
            allow_empty=allow_empty,
        )
        msg.interaction_id = record.id
        return msg

    # -- callback ----------------------------------------------------------------------------------

    async def callback(self, request: web.Request) -> web.Response:
        """POST /interactions/{id}/{token}/callback: the one initial response (types 4-9)."""
        record = self._unanswered(request)
        body = json_object(request)
        files = body_of(request).files
        ctype = _callback_type(body, record)
        data = body.get("data") or {}
        respond = self._responders().get(ctype)
        message = respond(record, ctype, data, files) if respond is not None else None
        record.callback = body
        record.callback_type = ctype
        self.emu.notify()
        if not _truthy(request.query.get("with_response")):
            return web.Response(status=204)
        return json_response(_callback_response(record, ctype, message))

    def _unanswered(self, request: web.Request) -> InteractionRecord:
        """Return the interaction a callback URL names: 404 10062 if unknown or expired, 400 40060 if done."""
        raw_id = request.match_info["interaction_id"]
        record = self.world.interactions.get(int(raw_id)) if raw_id.isdigit() else None
        if record is None or record.token != request.match_info["interaction_token"]:
            raise ApiError(404, 10062)
        if record.callback is not None:
            raise ApiError(400, 40060)
        timeout = self.emu.config.interaction_ack_timeout
        if timeout is not None and time.monotonic() - record.created_at > timeout:
            # Discord invalidates the token of an interaction not answered within 3 s.
            raise ApiError(404, 10062)
        return record

    def _responders(self) -> dict[int, _Responder]:
        """Return the handler of each callback type; each returns the message the response made or edited."""
        return {
            CHANNEL_MESSAGE: self._reply,
            DEFERRED_CHANNEL_MESSAGE: self._defer,
            DEFERRED_UPDATE_MESSAGE: self._update,
            UPDATE_MESSAGE: self._update,
            AUTOCOMPLETE_RESULT: self._autocomplete,
            MODAL: self._modal,
        }

    def _reply(
        self, record: InteractionRecord, ctype: int, data: dict[str, Any], files: list[BodyPart]
    ) -> StoredMessage:
        """Post the response message (type 4)."""
        try:
            message = self._new_message(record, data, files, "interaction")
        except ApiError as exc:
            # The message is the callback's `data`, so Discord reports its fields under "data".
            raise under("data", exc) from exc
        record.original_message_id = message.id
        record.completed = True
        self.world.add_message(message)
        return message

    def _defer(
        self, record: InteractionRecord, ctype: int, data: dict[str, Any], files: list[BodyPart]
    ) -> StoredMessage:
        """Post the "thinking" placeholder (type 5)."""
        if record.channel_id is None:
            raise ApiError(404, 10003)
        # The "thinking" placeholder: empty, LOADING flag, ephemeral if the defer asked for it.
        flags = validate_deferred_flags(data) & EPHEMERAL
        message = self._new_message(record, {"flags": flags}, [], "interaction", allow_empty=True)
        message.payload["flags"] = flags | LOADING
        message.loading = True
        record.original_message_id = message.id
        self.world.add_message(message)
        return message

    def _update(
        self, record: InteractionRecord, ctype: int, data: dict[str, Any], files: list[BodyPart]
    ) -> StoredMessage:
        """Acknowledge a component and edit its message now (type 7) or later (type 6)."""
        target = self.world.messages.get(record.component_message_id or 0)
        if target is None or target.deleted:
            raise ApiError(404, 10008)
        record.original_message_id = target.id
        if ctype == UPDATE_MESSAGE:
            try:
                self.world.edit_message(target, data, files)
            except ApiError as exc:
                raise under("data", exc) from exc
            record.completed = True
        return target

    def _autocomplete(
        self, record: InteractionRecord, ctype: int, data: dict[str, Any], files: list[BodyPart]
    ) -> None:
        """Store the autocomplete choices (type 8)."""
        record.choices = validate_autocomplete(data)
        record.completed = True

    def _modal(
        self, record: InteractionRecord, ctype: int, data: dict[str, Any], files: list[BodyPart]
    ) -> None:
        """Store the modal shown (type 9)."""
        validate_modal(data)
        record.modal = data
        record.completed = True

    # -- webhook messages --------------------------------------------------------------------------

    async def execute(self, request: web.Request) -> web.Response:
        """POST /webhooks/{app}/{token}: a followup; after a defer the first one fills the loading message."""
        record = self._by_token(request)
        if record.callback is None:
            raise ApiError(404, 10015)
        body = json_object(request)
        files = body_of(request).files
        original = self.world.messages.get(record.original_message_id or 0)
        filling = original is not None and original.loading and not original.deleted
        if original is not None and filling and record.callback_type == DEFERRED_CHANNEL_MESSAGE:
            # Discord: the first followup after a deferred response replaces the "thinking" message and
            # keeps the ephemeral choice made at defer time; later followups are independent. Once the
            # "thinking" message was deleted there is nothing to replace: the followup is a new message
            # with its own flags (assumption: RR "Create Followup Message" does not cover this case).
            body = {k: v for k, v in body.items() if k != "flags"}
            self.world.edit_message(original, body, files)
            msg = original
        else:
            msg = self._new_message(record, body, files, "followup")
            record.followup_ids.append(msg.id)
            self.world.add_message(msg)
        if record.callback_type in (DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE_MESSAGE):
            record.completed = True
        self.emu.notify()
        if not _truthy(request.query.get("wait")):
            return web.Response(status=204)
        return json_response(msg.payload)

    async def get_message(self, request: web.Request) -> web.Response:
        """GET @original or a followup."""
        record = self._by_token(request)
        return json_response(self._target(record, request.match_info["message_id"]).payload)

    async def edit_message(self, request: web.Request) -> web.Response:
        """PATCH @original or a followup; completes a deferred response."""
        record = self._by_token(request)
        msg = self._target(record, request.match_info["message_id"])
        self.world.edit_message(msg, json_object(request), body_of(request).files)
        if msg.id == record.original_message_id:
            record.completed = True
        self.emu.notify()
        return json_response(msg.payload)

    async def delete_message(self, request: web.Request) -> web.Response:
        """DELETE @original or a followup: 204."""
        record = self._by_token(request)
        msg = self._target(record, request.match_info["message_id"])
        self.world.delete_message(msg)
        self.emu.notify()
        return web.Response(status=204)
