"""A throwaway PostgreSQL cluster for the test session (Debian's PostgreSQL binaries).

initdb refuses to run as root, so as root the cluster is run by the ``postgres`` user; the
data directory lives in a fresh temp folder owned by whoever runs the server. Trust auth on
127.0.0.1 only; the cluster is stopped and removed when the session ends.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _bindir() -> Path:
    """Folder of initdb/pg_ctl: ``pg_config --bindir``, else the newest Debian cluster."""
    try:
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        if out.returncode == 0 and (Path(out.stdout.strip()) / "initdb").exists():
            return Path(out.stdout.strip())
    except OSError:
        pass
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                   key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0)
    if not found:
        raise RuntimeError("PostgreSQL server binaries not found (initdb, pg_ctl): "
                           "run 'make deps' or install Debian's postgresql package")
    return found[-1].parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_server_user(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    return ["su", "postgres", "-s", "/bin/sh", "-c", " ".join(f"'{c}'" for c in cmd)]


@contextmanager
def postgres_server() -> Iterator[str]:
    """Start a cluster; yield the SQLAlchemy URL of a fresh database on it."""
    bindir, port = _bindir(), free_port()
    root = Path(tempfile.mkdtemp(prefix="rw-pg-"))
    data = root / "data"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    run = lambda cmd: subprocess.run(_as_server_user(cmd), check=True,  # noqa: E731
                                     capture_output=True, text=True)
    try:
        run([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
             "-E", "UTF8", "--no-sync"])
        run([str(bindir / "pg_ctl"), "-D", str(data), "-w", "-l", str(root / "log"), "-o",
             f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off", "start"])
        try:
            run([str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U",
                 "postgres", "rehabwatch"])
            yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/rehabwatch"
        finally:
            run([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"])
    finally:
        shutil.rmtree(root, ignore_errors=True)
