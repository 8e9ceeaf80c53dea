"""VK events in, conversation results out, and the Bots Long Poll loop with a persisted `ts`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import requests
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError

from bot.core import numbered, texts
from bot.core.conversation import Commands, Conversation, utcnow
from bot.core.dead_letters import DeadLetters, describe, raw_json
from bot.core.messages import Button, Incoming, Message, Result
from bot.errors import UsageError
from bot.runtime.metrics import Metrics, UpdateOutcome
from bot.vk import render
from bot.vk.api import UNREACHABLE_CODES, VkClient, VkError
from bot.vk.staff import VkStaff
from storage import repository as repo
from storage.store import Storage

log = logging.getLogger(__name__)

CHANNEL = "vk"
VK_COMMANDS = Commands(start="«Начать»", stop="«стоп»")
START_COMMAND = "start"  # payload {"command": "start"} of VK's own «Начать» button
BATCH_ATTEMPTS = 3  # a batch that cannot be taken apart (no ts, …) is tried this often, then skipped
CHATS_FROM = 2_000_000_000  # peer ids of group chats start here
REMEMBERED_PEERS = 10_000  # last keyboard message per peer, kept in memory only
# A client without inline keyboards reads whole lists as numbered text: no paging.
NUMBERED_PAGE_SIZE = 1000


@dataclass(frozen=True)
class LongPollServer:
    server: str
    key: str
    ts: str


class VkChannel:
    def __init__(
        self,
        client: VkClient,
        conversation: Conversation,
        storage: Storage,
        group_id: int,
        *,
        wait: int = 25,
        backoff: float = 1.0,
        clock: Callable[[], datetime] = utcnow,
        on_handled: Callable[[], None] | None = None,
        staff: VkStaff | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.client = client
        self.metrics = metrics or Metrics()
        self.conversation = conversation
        self.storage = storage
        self.group_id = group_id
        self.wait = wait
        self.backoff = backoff
        self.clock = clock
        self.on_handled = on_handled  # health reporting: a batch was handled
        self.staff = staff
        # An event that fails for a reason other than an outage is kept here and skipped.
        self.dead_letters = DeadLetters(
            storage, CHANNEL, str(group_id), clock=clock,
            on_kept=lambda: self.metrics.update(CHANNEL, UpdateOutcome.DEAD_LETTER),
        )  # fmt: skip
        self.state_key = f"vk:{group_id}:ts"
        # The last message with buttons per peer: a typed answer turns it into the echo.
        self._last_keyboard: dict[int, int] = {}
        # Peers whose VK client has no callback buttons: they get text buttons with a payload.
        self._text_buttons: set[int] = set()
        # Peers whose VK client shows no inline keyboard at all: options are listed with numbers
        # in the text, and the numbered buttons of the last such message are kept so that a typed
        # number presses one, as in the console (in memory, and in channel_state for a restart).
        self._numbered: set[int] = set()
        self._choices: dict[int, tuple[str, list[Button]]] = {}

    # --- the long-poll loop ------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until `stop` is set; events that arrived while the service was down come first."""
        session = self.client.new_session()
        try:
            server = await self._first_server(stop)
            if server is None:
                return
            stored = await self.load_ts()
            ts = stored or server.ts
            if stored is None:  # first start: from now on nothing that arrives is missed
                await self.save_ts(ts)
            log.info("VK: long poll of community %s from ts %s", self.group_id, ts)
            failures = outage = 0
            while not stop.is_set():
                try:
                    response = await self._poll(session, server, ts, stop)
                except (requests.RequestException, ValueError) as exc:
                    outage += 1
                    log.warning("VK long poll: %s; retrying", exc)
                    await _sleep(stop, self.pause(outage))
                    continue
                outage = 0
                if response is None:  # stopped
                    break
                try:
                    failed = response.get("failed")
                    if failed == 1:  # history outdated or partly lost: go on from the given ts
                        ts = str(response["ts"])
                        await self.save_ts(ts)
                    elif failed == 2:  # the key expired: a new key, the same ts
                        server = await self.get_server()
                    elif failed is not None:  # 3: key and ts lost: start from the server's ts
                        log.warning("VK long poll: failed=%s, events may be lost; new key and ts", failed)
                        server = await self.get_server()
                        ts = server.ts
                        await self.save_ts(ts)
                    else:
                        await self.handle_batch(list(response.get("updates") or []))
                        failures = 0
                        ts = str(response["ts"])
                        await self.save_ts(ts)
                        if self.on_handled is not None:
                            self.on_handled()
                except Exception as exc:
                    failures += 1
                    # A broken event is given up after a few attempts; an unreachable database or
                    # VK API is waited for, however long it takes: those events are not lost.
                    broken = "ts" in response and "failed" not in response and not transient(exc)
                    if broken and failures >= BATCH_ATTEMPTS:
                        log.exception("VK: a batch failed %d times; skipping it", failures)
                        failures = 0
                        ts = str(response["ts"])
                        with contextlib.suppress(Exception):
                            await self.save_ts(ts)
                    else:
                        log.exception("VK: handling failed (attempt %d); retrying", failures)
                        await _sleep(stop, self.pause(failures))
        finally:
            session.close()

    def pause(self, attempt: int) -> float:
        """Backoff before retry number `attempt` (1, 2, …): doubling, at most a minute."""
        return float(min(self.backoff * 2 ** min(attempt - 1, 10), 60.0))

    async def _first_server(self, stop: asyncio.Event) -> LongPollServer | None:
        attempt = 0
        while not stop.is_set():
            try:
                return await self.get_server()
            except VkError as exc:
                if exc.code < 0:  # network trouble: wait and try again
                    attempt += 1
                    log.warning("VK: %s; retrying", exc)
                    await _sleep(stop, self.pause(attempt))
                    continue
                raise UsageError(
                    f"ВКонтакте: не удалось подключиться к Long Poll сообщества {self.group_id} "
                    f"(ошибка {exc.code}: {exc.message}). Проверьте токен сообщества, group_id и что "
                    "в настройках сообщества включен Long Poll API с событиями сообщений."
                ) from None
        return None

    async def get_server(self) -> LongPollServer:
        data = await self.client.call("groups.getLongPollServer", {"group_id": self.group_id})
        return LongPollServer(server=str(data["server"]), key=str(data["key"]), ts=str(data["ts"]))

    async def load_ts(self) -> str | None:
        async with self.storage.transaction() as conn:
            return await repo.get_state(conn, self.state_key)

    async def save_ts(self, ts: str) -> None:
        async with self.storage.transaction() as conn:
            await repo.set_state(conn, self.state_key, ts, self.clock())

    async def _poll(
        self, session: requests.Session, server: LongPollServer, ts: str, stop: asyncio.Event
    ) -> dict[str, Any] | None:
        """One a_check request in a daemon thread; None when `stop` is set first."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[dict[str, Any]] = loop.create_future()
        params: dict[str, str | int] = {"act": "a_check", "key": server.key, "ts": ts, "wait": self.wait}

        def settle(value: Any, error: BaseException | None) -> None:
            if future.done():
                return
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(value)

        def work() -> None:
            value: Any = None
            error: BaseException | None = None
            try:
                response = session.get(server.server, params=params, timeout=self.wait + 10)
                response.raise_for_status()
                value = response.json()
                if not isinstance(value, dict):
                    raise ValueError(f"unexpected long-poll answer: {value!r}")
            except BaseException as exc:
                error = exc
            with contextlib.suppress(RuntimeError):  # the loop is gone: the service stopped
                loop.call_soon_threadsafe(settle, value, error)

        # A daemon thread: a long poll in flight never delays the shutdown.
        threading.Thread(target=work, name="vk-longpoll", daemon=True).start()
        stopper: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
        waiting: set[asyncio.Future[Any]] = {future, stopper}
        try:
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
        if not future.done():
            future.cancel()
            return None
        return future.result()

    # --- events -------------------------------------------------------------------------------

    async def handle_batch(self, updates: list[Any]) -> None:
        """Events of one person in order, of different people concurrently.

        Each event is handled on its own: one that fails for a reason other than an outage goes
        to the dead letters and the others are handled. An outage (database, network) is raised,
        so the batch is tried again; events already handled are recognised by their ids.
        """
        by_peer: dict[str, list[Any]] = {}
        for update in updates:
            by_peer.setdefault(_peer_key(update), []).append(update)

        async def serial(items: list[Any]) -> Exception | None:
            first: Exception | None = None
            for item in items:
                began = time.monotonic()
                try:
                    await self.handle_update(item)
                except Exception as exc:
                    if transient(exc):  # the person's later events still get their turn
                        if isinstance(exc, SQLAlchemyError):
                            self.metrics.database_error(CHANNEL)
                        first = first or exc
                        continue
                    try:
                        await self.dead_letters.keep(raw_json(item), describe(exc), _event_id(item))
                    except Exception as store_exc:  # the database: the batch is tried again
                        first = first or store_exc
                else:
                    self.metrics.update(CHANNEL, UpdateOutcome.HANDLED, time.monotonic() - began)
            return first

        # (Storage queues SQLite transactions itself; the VK calls of different people overlap.)
        for error in await asyncio.gather(*(serial(items) for items in by_peer.values())):
            if error is not None:
                raise error

    async def handle_update(self, update: dict[str, Any]) -> None:
        if not isinstance(update, dict):
            raise TypeError(f"an event is {type(update).__name__}, not an object")
        kind = update.get("type")
        obj = update.get("object") or {}
        if kind in ("message_new", "message_event", "message_allow", "message_deny") and not isinstance(
            obj, dict
        ):
            raise TypeError(f"event object is {type(obj).__name__}, not an object")
        event_id = update.get("event_id")
        if kind == "message_new":
            await self.on_message(obj, event_id)
        elif kind == "message_event":
            await self.on_callback(obj, event_id)
        elif kind in ("message_allow", "message_deny"):
            await self.on_permission(obj, allowed=kind == "message_allow")

    async def on_message(self, obj: dict[str, Any], event_id: str | None) -> None:
        message: dict[str, Any] = obj.get("message") or obj
        peer = int(message.get("peer_id") or 0)
        sender = int(message.get("from_id") or 0)
        if sender <= 0 or peer != sender or peer >= CHATS_FROM:
            return  # group chats and other communities: the survey is a private conversation
        client_info = obj.get("client_info")
        if isinstance(client_info, dict):
            if "callback" in (client_info.get("button_actions") or ["callback"]):
                self._text_buttons.discard(peer)
            else:
                self._text_buttons.add(peer)
            if client_info.get("inline_keyboard", True) is False:
                self._numbered.add(peer)
            else:
                self._numbered.discard(peer)
                self._choices.pop(peer, None)
        update_id = str(event_id or f"m{message.get('id')}")
        user = str(sender)
        text = str(message.get("text") or "")
        if self.staff is not None and self.staff.wants(text):
            reply = await self.staff.answer(self.storage, sender, text)
            await self.deliver(peer, Result(messages=[Message(reply)]), f"{update_id}:staff")
            return
        raw_payload = message.get("payload")
        pressed = render.parse_payload(raw_payload)
        ref = message.get("ref")
        page_size = NUMBERED_PAGE_SIZE if peer in self._numbered else None
        choices = self._choices.get(peer)
        if choices is None and peer in self._numbered and text.strip().isdigit():
            choices = await self._load_choices(peer)
        chosen = numbered.pick(text, choices[1]) if choices is not None and peer in self._numbered else None
        if ref:  # vk.me/<group>?ref=<key>: the first message of a respondent from a link or QR code
            incoming = Incoming(CHANNEL, user, "start", text=str(ref), update_id=update_id)
        elif pressed is not None:  # a text button of ours (clients without callback buttons)
            token, action, value = pressed
            incoming = Incoming(
                CHANNEL, user, "press", token=token, action=action, value=value, update_id=update_id
            )
        elif _is_start_command(raw_payload):
            incoming = Incoming(CHANNEL, user, "start", update_id=update_id)
        elif raw_payload:
            # A text button from a keyboard this bot no longer understands: its label must not be
            # taken for an answer to the current question.
            notice = Result(messages=[Message(texts.STALE_BUTTON)])
            await self.deliver(peer, notice, update_id)
            return
        elif chosen is not None and choices is not None:  # a number typed for a listed option
            incoming = Incoming(
                CHANNEL, user, "press", token=choices[0], action=chosen.action, value=chosen.value,
                update_id=update_id,
            )  # fmt: skip
        elif text.strip():
            incoming = Incoming(CHANNEL, user, "text", text=text, update_id=update_id)
        else:  # stickers, photos, voice messages, ...
            incoming = Incoming(CHANNEL, user, "unsupported", update_id=update_id)
        if page_size is not None:
            incoming = replace(incoming, page_size=page_size)
        result = await self.conversation.handle(incoming)
        # A text button press (or a typed number) answered only with a notice, such as «Эта кнопка
        # уже неактуальна»: there is no snackbar for a message, so the notice is sent as one.
        if (
            incoming.kind == "press"
            and result.notice
            and result.notice not in {m.text for m in result.messages}
        ):
            result.messages.insert(0, Message(result.notice))
        await self.deliver(peer, result, update_id)

    async def on_callback(self, obj: dict[str, Any], event_id: str | None) -> None:
        user_id = int(obj.get("user_id") or 0)
        peer = int(obj.get("peer_id") or user_id)
        callback_id = str(obj.get("event_id") or "")
        cmid = obj.get("conversation_message_id")
        update_id = str(event_id or f"cb{callback_id}")
        notice: str | None = None
        result: Result | None = None
        try:
            pressed = render.parse_payload(obj.get("payload"))
            if pressed is None or user_id <= 0 or peer >= CHATS_FROM:
                notice = texts.STALE_BUTTON
                return
            token, action, value = pressed
            result = await self.conversation.handle(
                Incoming(
                    CHANNEL, str(user_id), "press", token=token, action=action, value=value,
                    update_id=update_id,
                )
            )  # fmt: skip
            # A notice the messages do not already say: a snackbar, or a message when it is too long.
            if result.notice and result.notice not in {m.text for m in result.messages}:
                if len(result.notice) <= render.MAX_SNACKBAR:
                    notice = result.notice
                else:
                    result.messages.insert(0, Message(result.notice))
        finally:
            # Always answer: the client shows a spinner on the button until it gets an answer.
            await self._answer_callback(callback_id, user_id, peer, notice)
        if result is not None:
            await self.deliver(peer, result, update_id, edit_cmid=int(cmid) if cmid else None)

    async def on_permission(self, obj: dict[str, Any], *, allowed: bool) -> None:
        user_id = str(obj.get("user_id") or "")
        async with self.storage.transaction() as conn:
            respondent = await repo.get_respondent(conn, CHANNEL, user_id)
            if respondent is not None:
                await repo.mark_unreachable(conn, respondent.id, None if allowed else self.clock())

    async def _answer_callback(self, callback_id: str, user_id: int, peer: int, notice: str | None) -> None:
        if not callback_id or user_id <= 0:
            return
        try:
            await self.client.call(
                "messages.sendMessageEventAnswer",
                {
                    "event_id": callback_id,
                    "user_id": user_id,
                    "peer_id": peer,
                    "event_data": render.snackbar(notice) if notice else None,
                },
            )
        except VkError as exc:  # too late (the answer window passed) or similar: nothing to redo
            log.warning("VK: could not answer a button press: %s", exc)

    # --- sending ------------------------------------------------------------------------------

    async def deliver(
        self, peer: int, result: Result, identity: str, *, edit_cmid: int | None = None
    ) -> None:
        """Show a conversation result: edit the answered message, then send the new ones."""
        if result.duplicate:
            return
        # (identity, message): the identity feeds random_id, so it must not depend on edit outcomes.
        outgoing = [(f"{identity}:{index}", message) for index, message in enumerate(result.messages)]
        if edit_cmid is not None:
            if result.answered:  # the pressed (live) message becomes the echo here, not later
                self._last_keyboard.pop(peer, None)
            if result.edit_in_place and outgoing:
                first = outgoing[0][1]
                if await self._edit(peer, first.text, self._keyboard(peer, first), cmid=edit_cmid):
                    outgoing.pop(0)
            elif result.answered and not await self._edit(
                peer, result.answered, render.EMPTY_KEYBOARD, cmid=edit_cmid
            ):
                outgoing.insert(0, (f"{identity}:echo", Message(result.answered)))
        elif result.answered and peer in self._last_keyboard:
            await self._edit(
                peer, result.answered, render.EMPTY_KEYBOARD, message_id=self._last_keyboard.pop(peer)
            )
        for key, message in outgoing:
            try:
                await self.send(peer, message, key)
            except VkError as exc:
                if exc.code in UNREACHABLE_CODES:
                    await self._mark_unreachable(result.respondent_id)
                    log.info("VK: peer %s does not allow messages (error %s)", peer, exc.code)
                else:
                    log.error("VK: could not send to %s: %s", peer, exc)
                return

    async def send(self, peer: int, message: Message, identity: str) -> None:
        text = message.text
        if peer in self._numbered and message.buttons:
            text, choices = numbered.render(message)
            await self._remember_choices(peer, message.token, choices)
        chunks = render.split_text(text)
        markup = None if peer in self._numbered else self._keyboard(peer, message)
        for number, chunk in enumerate(chunks):
            last = number == len(chunks) - 1
            message_id = await self.client.call(
                "messages.send",
                {
                    "peer_id": peer,
                    "message": chunk,
                    "random_id": render.random_id(peer, f"{identity}:{number}"),
                    "keyboard": markup if last else None,
                    "dont_parse_links": 1,
                },
            )
            if last and markup is not None and isinstance(message_id, int):
                self._last_keyboard.pop(peer, None)
                self._last_keyboard[peer] = message_id
                if len(self._last_keyboard) > REMEMBERED_PEERS:  # forget the longest-quiet peer
                    del self._last_keyboard[next(iter(self._last_keyboard))]

    def _choices_key(self, peer: int) -> str:
        return f"vk:{self.group_id}:choices:{peer}"

    async def _remember_choices(self, peer: int, token: str, choices: list[Button]) -> None:
        self._choices.pop(peer, None)
        self._choices[peer] = (token, choices)
        if len(self._choices) > REMEMBERED_PEERS:  # forget the longest-quiet peer
            del self._choices[next(iter(self._choices))]
        data = {"t": token, "b": [[b.label, b.action, b.value] for b in choices]}
        try:
            async with self.storage.transaction() as conn:
                await repo.set_state(
                    conn, self._choices_key(peer), json.dumps(data, ensure_ascii=False), self.clock()
                )
        except (OperationalError, InterfaceError, OSError) as exc:
            # The question still goes out; only a restart before the answer would lose the numbers.
            log.warning("VK: could not store the numbered list for %s: %s", peer, exc)

    async def _load_choices(self, peer: int) -> tuple[str, list[Button]] | None:
        """The last numbered list sent to this peer before a restart, if any."""
        async with self.storage.transaction() as conn:
            raw = await repo.get_state(conn, self._choices_key(peer))
        try:
            data = json.loads(raw) if raw else None
            if not isinstance(data, dict):
                return None
            buttons = [Button(str(label), str(action), str(value)) for label, action, value in data["b"]]
            found = (str(data["t"]), buttons)
        except (ValueError, KeyError, TypeError):  # not ours or damaged: the number is read as text
            return None
        self._choices[peer] = found
        return found

    def _keyboard(self, peer: int, message: Message) -> str | None:
        return render.keyboard(message, callback=peer not in self._text_buttons)

    async def _edit(
        self,
        peer: int,
        text: str,
        markup: str | None,
        *,
        cmid: int | None = None,
        message_id: int | None = None,
    ) -> bool:
        if len(text) > render.MAX_TEXT:
            return False
        try:
            await self.client.call(
                "messages.edit",
                {
                    "peer_id": peer,
                    "conversation_message_id": cmid,
                    "message_id": message_id,
                    "message": text,
                    "keyboard": markup or render.EMPTY_KEYBOARD,
                    "dont_parse_links": 1,
                },
            )
        except VkError as exc:  # e.g. too old to edit: the caller sends a new message instead
            log.info("VK: could not edit a message in %s: %s", peer, exc)
            return False
        return True

    async def _mark_unreachable(self, respondent_id: int | None) -> None:
        if respondent_id is None:
            return
        async with self.storage.transaction() as conn:
            await repo.mark_unreachable(conn, respondent_id, self.clock())


def transient(exc: BaseException) -> bool:
    """Failures that go away by themselves: the database or the network is briefly unreachable."""
    if isinstance(exc, VkError):
        return exc.code < 0
    return isinstance(
        exc, (OperationalError, InterfaceError, OSError, TimeoutError, requests.RequestException)
    )


def _peer_key(update: Any) -> str:
    """Whose event this is, for ordering; events it cannot tell go together under ""."""
    obj = update.get("object") if isinstance(update, dict) else None
    if not isinstance(obj, dict):
        return ""
    message = obj.get("message")
    peer = (message.get("peer_id") if isinstance(message, dict) else None) or obj.get("peer_id")
    peer = peer or obj.get("user_id") or ""
    return str(peer) if isinstance(peer, (int, str)) else ""


def _event_id(update: Any) -> str | None:
    event_id = update.get("event_id") if isinstance(update, dict) else None
    return event_id if isinstance(event_id, str) and event_id else None


def _is_start_command(raw: Any) -> bool:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return False
    return isinstance(raw, dict) and raw.get("command") == START_COMMAND


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
