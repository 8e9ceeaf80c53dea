"""Deployment files agree with each other and with the code (what an operator copies must work)."""

from __future__ import annotations

import re
import tomllib

from bot.telegram.webhook import webhook_path
from tests.conftest import REPO


def toml_blocks(markdown: str) -> list[dict[str, object]]:
    return [tomllib.loads(block) for block in re.findall(r"```toml\n(.*?)```", markdown, re.S)]


def documented_webhook_urls() -> dict[str, str]:
    urls: dict[str, str] = {}
    for page in ("docs/telegram.md", "docs/deploy.md"):
        found = [
            str(block["telegram"]["webhook_url"])  # type: ignore[index]
            for block in toml_blocks((REPO / page).read_text(encoding="utf-8"))
            if "webhook_url" in block.get("telegram", {})  # type: ignore[operator]
        ]
        assert found, f"{page}: no ```toml block with [telegram] webhook_url"
        for index, url in enumerate(found):
            urls[f"{page}#{index}"] = url
    # config.example.toml ships the webhook keys commented out: read the commented line as TOML.
    example = (REPO / "config.example.toml").read_text(encoding="utf-8")
    line = re.search(r"^# (webhook_url = \"[^\"]*\")", example, re.M)
    assert line, "config.example.toml: no commented webhook_url line"
    urls["config.example.toml"] = str(tomllib.loads(line.group(1))["webhook_url"])
    return urls


def nginx_webhook_location() -> str:
    conf = (REPO / "deploy/nginx.conf").read_text(encoding="utf-8")
    locations = re.findall(r"location\s+=\s+(\S+)\s*\{([^}]*)\}", conf)
    passed = [path for path, body in locations if "proxy_pass http://otklik_webhook" in body]
    assert len(passed) == 1, locations
    return str(passed[0])


def test_webhook_path_agrees_in_config_docs_and_nginx() -> None:
    location = nginx_webhook_location()
    paths = {source: webhook_path(url) for source, url in documented_webhook_urls().items()}
    assert paths == dict.fromkeys(paths, location)


def test_nginx_passes_the_client_address() -> None:
    conf = (REPO / "deploy/nginx.conf").read_text(encoding="utf-8")
    assert re.search(r"proxy_set_header\s+X-Real-IP\s+\$remote_addr;", conf)
    assert re.search(r"proxy_set_header\s+X-Forwarded-For\s+\$proxy_add_x_forwarded_for;", conf)
