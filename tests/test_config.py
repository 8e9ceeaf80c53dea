"""Configuration: file, environment overrides, defaults, and one clear message for bad values."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def errors(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_settings(path, explicit=True)
    return info.value.problems


def test_defaults_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.database.url == "sqlite+aiosqlite:///otklik.db"
    assert len(settings.survey.lists.districts.items) == 35
    assert not settings.telegram.enabled


def test_file_and_environment_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(
        tmp_path,
        '[database]\nurl = "sqlite+aiosqlite:///from-file.db"\n'
        '[telegram]\nenabled = true\ntoken = "111:file-token"\n'
        '[survey.lists.structural_units]\nitems = ["Отдел А", {code = "b", text = "Отдел Б"}]\n',
    )
    monkeypatch.setenv("OTKLIK_TELEGRAM__TOKEN", "222:env-token")
    settings = load_settings(path, explicit=True)
    assert settings.database.url.endswith("from-file.db")
    assert settings.telegram.token is not None
    assert settings.telegram.token.get_secret_value() == "222:env-token"
    assert "env-token" not in repr(settings)
    assert settings.survey.lists.structural_units.to_choice_list().items == (
        ("1", "Отдел А"),
        ("b", "Отдел Б"),
    )


def test_unknown_key_is_named(tmp_path: Path) -> None:
    assert errors(write(tmp_path, "[telegram]\ntokn = 'x'\n")) == ["telegram.tokn: неизвестный ключ"]
    assert errors(write(tmp_path, "[telegramm]\n")) == ["telegramm: неизвестный ключ"]


def test_wrong_type_is_named(tmp_path: Path) -> None:
    problems = errors(write(tmp_path, "[vk]\nrps = 'fast'\n"))
    assert len(problems) == 1 and problems[0].startswith("vk.rps:")


def test_missing_token_for_enabled_channel(tmp_path: Path) -> None:
    path = write(tmp_path, "[telegram]\nenabled = true\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path, explicit=True, require_secrets=True)  # as `otklik run` loads it
    assert info.value.problems == ["telegram.token: не задан токен бота, а канал включен (enabled = true)"]
    assert load_settings(path, explicit=True).telegram.enabled  # other commands need no token


def test_max_section_defaults_file_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    default = load_settings().max
    assert not default.enabled and default.token is None
    assert default.api_base_url == "https://platform-api2.max.ru" and default.rps == 25
    path = write(
        tmp_path,
        '[max]\nenabled = true\ntoken = "file-max-token"\napi_base_url = "http://127.0.0.1:9000/"\nrps = 10\n',
    )
    monkeypatch.setenv("OTKLIK_MAX__TOKEN", "env-max-token")
    settings = load_settings(path, explicit=True, require_secrets=True)
    assert settings.max.enabled and settings.max.rps == 10
    assert settings.max.api_base_url == "http://127.0.0.1:9000"
    assert settings.max.token is not None and settings.max.token.get_secret_value() == "env-max-token"
    assert "env-max-token" not in repr(settings)


def test_max_bad_values_are_named(tmp_path: Path) -> None:
    assert errors(write(tmp_path, "[max]\nrps = 31\n"))[0].startswith("max.rps:")  # MAX allows 30/s
    assert errors(write(tmp_path, "[max]\napi_base_url = 'platform-api2.max.ru'\n"))[0].startswith(
        "max.api_base_url:"
    )
    assert errors(write(tmp_path, "[max]\ntokn = 'x'\n")) == ["max.tokn: неизвестный ключ"]


def test_max_missing_token_only_for_run(tmp_path: Path) -> None:
    path = write(tmp_path, "[max]\nenabled = true\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path, explicit=True, require_secrets=True)
    assert info.value.problems == ["max.token: не задан токен бота MAX, а канал включен (enabled = true)"]
    assert load_settings(path, explicit=True).max.enabled


def test_max_token_is_a_redacted_secret(tmp_path: Path) -> None:
    from bot.runtime.redact import settings_secrets

    settings = load_settings(write(tmp_path, '[max]\ntoken = "max-secret-value-123"\n'), explicit=True)
    assert "max-secret-value-123" in settings_secrets(settings)


def test_bad_toml_and_missing_file(tmp_path: Path) -> None:
    problems = errors(write(tmp_path, "[telegram\n"))
    assert len(problems) == 1 and "не читается как TOML" in problems[0]
    assert errors(tmp_path / "nope.toml") == ["файл не найден"]


def test_bad_database_url(tmp_path: Path) -> None:
    problems = errors(write(tmp_path, "[database]\nurl = 'mysql://x'\n"))
    assert len(problems) == 1 and problems[0].startswith("database.url:")


def test_pool_size_is_checked(tmp_path: Path) -> None:
    problems = errors(write(tmp_path, "[database]\npool_size = 0\n"))
    assert len(problems) == 1 and problems[0].startswith("database.pool_size:")
    settings = load_settings(write(tmp_path, "[database]\npool_size = 12\n"), explicit=True)
    assert settings.database.pool_size == 12


def test_cli_bad_config_exits_2_without_traceback_or_secret(tmp_path: Path) -> None:
    path = write(tmp_path, '[telegram]\nenabled = "maybe"\ntoken = "999:SECRET-TOKEN"\n')
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli.main", "--config", str(path), "questionnaire"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "telegram.enabled:" in proc.stderr
    assert "Traceback" not in proc.stderr and "SECRET-TOKEN" not in proc.stderr + proc.stdout


def test_config_example_loads_as_shipped() -> None:
    from bot.config import load_settings
    from tests.conftest import REPO

    settings = load_settings(REPO / "config.example.toml", explicit=True)
    assert settings.reports.timezone == "Asia/Novosibirsk"
    assert not settings.telegram.enabled and settings.telegram.request_timeout == 30


UNITS = (
    "[survey.lists.structural_units]\n"
    'items = [{code = "msp", text = "Управление МСП"}, {code = "inv", text = "Управление инвестиций"}]\n'
)


def test_staff_unit_must_be_in_the_list_of_units(tmp_path: Path) -> None:
    problems = errors(
        write(tmp_path, UNITS + "[[staff.members]]\ntelegram_id = 1\nrole = 'analyst'\nunit = 'mps'\n")
    )
    assert len(problems) == 1
    assert problems[0].startswith("staff.members.0.unit: подразделения «mps» нет в списке")
    assert "msp" in problems[0] and "inv" in problems[0]
    # A code and a text (case and «ё» aside) are both accepted, as everywhere staff type a unit.
    good = UNITS + (
        "[[staff.members]]\ntelegram_id = 1\nrole = 'analyst'\nunit = 'inv'\n"
        "[[staff.members]]\nvk_id = 2\nrole = 'operator'\nunit = 'управление мсп'\n"
    )
    settings = load_settings(write(tmp_path, good), explicit=True)
    assert [m.unit for m in settings.staff.members] == ["inv", "управление мсп"]


def test_staff_unit_checked_against_units_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTKLIK_STAFF__MEMBERS", '[{"telegram_id": 5, "role": "admin", "unit": "nope"}]')
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, UNITS), explicit=True)
    assert info.value.problems[0].startswith("staff.members.0.unit: подразделения «nope» нет в списке")


def test_one_id_twice_in_staff_is_refused_with_the_key_named(tmp_path: Path) -> None:
    text = UNITS + (
        "[[staff.members]]\ntelegram_id = 7\nrole = 'operator'\nunit = 'msp'\n"
        "[[staff.members]]\nvk_id = 7\nrole = 'admin'\n"  # another channel: a different person
        "[[staff.members]]\ntelegram_id = 7\nrole = 'admin'\n"
        "[[staff.members]]\nvk_id = 7\ntelegram_id = 8\nrole = 'analyst'\nunit = 'zzz'\n"
    )
    assert errors(write(tmp_path, text)) == [
        "staff.members.2.telegram_id: id 7 уже указан в staff.members.0 (роль operator, здесь admin); "
        "у одного человека — одна запись",
        "staff.members.3.unit: подразделения «zzz» нет в списке [survey.lists.structural_units] (коды: inv, msp)",
        "staff.members.3.vk_id: id 7 уже указан в staff.members.1 (роль admin, здесь analyst); "
        "у одного человека — одна запись",
    ]


def test_cli_refuses_staff_with_unknown_unit_in_one_message(tmp_path: Path) -> None:
    path = write(tmp_path, UNITS + "[[staff.members]]\ntelegram_id = 1\nrole = 'analyst'\nunit = 'x'\n")
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli.main", "--config", str(path), "questionnaire"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "staff.members.0.unit: подразделения «x» нет в списке" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("OTKLIK_STAFF", '{"members": ['),
        ("OTKLIK_STAFF__MEMBERS", '[{"role": "admin", "telegram_id": 1}'),
        ("OTKLIK_SURVEY__LISTS__DISTRICTS", "{bad"),
        ("OTKLIK_SURVEY__LISTS__STRUCTURAL_UNITS__ITEMS", '["a",'),
        ("OTKLIK_ALERTS__UNIT_CHATS", "no-json"),
    ],
)
def test_malformed_json_in_an_environment_variable_is_one_clear_line(
    tmp_path: Path, name: str, value: str
) -> None:
    environ = {**os.environ, name: value, "OTKLIK_TELEGRAM__TOKEN": "999:SECRET-TOKEN"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot.cli.main",
            "--database",
            f"sqlite+aiosqlite:///{tmp_path / 'o.db'}",
            "mailing",
            "list",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=environ,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "Ошибка в конфигурации (переменные окружения): " + name + ":"
    )
    assert "Traceback" not in proc.stderr and "SECRET-TOKEN" not in proc.stderr + proc.stdout
    assert value not in proc.stderr  # values may hold secrets: only the variable is named
    assert not (tmp_path / "o.db").exists()


def test_cases_defaults_and_values(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, ""), explicit=True)
    assert (settings.cases.enabled, settings.cases.deadline_days, settings.cases.quiet_days) == (False, 5, 7)
    assert settings.cases.holidays == [] and settings.cases.text_version == "1"
    path = write(
        tmp_path,
        "[cases]\nenabled = true\ndeadline_days = 10\nquiet_days = 3\n"
        "holidays = [2027-01-07, 2027-01-01]\ntext_version = 'r2'\n",
    )
    settings = load_settings(path, explicit=True)
    assert settings.cases.enabled and settings.cases.deadline_days == 10 and settings.cases.quiet_days == 3
    assert [str(day) for day in settings.cases.holidays] == ["2027-01-01", "2027-01-07"]
    assert {str(day) for day in settings.cases.holiday_set} == {"2027-01-01", "2027-01-07"}


def test_cases_holidays_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTKLIK_CASES__HOLIDAYS", '["2027-05-01", "2027-05-09"]')
    monkeypatch.setenv("OTKLIK_CASES__DEADLINE_DAYS", "3")
    settings = load_settings(write(tmp_path, ""), explicit=True)
    assert [str(day) for day in settings.cases.holidays] == ["2027-05-01", "2027-05-09"]
    assert settings.cases.deadline_days == 3


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "deadline_days = 0",
            "cases.deadline_days: ожидается целое число рабочих дней от 1 до 60, указано 0",
        ),
        (
            "deadline_days = 61",
            "cases.deadline_days: ожидается целое число рабочих дней от 1 до 60, указано 61",
        ),
        (
            "deadline_days = 2.5",
            "cases.deadline_days: ожидается целое число рабочих дней от 1 до 60, указано 2.5",
        ),
        (
            "deadline_days = 'пять'",
            "cases.deadline_days: ожидается целое число рабочих дней от 1 до 60, указано 'пять'",
        ),
        ("quiet_days = 0", "cases.quiet_days: ожидается целое число дней от 1 до 90, указано 0"),
        ("quiet_days = true", "cases.quiet_days: ожидается целое число дней от 1 до 90, указано True"),
        (
            "holidays = '2027-01-01'",
            "cases.holidays: ожидается список дат, например [2027-01-01, 2027-01-07]",
        ),
        (
            "holidays = ['1 января']",
            "cases.holidays: '1 января': ожидается дата ГГГГ-ММ-ДД, например 2027-01-01",
        ),
        ("holidays = [2027-02-30]", None),  # not a date at all: TOML itself refuses it
        ("holidays = [1999-12-31]", "cases.holidays: 1999-12-31: дата вне диапазона 2000–2100 годов"),
        ("holidays = [2027-01-01, 2027-01-01]", "cases.holidays: 2027-01-01: дата указана дважды"),
        ("text_version = ''", None),
        ("deadline = 5", "cases.deadline: неизвестный ключ"),
    ],
)
def test_cases_bad_values_are_named_in_russian(tmp_path: Path, text: str, problem: str | None) -> None:
    problems = errors(write(tmp_path, f"[cases]\n{text}\n"))
    assert len(problems) == 1
    if problem is None:
        assert problems[0].startswith(("cases.text_version:", "файл не читается как TOML"))
    else:
        assert problems == [problem]
