"""A fake Telegram Bot API server on 127.0.0.1 for end-to-end tests with the real aiogram client.

It keeps chats, messages and an update queue like the real server: `getUpdates` long-polls and
drops updates below `offset`; sent messages get ids per chat; buttons can be pressed by label.
Failures can be scripted per method (429 with retry_after, 403, 500, timeouts) and rate limits
can be enforced (30 messages/s overall, 1/s per chat) with 429s, as Telegram does.
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

BOT_ID = 700000001
SENDING = {"sendMessage", "sendDocument", "sendPhoto"}


@dataclass
class SentMessage:
    chat_id: int
    message_id: int
    text: str
    markup: dict[str, Any] | None
    edits: list[str] = field(default_factory=list)
    reply_to: int | None = None  # reply_parameters.message_id: a thread in a group chat

    @property
    def buttons(self) -> list[dict[str, Any]]:
        if not self.markup:
            return []
        return [b for row in self.markup.get("inline_keyboard", []) for b in row]

    def labels(self) -> list[str]:
        return [b["text"] for b in self.buttons]


@dataclass
class Failure:
    status: int
    description: str
    retry_after: int | None = None
    delay: float = 0.0  # seconds to stall before answering (timeouts)
    chat_id: int | None = None


class FakeTelegram:
    def __init__(self, token: str = "123456:TEST-token_abcdef") -> None:
        self.token = token
        self.updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1000)
        self._message_ids: dict[int, itertools.count[int]] = defaultdict(lambda: itertools.count(1))
        self.messages: dict[tuple[int, int], SentMessage] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.callback_answers: list[dict[str, Any]] = []
        self.documents: list[tuple[int, str, bytes, str]] = []  # chat, file name, bytes, caption
        self.failures: dict[str, deque[Failure]] = defaultdict(deque)
        self.blocked: set[int] = set()
        self.webhook: dict[str, Any] = {}
        self.global_rate: float | None = None
        self.chat_rate: float | None = None
        self._sent_times: deque[float] = deque()
        self._chat_last: dict[int, float] = {}
        self.rate_limited = 0
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # --- lifecycle ----------------------------------------------------------------------

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._dispatch)
        return app

    async def start(self) -> FakeTelegram:
        self._runner = web.AppRunner(self._app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- scripting ----------------------------------------------------------------------

    def fail(self, method: str, status: int, description: str = "", *, times: int = 1, **kw: Any) -> None:
        for _ in range(times):
            self.failures[method].append(Failure(status, description or f"Error {status}", **kw))

    def enforce_limits(self, *, per_second: float = 30, per_chat_per_second: float = 1) -> None:
        self.global_rate, self.chat_rate = per_second, per_chat_per_second

    def _user(self, user_id: int, name: str = "Анна") -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": name}

    def _push(self, update: dict[str, Any]) -> int:
        update_id = next(self._update_ids)
        update["update_id"] = update_id
        self.updates.append(update)
        self._notify()
        return update_id

    def push_raw(self, update: dict[str, Any]) -> int:
        """Queue an update as given (it may be one the client cannot parse); returns its id."""
        return self._push(update)

    def push_text(self, chat_id: int, text: str) -> int:
        message: dict[str, Any] = {
            "message_id": next(self._message_ids[chat_id]),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            "from": self._user(chat_id),
            "text": text,
        }
        if text.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        return self._push({"message": message})

    def push_sticker(self, chat_id: int) -> int:
        sticker = {
            "file_id": "CAAC", "file_unique_id": "u1", "type": "regular", "width": 512,
            "height": 512, "is_animated": False, "is_video": False,
        }  # fmt: skip
        return self._push(
            {
                "message": {
                    "message_id": next(self._message_ids[chat_id]),
                    "date": int(time.time()),
                    "chat": {"id": chat_id, "type": "private"},
                    "from": self._user(chat_id),
                    "sticker": sticker,
                }
            }
        )

    def push_callback(self, chat_id: int, message_id: int, data: str, *, user_id: int | None = None) -> int:
        """A press in `chat_id`; by `user_id` in a group chat (negative id) when given."""
        stored = self.messages.get((chat_id, message_id))
        chat_type = "private" if user_id is None else "supergroup"
        message = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": chat_type},
            "from": {"id": BOT_ID, "is_bot": True, "first_name": "Otklik"},
            "text": stored.text if stored else "…",
        }
        return self._push(
            {
                "callback_query": {
                    "id": f"cb{next(self._update_ids)}",
                    "from": self._user(chat_id if user_id is None else user_id),
                    "chat_instance": str(chat_id),
                    "message": message,
                    "data": data,
                }
            }
        )

    def press(
        self, chat_id: int, label: str, message: SentMessage | None = None, *, user_id: int | None = None
    ) -> int:
        """Press the button with this label on the latest message that has it (by `user_id` in
        a group chat)."""
        target = message or self.last_with_buttons(chat_id)
        assert target is not None, f"no message with buttons in chat {chat_id}"
        for button in target.buttons:
            if button["text"] == label:
                return self.push_callback(
                    chat_id, target.message_id, button["callback_data"], user_id=user_id
                )
        raise AssertionError(f"no button {label!r} in {target.labels()}")

    # --- inspection ---------------------------------------------------------------------

    def chat(self, chat_id: int) -> list[SentMessage]:
        return [m for (c, _), m in sorted(self.messages.items()) if c == chat_id]

    def texts(self, chat_id: int) -> list[str]:
        return [m.text for m in self.chat(chat_id)]

    def last_with_buttons(self, chat_id: int) -> SentMessage | None:
        live = [m for m in self.chat(chat_id) if m.buttons]
        return live[-1] if live else None

    def pending(self) -> int:
        return len(self.updates)

    async def wait_for(self, predicate: Any, timeout: float = 10.0) -> None:
        async def until() -> None:
            async with self._changed:
                await self._changed.wait_for(predicate)

        await asyncio.wait_for(until(), timeout)

    async def wait_idle(self, timeout: float = 10.0) -> None:
        """Every pushed update acknowledged by a later getUpdates offset."""
        await self.wait_for(lambda: not self.updates, timeout)

    def _notify(self) -> None:
        async def notify() -> None:
            async with self._changed:
                self._changed.notify_all()

        with contextlib.suppress(RuntimeError):  # no loop: nobody can be waiting
            asyncio.get_running_loop().create_task(notify())

    # --- the API ------------------------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        params = await _params(request)
        self.calls.append((method, params))
        queued = self.failures.get(method)
        if queued:
            chat = params.get("chat_id")
            for failure in list(queued):
                if failure.chat_id is None or failure.chat_id == chat:
                    queued.remove(failure)
                    if failure.delay:
                        await asyncio.sleep(failure.delay)
                    return _error(failure.status, failure.description, failure.retry_after)
        handler = getattr(self, f"api_{method}", None)
        if handler is None:
            return _error(404, "Not Found: method not found")
        try:
            result = await handler(params)
        except _ApiError as exc:
            return _error(exc.status, exc.description, exc.retry_after)
        finally:
            self._notify()
        return web.json_response({"ok": True, "result": result})

    async def api_getMe(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"id": BOT_ID, "is_bot": True, "first_name": "Otklik", "username": "otklik_test_bot"}

    async def api_deleteWebhook(self, params: dict[str, Any]) -> bool:
        self.webhook = {}
        return True

    async def api_setWebhook(self, params: dict[str, Any]) -> bool:
        self.webhook = params
        return True

    async def api_getUpdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset", 0) or 0)
        if offset:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
            self._notify()
        limit = int(params.get("limit", 100) or 100)
        timeout = min(float(params.get("timeout", 0) or 0), 1.0)  # short: tests stay fast
        if not self.updates and timeout:
            try:
                async with self._changed:
                    await asyncio.wait_for(self._changed.wait_for(lambda: bool(self.updates)), timeout)
            except TimeoutError:
                pass
        return self.updates[:limit]

    def _check_limits(self, chat_id: int) -> None:
        if chat_id in self.blocked:
            raise _ApiError(403, "Forbidden: bot was blocked by the user")
        now = time.monotonic()
        if self.chat_rate is not None:
            last = self._chat_last.get(chat_id)
            if last is not None and now - last < 1.0 / self.chat_rate:
                self.rate_limited += 1
                raise _ApiError(429, "Too Many Requests: retry after 1", retry_after=1)
        if self.global_rate is not None:
            while self._sent_times and now - self._sent_times[0] >= 1.0:
                self._sent_times.popleft()
            if len(self._sent_times) >= self.global_rate:
                self.rate_limited += 1
                raise _ApiError(429, "Too Many Requests: retry after 1", retry_after=1)
            self._sent_times.append(now)
        self._chat_last[chat_id] = now

    async def api_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        text = str(params.get("text", ""))
        if not text:
            raise _ApiError(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            raise _ApiError(400, "Bad Request: message is too long")
        self._check_limits(chat_id)
        markup = params.get("reply_markup")
        for button in (b for row in (markup or {}).get("inline_keyboard", []) for b in row):
            if len(button.get("callback_data", "").encode()) > 64:
                raise _ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
        reply = params.get("reply_parameters") or {}
        reply_to = int(reply["message_id"]) if "message_id" in reply else None
        if (
            reply_to is not None
            and (chat_id, reply_to) not in self.messages
            and not reply.get("allow_sending_without_reply")
        ):
            raise _ApiError(400, "Bad Request: message to be replied not found")
        message_id = next(self._message_ids[chat_id])
        self.messages[(chat_id, message_id)] = SentMessage(
            chat_id, message_id, text, markup, reply_to=reply_to
        )
        return self._message_json(chat_id, message_id, text, markup)

    async def api_sendDocument(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        self._check_limits(chat_id)
        uploaded = next((v for v in params.values() if isinstance(v, tuple)), ("", b""))
        self.documents.append((chat_id, uploaded[0], uploaded[1], str(params.get("caption", ""))))
        message_id = next(self._message_ids[chat_id])
        caption = str(params.get("caption", ""))
        self.messages[(chat_id, message_id)] = SentMessage(chat_id, message_id, caption, None)
        return self._message_json(chat_id, message_id, caption, None) | {
            "document": {"file_id": "doc", "file_unique_id": "doc1"}
        }

    def _message_json(
        self, chat_id: int, message_id: int, text: str, markup: dict[str, Any] | None
    ) -> dict[str, Any]:
        data: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            "from": {"id": BOT_ID, "is_bot": True, "first_name": "Otklik"},
            "text": text,
        }
        if markup:
            data["reply_markup"] = markup
        return data

    def _stored(self, params: dict[str, Any]) -> SentMessage:
        key = (int(params["chat_id"]), int(params["message_id"]))
        if key not in self.messages:
            raise _ApiError(400, "Bad Request: message to edit not found")
        return self.messages[key]

    async def api_editMessageText(self, params: dict[str, Any]) -> dict[str, Any]:
        stored = self._stored(params)
        text = str(params.get("text", ""))
        markup = params.get("reply_markup")
        if text == stored.text and markup == stored.markup:
            raise _ApiError(400, "Bad Request: message is not modified")
        stored.edits.append(stored.text)
        stored.text, stored.markup = text, markup
        return self._message_json(stored.chat_id, stored.message_id, text, markup)

    async def api_editMessageReplyMarkup(self, params: dict[str, Any]) -> dict[str, Any]:
        stored = self._stored(params)
        stored.markup = params.get("reply_markup")
        return self._message_json(stored.chat_id, stored.message_id, stored.text, stored.markup)

    async def api_answerCallbackQuery(self, params: dict[str, Any]) -> bool:
        self.callback_answers.append(params)
        return True


class _ApiError(Exception):
    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status, self.description, self.retry_after = status, description, retry_after


def _error(status: int, description: str, retry_after: int | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return web.json_response(body, status=status)


async def _params(request: web.Request) -> dict[str, Any]:
    if request.content_type == "application/json":
        data = await request.json()
        return dict(data) if isinstance(data, dict) else {}
    form = await request.post() if request.body_exists else request.query
    params: dict[str, Any] = {}
    for key, value in form.items():
        if not isinstance(value, str):  # an uploaded file: keep name and bytes
            params[key] = (value.filename, value.file.read())
            continue
        if key in {"reply_markup", "allowed_updates", "entities", "reply_parameters"}:
            params[key] = json.loads(value)
        else:
            params[key] = value
    return params
