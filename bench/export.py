"""Benchmark of exports and the quarterly report on SQLite.

    python bench/export.py --size 100000            # seed, then export CSV, XLSX and build the report
    python bench/export.py --size 100000 --keep DIR # keep the database and the files in DIR

Each measured step runs in its own process, so its peak RSS is its own (not the seeding's); the
steps time the work after the imports. Then `otklik export` (CSV) and `otklik report` run as a
user runs them, timed from process start (interpreter start-up and imports included).
Targets: CSV <= 10 s, XLSX <= 60 s, report <= 5 s, peak RSS <= 250 MB and flat when the
number of questionnaires doubles.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sqlalchemy import insert  # noqa: E402

from bench.cli_probe import peak_rss_mb  # noqa: E402
from bot.app import questionnaire_from  # noqa: E402
from bot.config import Settings  # noqa: E402
from reports.analysis import write_report  # noqa: E402
from reports.export import Format, export_file  # noqa: E402
from reports.period import date_range, quarter_period  # noqa: E402
from storage.repository import answer_values  # noqa: E402
from storage.schema import answers, survey_sessions  # noqa: E402
from storage.store import Storage  # noqa: E402
from survey_flow import engine  # noqa: E402
from survey_flow.engine import Accepted, Answer  # noqa: E402
from survey_flow.model import SCALE_CODES, Questionnaire  # noqa: E402

ZONE = ZoneInfo("Asia/Novosibirsk")
FORMATS: dict[str, Format] = {"csv": "csv", "xlsx": "xlsx"}
QUARTER_START = datetime(2025, 7, 1, tzinfo=ZONE).astimezone(UTC)


def random_answers(q: Questionnaire, rng: random.Random) -> dict[str, Answer]:
    """A valid walk through the engine with random choices and scores."""
    current: dict[str, Answer] = {}
    while (step := engine.next_step(q, current)) is not None:
        if step.followup:
            text = rng.choice(["Долго ждал ответа", "Сложная форма заявки", "Не хватило информации на сайте"])
        elif step.question.kind == "scale":
            text = rng.choice(SCALE_CODES)
        else:
            text = rng.choice(step.question.options).code
        outcome = engine.apply_input(q, current, text)
        assert isinstance(outcome, Accepted)
        current = outcome.answers
    return current


async def seed(url: str, size: int, q: Questionnaire) -> None:
    rng = random.Random(152)
    templates = [random_answers(q, rng) for _ in range(200)]
    storage = await Storage.open(url)
    seconds = 90 * 24 * 3600 - 1
    try:
        chunk = 5000
        for first in range(1, size + 1, chunk):
            ids = range(first, min(first + chunk, size + 1))
            session_rows: list[dict[str, Any]] = []
            answer_rows: list[dict[str, Any]] = []
            for session_id in ids:
                when = QUARTER_START + timedelta(seconds=rng.randint(0, seconds))
                channel = rng.choice(["telegram", "telegram", "vk", "offline"])
                session_rows.append(
                    {
                        "id": session_id, "respondent_id": None, "channel": channel, "status": "completed",
                        "source": "paper" if channel == "offline" else "direct", "source_ref": None,
                        "prefill": {}, "questionnaire_version": q.version, "started_at": when,
                        "updated_at": when, "completed_at": when,
                    }
                )  # fmt: skip
                final = engine.finalize(q, rng.choice(templates), when)
                for code, answer in final.items():
                    answer_rows.append(
                        {"session_id": session_id, "answered_at": when, **answer_values(q, code, answer)}
                    )
            async with storage.transaction() as conn:
                await conn.execute(insert(survey_sessions), session_rows)
                await conn.execute(insert(answers), answer_rows)
    finally:
        await storage.close()


async def run_step(step: str, url: str, out_dir: Path) -> None:
    q = questionnaire_from(Settings())
    storage = await Storage.open(url)
    try:
        if step in ("csv", "xlsx"):
            await export_file(
                storage,
                q,
                period=date_range(None, None, ZONE),
                unit=None,
                out=out_dir / f"export.{step}",
                fmt=step,
            )
        else:
            await write_report(
                storage,
                q,
                period=quarter_period("2025Q3", ZONE),
                unit=None,
                unit_label="все структурные подразделения",
                title="3 квартал 2025 г.",
                out=out_dir / "report.xlsx",
            )
    finally:
        await storage.close()


def measure(step: str, url: str, out_dir: Path) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, __file__, "--step", step, "--url", url, "--dir", str(out_dir)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def measure_command(url: str, command: list[str]) -> dict[str, float]:
    """Wall time and peak RSS of a whole `otklik` command, imports and start-up included."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "bench.cli_probe", "--database", url, *command],
        check=True,
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    seconds = time.perf_counter() - started
    probe = json.loads(done.stdout.strip().splitlines()[-1])
    return {"seconds": round(seconds, 2), "peak_rss_mb": probe["peak_rss_mb"]}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=100_000, help="number of completed questionnaires")
    parser.add_argument("--keep", type=Path, default=None, help="folder to keep the database and files in")
    parser.add_argument("--step", choices=["csv", "xlsx", "report"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        started = time.perf_counter()
        asyncio.run(run_step(args.step, args.url, args.dir))
        seconds = time.perf_counter() - started
        print(json.dumps({"seconds": round(seconds, 2), "peak_rss_mb": round(peak_rss_mb(), 1)}))
        return 0
    work = args.keep or Path(tempfile.mkdtemp(prefix="otklik-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    url = f"sqlite+aiosqlite:///{work / 'bench.db'}"
    (work / "bench.db").unlink(missing_ok=True)
    q = questionnaire_from(Settings())
    started = time.perf_counter()
    asyncio.run(seed(url, args.size, q))
    print(f"seeded {args.size} questionnaires in {time.perf_counter() - started:.1f} s ({work})")
    targets = {"csv": 10.0, "xlsx": 60.0, "report": 5.0}
    for step, target in targets.items():
        figures = measure(step, url, work)
        verdict = "ok" if figures["seconds"] <= target and figures["peak_rss_mb"] <= 250 else "OVER TARGET"
        print(f"{step:7} {figures['seconds']:7.2f} s  peak RSS {figures['peak_rss_mb']:6.1f} MB  "
              f"(target {target:.0f} s, 250 MB) {verdict}")  # fmt: skip
    # The same work as a user runs it: interpreter start and the command line's imports included.
    commands = {
        "otklik export (csv)": (["export", "--out", str(work / "cli.csv")], 10.0),
        "otklik report": (["report", "--quarter", "2025Q3", "--out", str(work / "cli-report.xlsx")], 5.0),
    }
    for name, (command, target) in commands.items():
        figures = measure_command(url, command)
        verdict = "ok" if figures["seconds"] <= target and figures["peak_rss_mb"] <= 250 else "OVER TARGET"
        print(f"{name:20} {figures['seconds']:6.2f} s  peak RSS {figures['peak_rss_mb']:6.1f} MB  "
              f"(target {target:.0f} s, 250 MB) {verdict}")  # fmt: skip
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)  # the 100,000-row database and files: not kept
    return 0


if __name__ == "__main__":
    sys.exit(main())
