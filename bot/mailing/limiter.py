"""A rate limiter for outgoing messages: evenly spaced slots overall, and per chat.

Telegram allows about 30 messages per second overall (up to 1000 with paid broadcasts) and one
per second to a chat. Slots are spaced `1 / rate` apart (slightly more: `safety_margin`), so
the server never sees a burst; a 429 pushes every later slot past its `retry_after`.

On top of the spacing, a sliding window of the last `burst` send times is a hard guarantee: a
send is issued only when the send `burst` places earlier is at least `window` seconds old, so no
window of that length ever holds more than `burst` sends, whatever the event loop does (a late
wake-up, a GC pause, CPU contention). After a stall the schedule restarts from the present
instead of catching up, so a stall never turns into a burst.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

_TRACKED_CHATS = 100_000


class RateLimiter:
    def __init__(
        self,
        per_second: float,
        per_chat_per_second: float = 1.0,
        *,
        safety_margin: float = 0.02,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if per_second <= 0 or per_chat_per_second <= 0:
            raise ValueError("rates must be positive")
        self.interval = (1.0 / per_second) * (1.0 + safety_margin)
        self.chat_interval = (1.0 / per_chat_per_second) * (1.0 + safety_margin)
        # At most `burst` sends in any `window` seconds (the server counts per second).
        self.burst = max(1, math.floor(per_second))
        self.window = 1.0 + safety_margin
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0
        self._issued: deque[float] = deque(maxlen=self.burst)
        self._chat_next: OrderedDict[str, float] = OrderedDict()
        self.waits_for_429 = 0

    @property
    def per_second(self) -> float:
        return 1.0 / self.interval

    def _ready(self, chat: str | None) -> float:
        ready = self._next
        if len(self._issued) == self.burst:
            ready = max(ready, self._issued[0] + self.window)
        if chat is not None:
            ready = max(ready, self._chat_next.get(chat, 0.0))
        return ready

    async def acquire(self, chat: str | None = None) -> None:
        """Wait for the next free slot (and for the chat's own slot); the send is issued now."""
        while True:
            now = self._clock()
            ready = self._ready(chat)
            if ready <= now:
                break
            await self._sleep(ready - now)
        # Woken a little late (event-loop latency, typically well under a millisecond): keep the
        # schedule so the rate does not drift down. Later than half a slot is a stall: start
        # afresh from now, no catch-up. The window above bounds every case anyway.
        base = self._next if 0 <= now - self._next < self.interval / 2 else max(now, self._next)
        self._next = base + self.interval
        self._issued.append(now)
        if chat is not None:
            self._chat_next[chat] = now + self.chat_interval
            self._chat_next.move_to_end(chat)
            while len(self._chat_next) > _TRACKED_CHATS:
                self._chat_next.popitem(last=False)

    def back_off(self, seconds: float, chat: str | None = None) -> None:
        """The server answered 429: no slot before `seconds` from now (for that chat, or all)."""
        self.waits_for_429 += 1
        until = self._clock() + max(0.0, seconds)
        if chat is not None:
            self._chat_next[chat] = max(self._chat_next.get(chat, 0.0), until)
        self._next = max(self._next, until)
