"""`[service] log_format = "json"`: one JSON object per log line (time, level, logger, message,
exception), with the secrets masked as in text lines; an unknown format is named in Russian."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.bot.telegram.test_token_redaction import (
    TOKEN,
    VK_TOKEN,
    WEBHOOK_SECRET,
    assert_no_secret,
    config,
    run,
)

FAILING = f"""
import logging
import sys
import bot.cli.main as cli

async def boom(args, settings):
    logging.getLogger("otklik.probe").warning("calling /bot{TOKEN}/getMe with %s", "{WEBHOOK_SECRET}")
    raise RuntimeError("POST /bot{TOKEN}/getMe failed; vk {VK_TOKEN}")

cli.dispatch = boom
sys.exit(cli.main(sys.argv[1:]))
"""


def with_format(cfg: Path, kind: str) -> Path:
    cfg.write_text((cfg.read_text() if cfg.exists() else "") + f'[service]\nlog_format = "{kind}"\n')
    return cfg


async def test_json_lines_with_exception_and_secrets_masked(tmp_path: Path) -> None:
    cfg = with_format(config(tmp_path, "http://127.0.0.1:1"), "json")
    code, output = await run(sys.executable, "-c", FAILING, "--config", str(cfg), "-v", "run")
    assert code == 1
    assert_no_secret(output)
    *log_lines, last = output.strip().splitlines()
    assert last.startswith("Непредвиденная ошибка: RuntimeError")  # the operator's line, not a log record
    records = [json.loads(line) for line in log_lines]  # every log line is one JSON object
    assert all(set(r) >= {"time", "level", "logger", "message"} for r in records), records
    probe = next(r for r in records if r["logger"] == "otklik.probe")
    assert probe["level"] == "WARNING" and probe["message"] == "calling /bot***/getMe with ***"
    assert "exception" not in probe
    failure = next(r for r in records if r["message"] == "unexpected error")
    assert failure["level"] == "ERROR" and failure["logger"] == "otklik"
    assert failure["exception"].startswith("Traceback")
    assert "RuntimeError: POST /bot***/getMe failed; vk ***" in failure["exception"]
    assert failure["time"].endswith("+00:00")


async def test_text_stays_the_default(tmp_path: Path) -> None:
    cfg = config(tmp_path, "http://127.0.0.1:1")
    code, output = await run(sys.executable, "-c", FAILING, "--config", str(cfg), "-v", "run")
    assert code == 1
    assert_no_secret(output)
    assert " WARNING otklik.probe: calling /bot***/getMe with ***" in output
    assert not output.lstrip().startswith("{")


async def test_unknown_format_is_named(tmp_path: Path) -> None:
    cfg = with_format(tmp_path / "config.toml", "xml")
    code, output = await run(sys.executable, "-m", "bot.cli.main", "--config", str(cfg), "questionnaire")
    assert code == 2
    assert output.strip() == (
        f"Ошибка в конфигурации ({cfg}): service.log_format: 'xml': "
        'ожидается "text" (строки для человека) или "json" (для сборщиков журналов)'
    )
