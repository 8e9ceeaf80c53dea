"""The mailing core keeps only ports: importing it loads no messenger library."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

MESSENGER_LIBRARIES = ("aiogram", "vk_api")
CORE_MODULES = ("bot.mailing.hub", "bot.mailing.service", "bot.mailing.transport", "bot.mailing.limiter")


def _loaded_after_import(module: str) -> list[str]:
    # A fresh interpreter: this test process has long imported both libraries.
    probe = (
        "import importlib, json, sys\n"
        f"importlib.import_module({module!r})\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    loaded: list[str] = json.loads(done.stdout)
    return loaded


@pytest.mark.parametrize("module", CORE_MODULES)
def test_importing_the_mailing_core_loads_no_messenger_library(module: str) -> None:
    loaded = _loaded_after_import(module)
    assert module in loaded  # the probe imported what it says
    assert [name for name in loaded if name.split(".")[0] in MESSENGER_LIBRARIES] == []


def test_the_probe_sees_a_messenger_library_when_one_is_imported() -> None:
    loaded = _loaded_after_import("bot.telegram.mailing")
    assert "aiogram" in loaded
