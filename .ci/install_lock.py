"""Install requirements.lock (and the --no-deps extras) into a venv, with uv when it can be had, else pip.

`make setup` calls it. The packages installed are the same either way: every version is pinned by the
lock. uv (https://docs.astral.sh/uv/) downloads in parallel and copies from its cache: on the 2-core
machine a cold install of the lock took 1 min 43 s wall and 36 s of CPU against pip's 10 min and 186 s
in the same period of load (README, "Set-up time"). uv does not compile bytecode (pip does, ~1 min of
CPU for torch alone): Python writes each module's .pyc the first time it is imported instead.

uv reads no pip configuration, so pip's sources (index-url, extra-index-url, find-links, constraint,
cert, from pip.conf files and PIP_* variables, as `pip config list` reports them) are passed on to it,
with pip's "best version across all indexes" rule (`--index-strategy unsafe-best-match`). uv is taken
from PATH, else installed into the venv with pip (one 17 MB wheel, pinned); if that or uv itself fails,
pip installs everything as before. RFTLIB_INSTALLER=pip forces pip.

Usage: python .ci/install_lock.py VENV_PYTHON LOCK [NO_DEPS_REQUIREMENT ...]
"""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

UV = "uv==0.13.8"
PIP = ["-m", "pip", "install", "-q", "--disable-pip-version-check"]


def pip_sources(python: str) -> tuple[list[str], dict[str, str]]:
    """uv options and environment carrying pip's configured sources (`pip config list`: files and
    PIP_* variables, later scopes winning as in pip)."""
    listing = subprocess.run([python, "-m", "pip", "config", "list"], capture_output=True, text=True).stdout
    values: dict[str, str] = {}
    lines = [line for line in listing.splitlines() if "=" in line]
    for line in sorted(lines, key=lambda line: line.startswith(":env:")):  # PIP_* variables win, as in pip
        key, _, raw = line.partition("=")
        name = key.rsplit(".", 1)[-1]  # global.find-links, install.find-links, :env:.find-links
        values[name] = raw.strip().strip("'\"")
    options = []
    for name, flag in (("index-url", "--index-url"), ("extra-index-url", "--extra-index-url"),
                       ("find-links", "--find-links"), ("constraint", "--constraint")):
        for value in values.get(name, "").split():
            options += [flag, value]
    env = {}
    if values.get("cert"):
        env["SSL_CERT_FILE"] = values["cert"]
    if values.get("default-timeout") or values.get("timeout"):
        env["UV_HTTP_TIMEOUT"] = values.get("default-timeout") or values["timeout"]
    return options, env


def find_uv(python: str) -> str | None:
    """uv from PATH, from the venv, or installed into the venv with pip; None when none can be had."""
    beside = Path(python).parent / "uv"
    for candidate in (shutil.which("uv"), str(beside)):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    installed = subprocess.run([python, *PIP, UV])
    return str(beside) if installed.returncode == 0 and os.access(beside, os.X_OK) else None


def run(argv: list[str], env: dict[str, str] | None = None) -> bool:
    print("+", shlex.join(argv), flush=True)
    return subprocess.run(argv, env={**os.environ, **(env or {})}).returncode == 0


def install_with_uv(python: str, lock: str, no_deps: list[str]) -> bool:
    if os.environ.get("RFTLIB_INSTALLER", "uv") == "pip":
        return False
    uv = find_uv(python)
    if uv is None:
        return False
    options, env = pip_sources(python)
    base = [uv, "pip", "install", "--quiet", "--python", python, "--index-strategy", "unsafe-best-match", *options]
    return run([*base, "-r", lock], env) and (not no_deps or run([*base, "--no-deps", *no_deps], env))


def main(argv: list[str]) -> int:
    python, lock, *no_deps = argv
    if install_with_uv(python, lock, no_deps):
        return 0
    print("install_lock: installing with pip", flush=True)
    ok = run([python, *PIP, "-r", lock]) and (not no_deps or run([python, *PIP, "--no-deps", *no_deps]))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
