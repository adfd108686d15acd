"""A real PostgreSQL server for the tests: `initdb` + `pg_ctl` in a temporary directory.

The server listens on 127.0.0.1 (a free port) with password authentication, and its unix socket
in its own directory. Tests get their own database (`fresh_database`), so they never see each
other's rows. The binaries come from Debian's `postgresql` package (`.ci/run` installs it);
`initdb` refuses to run as root, so as root the server runs as the `postgres` user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

# A password that must never show up in a log, the journal, an error or the status output.
PLANTED_PASSWORD = "pg-planted-7c1f-secret"
WORKER_USER = "allora"


def postgres_bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PgServer:
    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="allora-pg-"))
        self.data = self.root / "data"
        self.sockets = self.root / "sock"
        self.log = self.root / "server.log"
        self.port = _free_port()
        self._as_postgres = os.geteuid() == 0
        self.sockets.mkdir()
        pwfile = self.root / "pw"
        pwfile.write_text(PLANTED_PASSWORD + "\n")
        if self._as_postgres:
            entry = pwd.getpwnam("postgres")
            for path in (self.root, self.sockets, pwfile):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth-local=trust",
                  "--auth-host=scram-sha-256", f"--pwfile={pwfile}", "-E", "UTF8", "--no-instructions")
        pwfile.unlink()
        self.start()
        self.psql(f"CREATE ROLE {WORKER_USER} LOGIN PASSWORD '{PLANTED_PASSWORD}'")

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bindir / tool), *args]
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, check=check, timeout=120)

    def start(self) -> None:
        opts = (f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 -c fsync=on "
                "-c max_connections=60 -c shared_buffers=16MB")
        self._run("pg_ctl", "-D", str(self.data), "-o", opts, "-l", str(self.log), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop", check=False)

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        out = self._run("psql", "-h", str(self.sockets), "-p", str(self.port), "-U", "postgres", "-d", dbname,
                        "-v", "ON_ERROR_STOP=1", "-Atc", sql)
        return out.stdout

    def fresh_database(self) -> str:
        name = "j_" + uuid.uuid4().hex[:12]
        self.psql(f"CREATE DATABASE {name} OWNER {WORKER_USER}")
        return name

    def url(self, dbname: str, *, port: int | None = None) -> str:
        """The state_url a user writes: no password in it (that comes from a file or the env)."""
        return f"postgresql://{WORKER_USER}@127.0.0.1:{port or self.port}/{dbname}"

    def close(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)
