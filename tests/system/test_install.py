"""docs/deploy.md's install, upgrade and rollback commands, run as written into a temporary root.

The blocks marked ```sh test:install / test:upgrade / test:rollback are taken from the page, the
system paths in them moved under a temporary directory, and run with `bash -e`. Not run (and
said so on the page): useradd, chown, chgrp and systemctl are recorded, not executed; runuser
runs the command as the current user; dependencies are not downloaded: the new virtualenv sees
the ones already installed in this project's .venv (only otklik's runtime dependencies, by its
metadata) and pip runs with --no-index, so requirements/constraints.txt must match them.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import stat
import subprocess
import sys
import zipfile
from contextlib import closing
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import REPO

pytestmark = pytest.mark.install

# System paths of the page, moved under the temporary root.
SYSTEM_PATHS = ("/opt/otklik", "/etc/otklik", "/var/lib/otklik", "/var/backups/otklik", "/etc/systemd/system")
RECORDED = ("useradd", "chown", "chgrp", "systemctl")
# What a release directory holds besides the wheel (copied from the source tree).
RELEASE_FILES = ("pyproject.toml", "README.md", "LICENSE", "config.example.toml", "Makefile")
RELEASE_DIRS = ("survey_flow", "storage", "bot", "reports", "requirements", "deploy")


def page_blocks() -> dict[str, str]:
    page = (REPO / "docs/deploy.md").read_text(encoding="utf-8")
    return dict(re.findall(r"^```sh test:(\w+)\n(.*?)^```", page, re.S | re.M))


def rooted(script: str, root: Path) -> str:
    pattern = "|".join(re.escape(p) for p in SYSTEM_PATHS)
    return re.sub(rf"(?<![\w.-])({pattern})(?=/|\b)", lambda m: f"{root}{m.group(1)}", script)


def runtime_dependency_files() -> set[str]:
    """Top-level site-packages entries of otklik's runtime dependencies (transitively)."""
    entries: set[str] = set()
    todo = [(r, "") for r in metadata.requires("otklik") or []]
    seen: set[tuple[str, str]] = set()
    while todo:
        spec, extra = todo.pop()
        req = Requirement(spec)
        if req.marker is not None and not req.marker.evaluate({"extra": extra}):
            continue
        name = canonicalize_name(req.name)
        for wanted in ("", *req.extras):
            if (name, wanted) in seen:
                continue
            seen.add((name, wanted))
            dist = metadata.distribution(name)
            todo += [(r, wanted) for r in dist.requires or []]
            for file in dist.files or []:
                top = file.parts[0]
                if top != "..":
                    entries.add(top)
    return entries


@pytest.fixture(scope="module")
def dependency_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import sqlalchemy

    site = Path(sqlalchemy.__file__).parent.parent  # this project's .venv
    farm = tmp_path_factory.mktemp("deps")
    for entry in runtime_dependency_files():
        if (site / entry).exists():
            (farm / entry).symlink_to(site / entry)
    return farm


def make_release(into: Path, version: str) -> Path:
    """A release directory: the sources at `version` with the wheel built as `make wheel` does."""
    into.mkdir()
    for name in RELEASE_FILES:
        shutil.copy2(REPO / name, into / name)
    for name in RELEASE_DIRS:
        shutil.copytree(REPO / name, into / name, ignore=shutil.ignore_patterns("__pycache__"))
    project = into / "pyproject.toml"
    project.write_text(
        re.sub(r'^version = ".*"$', f'version = "{version}"', project.read_text(), count=1, flags=re.M)
    )
    recipe = re.search(r"^wheel:.*\n((?:\t.*\n)+)", (REPO / "Makefile").read_text(), re.M)
    assert recipe is not None
    assert "\t$(BIN)/python -m pip wheel --no-deps --no-build-isolation --wheel-dir dist .\n" in recipe.group(
        1
    )
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--wheel-dir", "dist", "."],
        cwd=into, check=True, capture_output=True, env={**os.environ, "PIP_NO_INDEX": "1"},
    )  # fmt: skip
    return into


def python_wrapper(bin_dir: Path, deps: Path) -> None:
    """`python3` for the page's commands: after `python3 -m venv DIR`, DIR sees the dependencies."""
    bin_dir.mkdir()
    wrapper = bin_dir / "python3"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'"{sys.executable}" "$@" || exit $?\n'
        'if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then\n'
        f'  echo "{deps}" > "$3/lib/python{sys.version_info.major}.{sys.version_info.minor}'
        '/site-packages/zz_otklik_test_dependencies.pth"\n'
        "fi\n"
    )
    wrapper.chmod(0o755)


def run_block(name: str, release: Path, root: Path, bin_dir: Path) -> str:
    stubs = "".join(f'{cmd}() {{ echo "{cmd} $*" >> "{root}/recorded.log"; }}\n' for cmd in RECORDED)
    stubs += 'runuser() { while [ "$1" != "--" ]; do shift; done; shift; "$@"; }\n'
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTKLIK_", "PIP_", "PYTHON"))}
    env |= {"PATH": f"{bin_dir}:{env['PATH']}", "HOME": str(root), "PIP_NO_INDEX": "1",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1"}  # fmt: skip
    script = "set -euo pipefail\n" + stubs + rooted(page_blocks()[name], root)
    proc = subprocess.run(
        ["bash", "-c", script], cwd=release, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, f"block test:{name} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def unit_paths(unit: Path) -> dict[str, str]:
    text = unit.read_text()
    return {key: re.search(rf"^{key}=(\S+)", text, re.M).group(1)  # type: ignore[union-attr]
            for key in ("ExecStart", "EnvironmentFile", "ReadWritePaths", "WorkingDirectory")}  # fmt: skip


def verify_unit(root: Path) -> None:
    """`systemd-analyze verify` of the copied unit against the installed files (ExecStart exists)."""
    (root / "usr/lib/systemd").mkdir(parents=True)
    (root / "usr/lib/systemd/system").symlink_to("/usr/lib/systemd/system")  # the host's own units
    proc = subprocess.run(
        ["systemd-analyze", "verify", f"--root={root}", "otklik.service"], capture_output=True, text=True
    )
    # The host's units reached through the symlink make it warn about their own symlinks.
    problems = [line for line in proc.stderr.splitlines() if "otklik" in line]
    assert proc.returncode == 0 and problems == [], proc.stderr


def test_documented_install_upgrade_and_rollback(tmp_path: Path, dependency_site: Path) -> None:
    assert set(page_blocks()) == {"install", "upgrade", "rollback"}
    version = metadata.version("otklik")
    old = make_release(tmp_path / "release-old", version)
    new = make_release(tmp_path / "release-new", f"{version}.post1")
    root = tmp_path / "root"
    (root / "etc/systemd/system").mkdir(parents=True)  # present on every systemd host
    bin_dir = tmp_path / "bin"
    python_wrapper(bin_dir, dependency_site)
    venv = root / "opt/otklik/venv"

    # The wheel holds the service only, and the license.
    (wheel,) = (old / "dist").glob("otklik-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {
        "bot", "reports", "storage", "survey_flow", f"otklik-{version}.dist-info"
    }  # fmt: skip
    assert f"otklik-{version}.dist-info/licenses/LICENSE" in names

    out = run_block("install", old, root, bin_dir)
    assert f"otklik {version}\n" in out
    installed = subprocess.run(
        [venv / "bin/python", "-c", "import bot, sqlalchemy; print(bot.__file__)"],
        cwd=tmp_path, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert installed.startswith(str(venv / "lib")), installed  # a real install, not the sources
    assert stat.S_IMODE((root / "etc/otklik/env").stat().st_mode) == 0o600
    assert stat.S_IMODE((root / "var/lib/otklik").stat().st_mode) == 0o700
    database = root / "var/lib/otklik/otklik.db"
    assert f'url = "sqlite+aiosqlite:///{database}"' in (root / "etc/otklik/config.toml").read_text()
    with closing(sqlite3.connect(database)) as conn, conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"respondents", "answers", "alembic_version"} <= tables
    # The unit points at what the page installed.
    paths = unit_paths(root / "etc/systemd/system/otklik.service")
    assert Path(f"{root}{paths['ExecStart']}").is_file() and os.access(f"{root}{paths['ExecStart']}", os.X_OK)
    assert all(Path(f"{root}{paths[key]}").exists() for key in ("EnvironmentFile", "ReadWritePaths"))
    assert paths["WorkingDirectory"] == paths["ReadWritePaths"] == "/var/lib/otklik"
    if shutil.which("systemd-analyze"):  # else tests/system/test_deploy_files.py skips with the reason
        verify_unit(root)

    with closing(sqlite3.connect(database)) as conn, conn:  # an answer given on the old version
        conn.execute("CREATE TABLE marker (v TEXT)")
        conn.execute("INSERT INTO marker VALUES ('before upgrade')")
    out = run_block("upgrade", new, root, bin_dir)
    assert f"otklik {version}.post1\n" in out
    (backup,) = (root / "var/backups/otklik").glob("before-upgrade-*.db")
    with closing(sqlite3.connect(database)) as conn, conn:  # written after the backup: the rollback drops it
        conn.execute("UPDATE marker SET v = 'after upgrade'")

    out = run_block("rollback", old, root, bin_dir)
    assert f"otklik {version}\n" in out
    with closing(sqlite3.connect(database)) as conn, conn:
        assert conn.execute("SELECT v FROM marker").fetchall() == [("before upgrade",)]
    assert backup.exists()
    recorded = (root / "recorded.log").read_text().splitlines()
    assert recorded == [
        f"useradd --system --home-dir {root}/var/lib/otklik --shell /usr/sbin/nologin otklik",
        f"chown otklik:otklik {root}/var/lib/otklik {root}/var/backups/otklik",
        f"chgrp otklik {root}/etc/otklik/config.toml",
        "systemctl daemon-reload",
        "systemctl stop otklik",
        "systemctl start otklik",
        "systemctl stop otklik",
        "systemctl start otklik",
    ]
