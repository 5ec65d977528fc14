"""A throw-away PostgreSQL cluster on 127.0.0.1: initdb into a fresh folder, pg_ctl start, pg_ctl stop.

Shared by tests/e2e/test_compose_topology.py and benchmarks/bench_scaling.py, which both run docker/compose.yaml's
servers without containers. Needs the server binaries (Debian's `postgresql` package). initdb and pg_ctl refuse to
run as root, so as root they run as the `postgres` user, and the cluster's folder is that user's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path


def postgres_bin() -> Path | None:
    """The newest /usr/lib/postgresql/<version>/bin holding initdb, or None."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    return found[-1].parent if found else None


def as_postgres(command: list[str]) -> list[str]:
    """initdb and pg_ctl refuse to run as root: run them as the `postgres` user then."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def cluster_dir(base: Path) -> Path:
    """``base/pg``, private to the user PostgreSQL runs as; ``base`` itself must be readable by that user (not a
    folder under pytest's tmp, which is private to root)."""
    folder = base / "pg"
    folder.mkdir()
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    folder.chmod(0o700)
    return folder


def start_postgres(pg_bin: Path, folder: Path, port: int | str, password: str) -> Path:
    """initdb a cluster into ``folder/data`` whose superuser `postgres` has ``password``, start it on 127.0.0.1:``port``
    (its socket and log in ``folder``); return the data folder. Raise RuntimeError, with the log, if it does not start.
    """
    pg_data = folder / "data"
    password_file = folder / "superuser-password"
    password_file.write_text(password + "\n")
    if os.geteuid() == 0:
        shutil.chown(password_file, "postgres", "postgres")
    # Passwords over TCP (scram), as the servers in the stack connect; trust only on the private socket.
    subprocess.run(
        as_postgres([str(pg_bin / "initdb"), "--pgdata", str(pg_data), "--username", "postgres",
                     "--pwfile", str(password_file), "--auth-local", "trust", "--auth-host", "scram-sha-256",
                     "--encoding", "UTF8", "--no-sync"]),
        check=True, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {folder}"
    done = subprocess.run(
        as_postgres([str(pg_bin / "pg_ctl"), "--pgdata", str(pg_data), "--log", str(folder / "log"),
                     "--options", options, "--wait", "--timeout", "60", "start"]),
        capture_output=True, text=True, timeout=90,
    )  # fmt: skip
    if done.returncode != 0:
        log = (folder / "log").read_text(errors="replace") if (folder / "log").exists() else ""
        raise RuntimeError(f"PostgreSQL did not start:\n{done.stdout}{done.stderr}{log}")
    return pg_data


def stop_postgres(pg_bin: Path, pg_data: Path) -> None:
    """Stop the cluster in ``pg_data`` if it runs (fast mode: open connections are closed)."""
    if (pg_data / "postmaster.pid").exists():
        subprocess.run(
            as_postgres([str(pg_bin / "pg_ctl"), "--pgdata", str(pg_data), "--mode", "fast", "stop"]),
            capture_output=True, timeout=60,
        )  # fmt: skip
