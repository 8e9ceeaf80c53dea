"""Deployment files agree with each other and with the code (what an operator copies must work)."""

from __future__ import annotations

import re
import tomllib

import pytest

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


UNIT = REPO / "deploy/otklik.service"
HARDENING = {
    "ProtectSystem": "strict",
    "ReadWritePaths": "/var/lib/otklik",
    "ProtectHome": "true",
    "PrivateTmp": "true",
    "PrivateDevices": "true",
    "NoNewPrivileges": "true",
    "CapabilityBoundingSet": "",
    "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
    "ProtectKernelTunables": "true",
    "ProtectKernelModules": "true",
    "ProtectKernelLogs": "true",
    "ProtectControlGroups": "true",
    "SystemCallFilter": "@system-service",
    "User": "otklik",
    "UMask": "0077",
}


def unit_directives() -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for line in UNIT.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith(("#", ";")):
            key, value = line.split("=", 1)
            directives.setdefault(key.strip(), []).append(value.strip())
    return directives


def test_unit_is_hardened() -> None:
    directives = unit_directives()
    missing = {key: value for key, value in HARDENING.items() if value not in directives.get(key, [])}
    assert missing == {}


def test_unit_exposure_is_at_most_3() -> None:
    import shutil
    import subprocess

    if shutil.which("systemd-analyze") is None:
        pytest.skip(
            "systemd-analyze is not installed: exposure score and `verify` (test_install.py) not checked"
        )
    proc = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", str(UNIT)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    found = re.search(r"Overall exposure level for otklik\.service: (\d+\.\d+)", proc.stdout + proc.stderr)
    assert found, proc.stdout + proc.stderr
    assert float(found.group(1)) <= 3.0


def test_image_files_agree() -> None:
    """What `docker build` cannot be run here to show: the Dockerfile, the compose file and the
    image's default settings agree (base pinned, pg_dump of the compose server's major, non-root,
    dependencies before sources, the health check's port served by the default settings)."""
    from bot.config import load_settings

    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    compose = (REPO / "docker-compose.yml").read_text(encoding="utf-8")
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11\.\d+-slim-bookworm$", dockerfile, re.M)
    server_major = re.search(r"image: postgres:(\d+)", compose)
    assert server_major is not None
    assert f"postgresql-client-{server_major.group(1)}" in dockerfile
    assert f"pg_dump --version | grep -q ' {server_major.group(1)}\\.'" in dockerfile
    final_stage = dockerfile.split("\nFROM ")[-1]
    user = re.findall(r"^USER (\S+)$", final_stage, re.M)
    assert user and not user[-1].startswith(("root", "0")), user
    assert dockerfile.index("COPY requirements/constraints.txt") < dockerfile.index("COPY bot ")
    assert dockerfile.index("pip install --requirement") < dockerfile.index("COPY bot ")

    health_port = re.search(r"HEALTHCHECK.*?http://127\.0\.0\.1:(\d+)/healthz", dockerfile, re.S)
    env_listen = re.search(r"OTKLIK_SERVICE__HEALTH_LISTEN=(\S+)", final_stage)
    assert health_port and env_listen
    image_config = load_settings(REPO / "deploy/docker/otklik.toml", explicit=True)
    assert image_config.service.health_listen == env_listen.group(1)
    assert env_listen.group(1).endswith(f":{health_port.group(1)}")
    assert "COPY deploy/docker/otklik.toml /etc/otklik/config.toml" in dockerfile
    assert 'CMD ["otklik", "--config", "/etc/otklik/config.toml", "run"]' in dockerfile
