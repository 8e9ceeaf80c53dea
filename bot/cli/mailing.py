"""`otklik mailing create|list|show|pause|resume|cancel` and `otklik consents export`."""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import sys
from pathlib import Path
from typing import Any

from bot.app import open_storage, questionnaire_from
from bot.cli.arguments import bounded_int, bounded_text
from bot.cli.common import default_user
from bot.cli.output_files import atomic_output
from bot.cli.progress import TerminalProgress
from bot.config import Settings
from bot.core.clock import utcnow
from bot.errors import UsageError
from bot.mailing import texts
from bot.mailing.control import ControlError, change_status
from storage import mailing as store
from storage import repository as repo
from storage.channels import Channel
from storage.store import Storage

CHANNELS = (
    Channel.TELEGRAM.value,
    Channel.VK.value,
    Channel.MAX.value,
)  # a transport each: bot/<channel>/mailing.py
# Seconds between two reads of a followed campaign: the service sends at most tens per second.
FOLLOW_INTERVAL = 1.0
_RECORDED = {
    repo.ConsentKind.GRANTED: "согласие",
    repo.ConsentKind.WITHDRAWN: "отзыв согласия",
    repo.ConsentKind.REFUSED: "отказ от приглашений (действующего согласия не было)",
    repo.ConsentKind.ERASED: "удаление данных",
}


def register(sub: Any) -> None:
    mailing = sub.add_parser("mailing", help="рассылки приглашений к опросу (только согласившимся)")
    actions = mailing.add_subparsers(dest="mailing_action", required=True, metavar="ДЕЙСТВИЕ")

    create = actions.add_parser("create", help="создать рассылку")
    source = create.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", help="текст приглашения; {name} — имя получателя")
    source.add_argument("--text-file", type=Path, help="файл с текстом приглашения (UTF-8)")
    create.add_argument(
        "--channel", default="telegram", help="канал: telegram, vk или max (по умолчанию telegram)"
    )
    create.add_argument("--measure", help="код меры поддержки (вопрос 1)")
    create.add_argument("--unit", help="код структурного подразделения (вопрос 3)")
    create.add_argument("--district", help="код района или округа (вопрос 4)")
    create.add_argument(
        "--completed-before-days",
        type=bounded_int(1, 3650),
        help="последний опрос пройден больше N дней назад или никогда (1–3650)",
    )
    create.add_argument("--never-completed", action="store_true", help="ни разу не прошли опрос")
    create.add_argument("--at", default="сейчас", help="время отправки: «сейчас» или 25.12.2026 10:00")
    create.add_argument("--dry-run", action="store_true", help="только показать аудиторию, не создавать")
    create.set_defaults(handler=cmd_create)

    listing = actions.add_parser("list", help="список рассылок")
    listing.set_defaults(handler=cmd_list)

    show = actions.add_parser("show", help="ход рассылки с индикатором")
    show.add_argument("id", type=bounded_int(1), metavar="НОМЕР", help="номер рассылки")
    show.add_argument(
        "--follow",
        action="store_true",
        help="ждать окончания рассылки (в терминале — с индикатором хода), затем показать итог",
    )
    show.set_defaults(handler=cmd_show)

    for action, title in (("pause", "приостановить"), ("resume", "продолжить"), ("cancel", "отменить")):
        parser = actions.add_parser(action, help=f"{title} рассылку")
        parser.add_argument("id", type=bounded_int(1), metavar="НОМЕР", help="номер рассылки")
        parser.set_defaults(handler=cmd_control, mailing_action=action)

    consents = sub.add_parser("consents", help="реестр согласий: на приглашения и на ответ по обращению")
    consent_actions = consents.add_subparsers(dest="consents_action", required=True, metavar="ДЕЙСТВИЕ")
    export = consent_actions.add_parser("export", help="выгрузить реестр согласий (CSV) для проверки")
    export.add_argument("-o", "--output", type=Path, help="файл CSV (по умолчанию — в стандартный вывод)")
    export.set_defaults(handler=cmd_consents_export)
    record = consent_actions.add_parser(
        "record", help="внести согласие или отзыв со слов клиента (сотрудник)"
    )
    who = record.add_mutually_exclusive_group(required=True)
    who.add_argument("--respondent", type=bounded_text(32), help="псевдоним респондента (из выгрузок)")
    who.add_argument("--external-id", type=bounded_text(64), help="id пользователя в мессенджере")
    record.add_argument("--channel", default="telegram", help="канал для --external-id (telegram, vk, max)")
    choice = record.add_mutually_exclusive_group(required=True)
    choice.add_argument("--grant", action="store_true", help="клиент дал согласие")
    choice.add_argument("--withdraw", action="store_true", help="клиент отозвал согласие")
    record.add_argument("--by", required=True, help="кто вносит запись (ФИО сотрудника)")
    record.set_defaults(handler=cmd_consents_record)


async def cmd_create(args: argparse.Namespace, settings: Settings) -> int:
    cfg = settings.mailing
    if args.channel not in CHANNELS:
        raise UsageError(f"Неизвестный канал {args.channel!r}; доступны: telegram, vk, max.")
    if args.text_file is not None:
        try:
            raw = args.text_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"Не удалось прочитать {args.text_file}: {exc}") from None
    else:
        raw = args.text
    now = utcnow()
    try:
        text = texts.check_text(raw)
        at = texts.parse_time(args.at, cfg.timezone, now)
    except texts.TextProblem as exc:
        raise UsageError(str(exc)) from None
    audience = store.Audience(
        channel=args.channel,
        support_measure=args.measure,
        unit=args.unit,
        district=args.district,
        completed_before_days=args.completed_before_days,
        never_completed=args.never_completed,
    )
    questions = store.AudienceQuestions.of(questionnaire_from(settings))
    storage = await open_storage(settings, create=False)
    try:
        async with storage.transaction() as conn:
            size = await store.audience_size(conn, audience, questions, now, cfg.frequency_cap_days)
            print(f"Аудитория: {texts.describe_audience(audience)}")
            print(
                f"Подходят: {size.matching}; недавно приглашены (пропустим): {size.recently_invited}; "
                f"получат: {size.will_receive}"
            )
            if args.dry_run:
                return 0
            campaign = await store.create_campaign(
                conn,
                text=text,
                audience=audience,
                questions=questions,
                scheduled_at=at,
                created_by=f"cli:{default_user()}",
                now=now,
            )
    finally:
        await storage.close()
    print(
        f"Рассылка №{campaign.id} создана: {texts.local_time(at, cfg.timezone)} ({cfg.timezone}). "
        "Отправит ее запущенный сервис (otklik run)."
    )
    return 0


async def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    storage = await open_storage(settings, create=False)
    try:
        async with storage.transaction() as conn:
            campaigns = await store.list_campaigns(conn, limit=1000)
            rows = [(c, await store.progress(conn, c.id)) for c in campaigns]
    finally:
        await storage.close()
    if not rows:
        print("Рассылок нет.")
        return 0
    zone = settings.mailing.timezone
    print(f"{'№':>4}  {'статус':<16} {'время':<16} {'отпр.':>6} {'всего':>6}  текст")
    for c, p in rows:
        status = texts.STATUS_NAMES.get(c.status, c.status)
        first = c.text.splitlines()[0][:40]
        print(
            f"{c.id:>4}  {status:<16} {texts.local_time(c.scheduled_at, zone):<16} {p[store.SENT]:>6} {p.total:>6}  {first}"
        )
    return 0


async def _campaign(storage: Storage, campaign_id: int) -> tuple[store.Campaign, store.Progress]:
    async with storage.transaction() as conn:
        campaign = await store.get_campaign(conn, campaign_id)
        if campaign is None:
            raise UsageError(f"Рассылки №{campaign_id} нет. Список: otklik mailing list")
        return campaign, await store.progress(conn, campaign_id)


async def _follow(
    storage: Storage, campaign: store.Campaign, progress: store.Progress
) -> tuple[store.Campaign, store.Progress]:
    """Wait until the campaign is over (sent, cancelled, missed or failed); a bar on stderr when it
    is a terminal. A scheduled or paused campaign is waited for too: it will start or resume."""
    with TerminalProgress(f"Рассылка №{campaign.id}", " сообщ.") as bar:
        while True:
            bar.set_total(progress.total)
            bar.set_position(progress.done, texts.STATUS_NAMES.get(campaign.status, campaign.status))
            if campaign.status not in store.ACTIVE:  # done, cancelled, missed or failed
                return campaign, progress
            await asyncio.sleep(FOLLOW_INTERVAL)
            campaign, progress = await _campaign(storage, campaign.id)


async def cmd_show(args: argparse.Namespace, settings: Settings) -> int:
    storage = await open_storage(settings, create=False)
    try:
        campaign, progress = await _campaign(storage, args.id)
        if args.follow:
            campaign, progress = await _follow(storage, campaign, progress)
    finally:
        await storage.close()
    cfg = settings.mailing
    print(texts.progress_text(campaign, progress, settings.send_rate(campaign.channel), cfg.timezone))
    print(texts.bar(progress) if campaign.started_at is not None else "[не начата]")
    print(f"аудитория: {texts.describe_audience(campaign.audience)}")
    print(f"создана: {texts.local_time(campaign.created_at, cfg.timezone)}, {campaign.created_by}")
    return 0


async def cmd_control(args: argparse.Namespace, settings: Settings) -> int:
    storage = await open_storage(settings, create=False)
    try:
        message = await change_status(storage, args.id, args.mailing_action, utcnow())
    except ControlError as exc:
        raise UsageError(str(exc)) from None
    finally:
        await storage.close()
    print(message)
    return 0


async def cmd_consents_export(args: argparse.Namespace, settings: Settings) -> int:
    storage = await open_storage(settings, create=False)
    try:
        async with storage.transaction() as conn:
            rows = await store.consent_register(conn)
    finally:
        await storage.close()
    from reports.safe_cells import csv_row  # imported here: it pulls in openpyxl

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(store.CONSENT_COLUMNS)
    for row in rows:
        values = list(row)
        values[6] = values[6].isoformat() if values[6] else ""
        writer.writerow(csv_row(values))  # recorded_by is typed by staff: never a formula
    if args.output is None:
        sys.stdout.write(buffer.getvalue())
        return 0
    with atomic_output(args.output, "--output") as partial:
        partial.write_text(buffer.getvalue(), encoding="utf-8")
    print(f"Записей в реестре: {len(rows)}; файл {args.output}", file=sys.stderr)
    return 0


async def cmd_consents_record(args: argparse.Namespace, settings: Settings) -> int:
    by = args.by.strip()
    if not by:
        raise UsageError("--by: укажите, кто вносит запись.")
    storage = await open_storage(settings, create=False)
    try:
        async with storage.transaction() as conn:
            if args.respondent:
                person = await store.respondent_by_pseudonym(conn, args.respondent)
                who = f"псевдонимом {args.respondent}"
            else:
                person = await repo.get_respondent(conn, args.channel, args.external_id)
                who = f"id {args.external_id} в канале {args.channel}"
            if person is None:
                raise UsageError(f"Респондента с {who} нет: он еще не писал боту.")
            kind = repo.ConsentKind.GRANTED
            if not args.grant:
                # A withdrawal needs a consent to withdraw; otherwise the person's «no» is a refusal.
                latest = await repo.latest_consent(conn, person.id)
                granted_now = latest is not None and latest.granted
                kind = repo.ConsentKind.WITHDRAWN if granted_now else repo.ConsentKind.REFUSED
            await repo.record_consent(
                conn,
                person.id,
                kind=kind,
                channel=person.channel,
                text_version=settings.consent.version,
                method="staff",
                now=utcnow(),
                recorded_by=by[:64],
            )
    finally:
        await storage.close()
    print(f"Записано: {_RECORDED[kind]} респондента {person.pseudonym}.")
    return 0
