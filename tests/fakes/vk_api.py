"""A fake VK API and Bots Long Poll server on 127.0.0.1 for end-to-end tests of the VK channel.

It speaks just enough of the real protocol: form-encoded POST /method/<name> answering
{"response": ...} or {"error": {...}}, and GET /lp?act=a_check&key=&ts=&wait= answering
{"ts", "updates"} or {"failed": 1|2|3}. Tests push user events and inspect what the bot sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN = "test-community-token"
GROUP_ID = 777
TS_BASE = 1000  # long-poll ts values are strings of numbers that are not list indexes

ERROR_TEXTS = {
    6: "Too many requests per second",
    9: "Flood control",
    10: "Internal server error",
    901: "Can't send messages for users without permission",
    902: "Can't send messages to this user due to their privacy settings",
}


@dataclass
class Sent:
    """A message the bot sent, as the fake stores it (edits change it in place)."""

    id: int
    cmid: int
    peer_id: int
    text: str
    keyboard: dict[str, Any] | None
    random_id: int
    edits: int = 0

    def buttons(self) -> list[dict[str, Any]]:
        if not self.keyboard:
            return []
        return [b["action"] for row in self.keyboard.get("buttons", []) for b in row]

    def labels(self) -> list[str]:
        return [str(b["label"]) for b in self.buttons()]


@dataclass
class FakeVk:
    token: str = TOKEN
    group_id: int = GROUP_ID
    events: list[dict[str, Any]] = field(default_factory=list)
    key: str = "key-1"
    sent: list[Sent] = field(default_factory=list)
    calls: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    polls: list[dict[str, str]] = field(default_factory=list)
    answers: list[dict[str, str]] = field(default_factory=list)  # sendMessageEventAnswer
    method_errors: dict[str, list[int]] = field(default_factory=dict)  # next errors per method
    # Next long-poll `failed` answers, each with an update that arrives just before it.
    lp_failures: list[tuple[int, dict[str, Any] | None]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)  # what real VK would refuse (911, 914)
    lp_http_errors: int = 0  # the next long polls answer HTTP 502 (a proxy in trouble)
    latency: float = 0.0  # seconds every API call takes
    most_in_flight: int = 0  # the most API calls that were being answered at one time
    refuse_peers: dict[int, int] = field(default_factory=dict)  # peer -> error code for messages.send
    closed: bool = False

    def __post_init__(self) -> None:
        self.cond = threading.Condition()
        self._in_flight = 0
        self._ids = itertools.count(1)
        self._cmids: dict[int, itertools.count[int]] = {}
        self._keys = itertools.count(2)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="fake-vk", daemon=True)

    # --- lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeVk:
        self.thread.start()
        return self

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()
        self.httpd.shutdown()
        self.httpd.server_close()

    # --- what tests do -----------------------------------------------------------------------

    @property
    def head(self) -> int:
        """The ts a fully caught-up bot polls with."""
        return TS_BASE + len(self.events)

    def push(self, update: dict[str, Any]) -> None:
        with self.cond:
            update.setdefault("event_id", secrets.token_hex(20))
            update.setdefault("group_id", self.group_id)
            update.setdefault("v", "5.199")
            self.events.append(update)
            self.cond.notify_all()

    def next_cmid(self, peer: int) -> int:
        counter = self._cmids.setdefault(peer, itertools.count(1))
        return next(counter)

    def expire_key(self) -> None:
        """The long-poll key stops working (the bot gets failed=2 until it asks for a new one)."""
        with self.cond:
            self.key = f"key-{next(self._keys)}"
            self.cond.notify_all()

    def fail(self, method: str, *codes: int) -> None:
        with self.cond:
            self.method_errors.setdefault(method, []).extend(codes)

    def calls_of(self, method: str) -> list[dict[str, str]]:
        with self.cond:
            return [params for name, params in self.calls if name == method]

    def messages_to(self, peer: int) -> list[Sent]:
        with self.cond:
            return [m for m in self.sent if m.peer_id == peer]

    async def wait_for(self, predicate: Callable[[], bool], limit: float = 15.0) -> None:
        deadline = time.monotonic() + limit
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError("the bot did not get there in time")
            await asyncio.sleep(0.01)

    async def settled(self, limit: float = 15.0) -> None:
        """Wait until the bot handled every pushed event: it polls again from the head."""
        head, key = self.head, self.key

        def caught_up() -> bool:
            with self.cond:
                return any(int(p.get("ts", "0")) >= head and p.get("key") == key for p in self.polls)

        await self.wait_for(caught_up, limit)

    # --- the API ---------------------------------------------------------------------------------

    def api(self, method: str, params: dict[str, str]) -> dict[str, Any]:
        with self.cond:
            self.calls.append((method, params))
            if params.get("access_token") != self.token:
                return _error(5, "User authorization failed: invalid access_token")
            if not params.get("v"):
                return _error(8, "Invalid request: v is required")
            queued = self.method_errors.get(method)
            if queued:
                code = queued.pop(0)
                return _error(code, ERROR_TEXTS.get(code, "error"))
            handler = getattr(self, "m_" + method.replace(".", "_"), None)
            if handler is None:
                return _error(3, f"Unknown method passed: {method}")
            return {"response": handler(params)}

    def m_groups_getLongPollServer(self, params: dict[str, str]) -> dict[str, Any]:
        assert int(params["group_id"]) == self.group_id
        return {"key": self.key, "server": f"{self.url}/lp", "ts": str(self.head)}

    def m_messages_send(self, params: dict[str, str]) -> Any:
        peer = int(params["peer_id"])
        random_id = int(params["random_id"])
        if peer in self.refuse_peers:
            code = self.refuse_peers[peer]
            raise _ApiFailure(code)
        if len(params["message"]) > 4096:
            self.violations.append(f"914: {len(params['message'])} characters")
            raise _ApiFailure(914, "Message is too long")
        for message in self.sent:  # VK deduplicates by random_id per peer
            if message.peer_id == peer and message.random_id == random_id and random_id != 0:
                return message.id
        keyboard = json.loads(params["keyboard"]) if params.get("keyboard") else None
        self._check_keyboard(keyboard)
        message = Sent(next(self._ids), self.next_cmid(peer), peer, params["message"], keyboard, random_id)
        self.sent.append(message)
        return message.id

    def m_messages_edit(self, params: dict[str, str]) -> int:
        peer = int(params["peer_id"])
        for message in self.sent:
            if message.peer_id != peer:
                continue
            if ("message_id" in params and int(params["message_id"]) == message.id) or (
                "conversation_message_id" in params and int(params["conversation_message_id"]) == message.cmid
            ):
                message.text = params["message"]
                keyboard = json.loads(params["keyboard"]) if params.get("keyboard") else message.keyboard
                self._check_keyboard(keyboard)
                message.keyboard = keyboard
                message.edits += 1
                return 1
        raise _ApiFailure(100, "message not found")

    def _check_keyboard(self, keyboard: dict[str, Any] | None) -> None:
        problem = keyboard_problem(keyboard) if keyboard is not None else None
        if problem:
            self.violations.append(f"911: {problem}")
            raise _ApiFailure(911, "Keyboard format is invalid")

    def m_messages_sendMessageEventAnswer(self, params: dict[str, str]) -> int:
        self.answers.append(params)
        return 1

    # --- long poll -----------------------------------------------------------------------------

    def long_poll(self, params: dict[str, str]) -> dict[str, Any]:
        with self.cond:
            self.polls.append(params)
            if params.get("act") != "a_check":
                return {"failed": 4}
            if self.lp_failures:
                code, arriving = self.lp_failures.pop(0)
                if arriving is not None:
                    self.push(arriving)
                if code == 1:  # history lost: go on from the head
                    return {"failed": 1, "ts": str(self.head)}
                self.key = f"key-{next(self._keys)}"  # 2 and 3: the key no longer works
                return {"failed": code}
            if params.get("key") != self.key:
                return {"failed": 2}
            ts = int(params["ts"])
            if ts > self.head or ts < TS_BASE:
                return {"failed": 3}
            deadline = time.monotonic() + min(float(params.get("wait", "25")), 25.0)
            while self.head <= ts and not self.closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(left)
            return {"ts": str(self.head), "updates": self.events[ts - TS_BASE :]}


class _ApiFailure(Exception):
    def __init__(self, code: int, message: str = "") -> None:
        super().__init__(code)
        self.code = code
        self.message = message or ERROR_TEXTS.get(code, "error")


def _error(code: int, message: str) -> dict[str, Any]:
    return {"error": {"error_code": code, "error_msg": message, "request_params": []}}


def keyboard_problem(keyboard: dict[str, Any]) -> str | None:
    """Why VK would refuse this keyboard (error 911), or None."""
    rows = keyboard.get("buttons", [])
    if keyboard.get("inline") and (len(rows) > 6 or sum(len(r) for r in rows) > 10):
        return f"inline keyboard of {len(rows)} rows, {sum(len(r) for r in rows)} buttons"
    for row in rows:
        if len(row) > 5:
            return f"{len(row)} buttons in a row"
        for button in row:
            action = button["action"]
            if action["type"] not in ("text", "callback", "open_link"):
                return f"button type {action['type']}"
            if not 0 < len(action["label"]) <= 40:
                return f"label {action['label']!r}"
            if action["type"] == "open_link" and not str(action.get("link", "")).startswith("https://"):
                return f"open_link without an https link: {action!r}"
            if len(action.get("payload", "").encode()) > 255:
                return f"payload {action['payload']!r}"
    return None


def _handler(fake: FakeVk) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _params(self) -> dict[str, str]:
            query = parse_qs(urlsplit(self.path).query)
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                query.update(parse_qs(self.rfile.read(length).decode()))
            return {k: v[-1] for k, v in query.items()}

        def _reply(self, body: dict[str, Any]) -> None:
            data = json.dumps(body, ensure_ascii=False).encode()
            # A stopped bot leaves its long poll behind: nobody reads that answer.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.send_response(200)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        def _dispatch(self) -> None:
            path = urlsplit(self.path).path
            params = self._params()
            if path.startswith("/method/"):
                with fake.cond:
                    fake._in_flight += 1
                    fake.most_in_flight = max(fake.most_in_flight, fake._in_flight)
                try:
                    time.sleep(fake.latency)
                    body = fake.api(path.removeprefix("/method/"), params)
                except _ApiFailure as exc:
                    body = _error(exc.code, exc.message)
                finally:
                    with fake.cond:
                        fake._in_flight -= 1
            elif path == "/lp":
                with fake.cond:
                    broken = fake.lp_http_errors > 0
                    fake.lp_http_errors -= int(broken)
                if broken:
                    fake.polls.append(params)
                    self.send_error(502)
                    return
                body = fake.long_poll(params)
            else:
                self.send_error(404)
                return
            self._reply(body)

        do_GET = _dispatch
        do_POST = _dispatch

    return Handler
