"""A fake MAX Bot API server on 127.0.0.1, written from the Bot API documentation (dev.max.ru/docs-api).

Documented behaviour it models:

- Authorisation: the bot token in the `Authorization` header or the `access_token` query parameter;
  a missing or wrong token is 401 `{"code": "verify.token", "message": "Invalid access_token"}`.
- Errors: the HTTP status with a JSON body `{"code": <key>, "message": <text>}`; 429 when the
  number of requests is exceeded (the documented ceiling is 30 requests per second).
- GET /me: the bot (`user_id`, `first_name`, `username`, `is_bot`).
- GET /updates with `limit` (1..1000, default 100), `timeout` (0..90 s, default 30), `marker` and
  `types` (comma-separated): long polling. Every update has a sequence number; the `marker` in
  the answer points at the next expected update, and passing it confirms everything before it.
  Without `marker` the bot gets the updates after the last confirmed one.
- POST /messages?user_id=…|chat_id=…: NewMessageBody (`text` up to 4000 characters,
  `attachments` with an `inline_keyboard` of `callback` buttons: text 1..128 characters, payload
  up to 1024 characters, at most 7 buttons a row, 30 rows, 210 buttons); answers `{"message":
  Message}` with `body.mid`.
- PUT /messages?message_id=…: edits text and attachments (`null` keeps them, `[]` removes them);
  answers SimpleQueryResult `{"success": true}`.
- POST /answers?callback_id=…: CallbackAnswer (`notification` and/or `message`); a `message`
  (NewMessageBody) replaces the pressed message, as PUT /messages does.
- Updates `message_created`, `message_callback` (with `callback.callback_id`, `callback.payload`,
  `callback.user` and the pressed `message`), `bot_started` (with the deep-link `payload`, up to
  512 characters) and `bot_stopped`.

Not documented but reported by bot authors and modelled here: a message to a user who blocked
the bot is refused with 403 `{"code": "chat.denied", "message": "Key: error.dialog.suspended"}`.
A `Retry-After` header on 429 is not promised by the documentation; scripted failures may add one.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

BOT_ID = 800000001
BOT_USERNAME = "otklik_test_bot"
TOKEN = "max-test-token-f00dfacecafe0123456789"
MAX_TEXT = 4000
MAX_LABEL = 128
MAX_PAYLOAD = 1024
MAX_PER_ROW = 7
MAX_ROWS = 30
MAX_BUTTONS = 210
MAX_START_PAYLOAD = 512


@dataclass
class Sent:
    mid: str
    user_id: int | None
    chat_id: int | None
    text: str
    attachments: list[dict[str, Any]]
    edits: list[str] = field(default_factory=list)

    @property
    def buttons(self) -> list[dict[str, Any]]:
        found = []
        for attachment in self.attachments:
            if attachment.get("type") == "inline_keyboard":
                found += [b for row in attachment["payload"]["buttons"] for b in row]
        return found

    def labels(self) -> list[str]:
        return [b["text"] for b in self.buttons]


@dataclass
class Failure:
    status: int
    code: str
    message: str
    retry_after: str | None = None


class FakeMax:
    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.updates: list[tuple[int, dict[str, Any]]] = []  # (sequence number, update)
        self._seq = itertools.count(1)
        self.confirmed = 0  # updates with a lower sequence number are never sent again
        self._mids = itertools.count(1)
        self._callbacks = itertools.count(1)
        self.sent: dict[str, Sent] = {}
        self.answers: list[dict[str, Any]] = []
        self._pressed: dict[str, str] = {}  # callback id -> the message whose button was pressed
        self.calls: list[tuple[str, dict[str, str], Any]] = []  # (method path, query, body)
        self.auth_seen: list[str] = []  # how each call authorised: "header" or "query"
        self.failures: dict[str, deque[Failure]] = defaultdict(deque)
        self.blocked: set[int] = set()
        self.rps: float | None = None  # enforce a rate limit (429 above it) when set
        self._times: deque[float] = deque()
        self.rate_limited = 0
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # --- lifecycle ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/me", self._me)
        app.router.add_get("/updates", self._get_updates)
        app.router.add_post("/messages", self._post_message)
        app.router.add_put("/messages", self._put_message)
        app.router.add_post("/answers", self._answer)
        # A poll the client gave up on (a restart) ends with it, as on the real server, and
        # stopping the fake never waits for open long polls.
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # --- scripting ----------------------------------------------------------------------

    def fail(
        self, route: str, status: int, code: str, message: str = "", retry_after: str | None = None
    ) -> None:
        """The next call of `route` (e.g. "POST /messages") answers with this error."""
        self.failures[route].append(Failure(status, code, message or code, retry_after))

    async def push(self, update: dict[str, Any]) -> int:
        async with self._changed:
            seq = next(self._seq)
            self.updates.append((seq, update))
            self._changed.notify_all()
        return seq

    async def user_writes(self, user_id: int, text: str, *, first_name: str = "Иван") -> str:
        mid = f"in.{next(self._mids)}"
        await self.push(
            {
                "update_type": "message_created",
                "timestamp": _now_ms(),
                "message": {
                    "sender": _user(user_id, first_name),
                    "recipient": {"chat_id": _dialog_id(user_id), "chat_type": "dialog", "user_id": BOT_ID},
                    "timestamp": _now_ms(),
                    "body": {"mid": mid, "seq": 1, "text": text, "attachments": None},
                },
                "user_locale": "ru",
            }
        )
        return mid

    async def user_presses(self, user_id: int, label: str, *, message: Sent | None = None) -> str:
        """Press the button with `label` on `message` (default: the latest one sent to the user)."""
        message = message or self.last_to(user_id)
        button = next(b for b in message.buttons if b["text"] == label)
        return await self.press_payload(user_id, button["payload"], message=message)

    async def press_payload(self, user_id: int, payload: str, *, message: Sent | None = None) -> str:
        callback_id = f"cb.{next(self._callbacks)}"
        if message is not None:
            self._pressed[callback_id] = message.mid
        await self.push(
            {
                "update_type": "message_callback",
                "timestamp": _now_ms(),
                "callback": {
                    "timestamp": _now_ms(),
                    "callback_id": callback_id,
                    "payload": payload,
                    "user": _user(user_id, "Иван"),
                },
                "message": None if message is None else self._as_message(message),
                "user_locale": "ru",
            }
        )
        return callback_id

    async def bot_started(self, user_id: int, payload: str | None = None) -> None:
        update: dict[str, Any] = {
            "update_type": "bot_started",
            "timestamp": _now_ms(),
            "chat_id": _dialog_id(user_id),
            "user": _user(user_id, "Иван"),
            "user_locale": "ru",
        }
        # Longer deep-link payloads are documented to be dropped, not cut.
        if payload is not None and len(payload) <= MAX_START_PAYLOAD:
            update["payload"] = payload
        await self.push(update)

    async def bot_stopped(self, user_id: int) -> None:
        self.blocked.add(user_id)
        await self.push(
            {
                "update_type": "bot_stopped",
                "timestamp": _now_ms(),
                "chat_id": _dialog_id(user_id),
                "user": _user(user_id, "Иван"),
            }
        )

    # --- inspection ---------------------------------------------------------------------

    async def settled(self, timeout: float = 10.0) -> None:
        """Wait until every update pushed so far is confirmed: the bot asked for the updates after it."""
        target = self.updates[-1][0] + 1 if self.updates else 0
        deadline = time.monotonic() + timeout
        while self.confirmed < target:
            if time.monotonic() > deadline:
                raise TimeoutError(f"updates up to {target - 1} not confirmed (confirmed {self.confirmed})")
            await asyncio.sleep(0.01)

    def messages_to(self, user_id: int) -> list[Sent]:
        return [m for m in self.sent.values() if m.user_id == user_id]

    def last_to(self, user_id: int) -> Sent:
        return self.messages_to(user_id)[-1]

    def calls_of(self, route: str) -> list[tuple[dict[str, str], Any]]:
        return [(q, b) for r, q, b in self.calls if r == route]

    # --- the API ------------------------------------------------------------------------

    async def _enter(self, request: web.Request) -> tuple[str, Any] | web.Response:
        route = f"{request.method} {request.path}"
        body: Any = None
        if request.can_read_body:
            try:
                body = json.loads(await request.text())
            except ValueError:
                return _error(400, "proto.payload", "Invalid JSON")
        self.calls.append((route, dict(request.query), body))
        header = request.headers.get("Authorization")
        query = request.query.get("access_token")
        if header == self.token:
            self.auth_seen.append("header")
        elif query == self.token:
            self.auth_seen.append("query")
        else:
            return _error(401, "verify.token", "Invalid access_token")
        if self.failures[route]:
            failure = self.failures[route].popleft()
            headers = {"Retry-After": failure.retry_after} if failure.retry_after is not None else None
            return _error(failure.status, failure.code, failure.message, headers)
        if self.rps is not None and route != "GET /updates":
            now = time.monotonic()
            while self._times and now - self._times[0] > 1.0:
                self._times.popleft()
            if len(self._times) >= self.rps:
                self.rate_limited += 1
                return _error(429, "too.many.requests", "Too many requests")
            self._times.append(now)
        return route, body

    async def _me(self, request: web.Request) -> web.Response:
        entered = await self._enter(request)
        if isinstance(entered, web.Response):
            return entered
        bot = {"user_id": BOT_ID, "first_name": "Отклик", "username": BOT_USERNAME, "is_bot": True}
        return web.json_response({**bot, "last_activity_time": _now_ms(), "name": "Отклик"})

    async def _get_updates(self, request: web.Request) -> web.Response:
        entered = await self._enter(request)
        if isinstance(entered, web.Response):
            return entered
        try:
            limit = int(request.query.get("limit", "100"))
            timeout = int(request.query.get("timeout", "30"))
            raw_marker = request.query.get("marker")
            marker = int(raw_marker) if raw_marker not in (None, "", "null") else None
        except ValueError:
            return _error(400, "proto.payload", "Invalid query parameter")
        if not 1 <= limit <= 1000 or not 0 <= timeout <= 90:
            return _error(400, "proto.payload", "limit must be 1..1000, timeout 0..90")
        types = {t for t in request.query.get("types", "").split(",") if t}
        if marker is not None:
            self.confirmed = max(self.confirmed, marker)

        def pending() -> list[tuple[int, dict[str, Any]]]:
            return [
                (seq, u)
                for seq, u in self.updates
                if seq >= self.confirmed and (not types or u["update_type"] in types)
            ]

        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait_for(lambda: bool(pending())), timeout)
            batch = pending()[:limit]
        next_marker = batch[-1][0] + 1 if batch else max(self.confirmed, 1)
        return web.json_response({"updates": [u for _, u in batch], "marker": next_marker})

    async def _post_message(self, request: web.Request) -> web.Response:
        entered = await self._enter(request)
        if isinstance(entered, web.Response):
            return entered
        _, body = entered
        user_id = _int(request.query.get("user_id"))
        chat_id = _int(request.query.get("chat_id"))
        if (user_id is None) == (chat_id is None):
            return _error(400, "proto.payload", "Either user_id or chat_id is required")
        problem = _invalid_body(body)
        if problem:
            return _error(400, "proto.payload", problem)
        if user_id is not None and user_id in self.blocked:
            return _error(403, "chat.denied", f"Key: error.dialog.suspended, args: [{user_id},].")
        mid = f"mid.{next(self._mids):016x}"
        sent = Sent(mid, user_id, chat_id, body.get("text") or "", list(body.get("attachments") or []))
        self.sent[mid] = sent
        return web.json_response({"message": self._as_message(sent)})

    async def _put_message(self, request: web.Request) -> web.Response:
        entered = await self._enter(request)
        if isinstance(entered, web.Response):
            return entered
        _, body = entered
        sent = self.sent.get(request.query.get("message_id", ""))
        if sent is None:
            return _error(404, "not.found", "Message not found")
        problem = _invalid_body(body)
        if problem:
            return _error(400, "proto.payload", problem)
        if body.get("text") is not None:
            sent.edits.append(sent.text)
            sent.text = body["text"]
        if body.get("attachments") is not None:
            sent.attachments = list(body["attachments"])
        return web.json_response({"success": True})

    async def _answer(self, request: web.Request) -> web.Response:
        entered = await self._enter(request)
        if isinstance(entered, web.Response):
            return entered
        _, body = entered
        callback_id = request.query.get("callback_id", "")
        if not callback_id.strip():
            return _error(400, "proto.payload", "callback_id is required")
        if not isinstance(body, dict) or (body.get("message") is None and body.get("notification") is None):
            return _error(400, "proto.payload", "Either message or notification is required")
        replacement = body.get("message")
        if replacement is not None:
            problem = _invalid_body(replacement)
            if problem:
                return _error(400, "proto.payload", problem)
            sent = self.sent.get(self._pressed.get(callback_id, ""))
            if sent is not None:
                if replacement.get("text") is not None:
                    sent.edits.append(sent.text)
                    sent.text = replacement["text"]
                if replacement.get("attachments") is not None:
                    sent.attachments = list(replacement["attachments"])
        self.answers.append({"callback_id": callback_id, **body})
        return web.json_response({"success": True})

    def _as_message(self, sent: Sent) -> dict[str, Any]:
        recipient = (
            {"chat_id": _dialog_id(sent.user_id), "chat_type": "dialog", "user_id": sent.user_id}
            if sent.user_id is not None
            else {"chat_id": sent.chat_id, "chat_type": "chat", "user_id": None}
        )
        return {
            "sender": {"user_id": BOT_ID, "first_name": "Отклик", "username": BOT_USERNAME, "is_bot": True},
            "recipient": recipient,
            "timestamp": _now_ms(),
            "body": {"mid": sent.mid, "seq": 1, "text": sent.text, "attachments": sent.attachments},
        }


def _invalid_body(body: Any) -> str | None:
    """Why a NewMessageBody breaks the documented limits (None when it does not)."""
    if not isinstance(body, dict):
        return "Body must be a NewMessageBody object"
    text = body.get("text")
    if text is not None and (not isinstance(text, str) or len(text) > MAX_TEXT):
        return f"text: must be a string of at most {MAX_TEXT} characters"
    for attachment in body.get("attachments") or []:
        if attachment.get("type") != "inline_keyboard":
            continue
        rows = (attachment.get("payload") or {}).get("buttons")
        if not isinstance(rows, list) or not rows:
            return "inline_keyboard: buttons must be a non-empty array of rows"
        if len(rows) > MAX_ROWS or sum(len(r) for r in rows) > MAX_BUTTONS:
            return f"inline_keyboard: at most {MAX_ROWS} rows and {MAX_BUTTONS} buttons"
        for row in rows:
            if not row or len(row) > MAX_PER_ROW:
                return f"inline_keyboard: 1..{MAX_PER_ROW} buttons a row"
            for button in row:
                label = button.get("text")
                if not isinstance(label, str) or not 1 <= len(label) <= MAX_LABEL:
                    return f"button.text: 1..{MAX_LABEL} characters"
                if button.get("type") == "callback":
                    payload = button.get("payload")
                    if not isinstance(payload, str) or len(payload) > MAX_PAYLOAD:
                        return f"button.payload: at most {MAX_PAYLOAD} characters"
                if button.get("intent", "default") not in ("positive", "negative", "default"):
                    return "button.intent: positive, negative or default"
    return None


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"code": code, "message": message}, status=status, headers=headers)


def _user(user_id: int, first_name: str) -> dict[str, Any]:
    return {
        "user_id": user_id,
        "first_name": first_name,
        "last_name": None,
        "username": None,
        "is_bot": False,
        "last_activity_time": _now_ms(),
        "name": first_name,
    }


def _dialog_id(user_id: int | None) -> int:
    return -(user_id or 0) - 1_000_000  # dialogs have their own chat ids, distinct from user ids


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _now_ms() -> int:
    return int(time.time() * 1000)
