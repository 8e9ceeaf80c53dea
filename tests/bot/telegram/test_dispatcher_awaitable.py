"""Every filter and handler of the bot's dispatcher is a coroutine.

aiogram runs synchronous callables (a MagicFilter like `F.text` included) in a worker thread:
one `F.text` cost every text message a thread hop and let other chats' updates overtake it
(bot/telegram/filters.py). This walks the real dispatcher, so a new synchronous filter fails here.
"""

from __future__ import annotations

from pathlib import Path

from aiogram import Bot, Router
from aiogram.filters import Filter

from bot.app import Services, questionnaire_from
from bot.config import Settings
from bot.telegram.runner import build_dispatcher
from storage.store import Storage


def _routers(router: Router) -> list[Router]:
    return [router, *(r for child in router.sub_routers for r in _routers(child))]


async def test_no_filter_or_handler_runs_in_a_thread(tmp_path: Path) -> None:
    settings = Settings(database={"url": f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"})
    storage = await Storage.open(settings.database.url)
    try:
        dispatcher = build_dispatcher(
            Services(settings, storage, questionnaire_from(settings)), Bot("123456:TEST-token")
        )
        checked = []
        for router in _routers(dispatcher):
            for observer in router.observers.values():
                for handler in observer.handlers:
                    callables = [handler, *(handler.filters or [])]
                    for item in callables:
                        name = getattr(item.callback, "__qualname__", repr(item.callback))
                        checked.append(name)
                        assert item.awaitable, f"{router.name}: {name} would run in a worker thread"
                for item in observer._handler.filters or []:  # router-level filters
                    checked.append(repr(item.callback))
                    assert item.awaitable or isinstance(item.callback, Filter), (
                        f"{router.name}: router filter {item.callback!r} would run in a worker thread"
                    )
        assert len(checked) > 20  # the walk saw the survey, staff, report and mailing routers
    finally:
        await storage.close()
