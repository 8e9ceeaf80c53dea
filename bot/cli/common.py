"""Helpers shared by the command modules (kept apart from main.py, which imports them all)."""

from __future__ import annotations

import getpass
import json


def default_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "console"


def dump_json(data: object) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2)
