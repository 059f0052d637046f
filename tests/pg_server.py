"""A throwaway PostgreSQL for the tests, from the distribution's server package.

`running()` runs `initdb` into a fresh temporary folder, starts the server on a Unix
socket in that folder only (no TCP port, so parallel runs never collide), yields its URI
and stops it (`pg_ctl stop -m fast`) and removes the folder afterwards, also on failure.
`load()` and `evaluate()` put tables into it and run a rule program's SQL there.

PostgreSQL refuses to run as root; CI does run as root, so then the server runs as the
`postgres` system user (or `nobody`) through `runuser`, in a folder that user owns.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import polars as pl

import tagengine
from tagengine.engines import expected_schema

SERVER = ("initdb", "pg_ctl", "postgres")
INSTALL = "install it with `apt-get install postgresql`"
DATABASE = "tagengine"
SETTINGS = {
    "listen_addresses": "''",  # the Unix socket only
    "fsync": "off",  # a throwaway database: durability buys nothing, and costs seconds
    "synchronous_commit": "off",
    "full_page_writes": "off",
}

# The database's default order is a language's (ICU en-US), as on most production servers,
# so that the dialect's own ordering by code point (COLLATE "C") is what the tests see
# working; before Postgres 15, or without ICU, the C.UTF-8 locale (which orders by code
# point already). C.UTF-8 either way for the rest: upper/lower know every letter, and no
# locale of the machine leaks in.
COLLATIONS = (["--locale-provider=icu", "--icu-locale=en-US"], [])


class Unavailable(Exception):
    """No PostgreSQL server here: the reason says what is missing and how to install it."""


def _candidates() -> Iterator[Path]:
    """Folders that may hold the server binaries, the most likely first."""
    if shutil.which("pg_config"):
        done = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        if done.returncode == 0:
            yield Path(done.stdout.strip())
    # Debian and Ubuntu keep the server off PATH, one folder per major version
    yield from sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_major, reverse=True)
    for name in SERVER:
        found = shutil.which(name)
        if found:
            yield Path(found).resolve().parent


def _major(bindir: Path) -> int:
    return int(bindir.parent.name) if bindir.parent.name.isdigit() else 0


def find_bindir() -> Path:
    """The folder holding initdb, pg_ctl and postgres; Unavailable says which is missing."""
    for folder in _candidates():
        if all((folder / name).is_file() for name in SERVER):
            return folder
    missing = [name for name in SERVER if not shutil.which(name)]
    raise Unavailable(
        f"no PostgreSQL server: `{missing[0] if missing else 'initdb'}` is not on PATH nor "
        f"in /usr/lib/postgresql/*/bin nor in `pg_config --bindir`; {INSTALL}"
    )


def psql() -> str:
    """The psql client, which loads the test tables (its \\copy reads local files)."""
    for folder in _candidates():
        if (folder / "psql").is_file():
            return str(folder / "psql")
    found = shutil.which("psql")
    if not found:
        raise Unavailable("`psql` is missing; install it with `apt-get install postgresql-client`")
    return found


def _server_user() -> tuple[list[str], str | None]:
    """The command prefix that runs the server binaries, and the user to own its folder."""
    if os.geteuid() != 0:
        return [], None
    for user in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(user)
            runuser = shutil.which("runuser")
            if not runuser:
                raise Unavailable("running as root, and `runuser` (util-linux) is missing")
            return [runuser, "-u", user, "--"], user
    raise Unavailable("running as root, and there is no `postgres` or `nobody` user")


@contextlib.contextmanager
def running(bindir: Path) -> Iterator[str]:
    """A fresh server with an empty database; yields `postgresql://postgres@SOCKET/tagengine`."""
    prefix, user = _server_user()
    # Not pytest's tmp_path: a socket path must stay under ~107 bytes, and as root pytest's
    # folder (/tmp/pytest-of-root, mode 0700) is closed to the server's user.
    folder = Path(tempfile.mkdtemp(prefix="tagengine-pg-"))
    data, log = folder / "data", folder / "server.log"

    def run(*args: str | Path) -> None:
        done = subprocess.run(
            [*prefix, *map(str, args)], cwd=folder, capture_output=True, text=True, timeout=120
        )
        if done.returncode != 0:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{args[0]} failed:\n{done.stdout}{done.stderr}{tail}")

    try:
        if user:
            shutil.chown(folder, user)
        for collation in COLLATIONS:
            try:
                run(bindir / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8",
                    "--locale=C.UTF-8", *collation, "--no-sync")  # fmt: skip
                break
            except RuntimeError:
                if collation is COLLATIONS[-1]:
                    raise
                shutil.rmtree(data, ignore_errors=True)
        settings = {**SETTINGS, "unix_socket_directories": f"'{folder}'"}
        with open(data / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.writelines(f"{k} = {v}\n" for k, v in settings.items())
        run(bindir / "pg_ctl", "-D", data, "-l", log, "-w", "-t", "60", "start")
        try:
            server = f"postgresql://postgres@{quote(str(folder), safe='')}"
            _psql(f"{server}/postgres", f"CREATE DATABASE {DATABASE}")
            yield f"{server}/{DATABASE}"
        finally:
            run(bindir / "pg_ctl", "-D", data, "-m", "fast", "-w", "stop")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _psql(uri: str, script: str) -> None:
    done = subprocess.run(
        [psql(), uri, "-v", "ON_ERROR_STOP=1", "-q"], input=script, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def _type(dtype: pl.DataType) -> str:
    if isinstance(dtype, pl.Decimal):
        return f"NUMERIC({dtype.precision or 38},{dtype.scale or 0})"
    if isinstance(dtype, pl.Datetime):
        return "TIMESTAMP"
    if dtype.is_integer():
        return "BIGINT"
    if dtype.is_float():
        return "DOUBLE PRECISION"
    return {pl.Boolean: "BOOLEAN", pl.Date: "DATE"}.get(dtype.base_type(), "TEXT")


def load(uri: str, tables: dict[str, pl.DataFrame], folder: Path) -> None:
    """Replace the tables `customers`, `orders`, ... with these frames (through CSV)."""
    script = []
    for name, df in tables.items():
        path = folder / f"{name}.csv"
        df.write_csv(path, null_value="\\N")
        columns = ", ".join(f'"{c}" {_type(t)}' for c, t in df.schema.items())
        script += [
            f'DROP TABLE IF EXISTS "{name}";',
            f'CREATE TABLE "{name}" ({columns});',
            f"\\copy \"{name}\" FROM '{path}' WITH (FORMAT csv, HEADER true, NULL '\\N')",
        ]
    _psql(uri, "\n".join(script))


def evaluate(
    uri: str,
    rules: tagengine.RuleSet,
    tables: dict[str, pl.DataFrame],
    as_of: dt.date,
    folder: Path,
) -> tuple[pl.DataFrame, str]:
    """The rules' Postgres SQL run in Postgres, typed as the Polars engine types its output;
    and the SQL, for messages."""
    load(uri, tables, folder)
    schema = {name: df.schema for name, df in tables.items()}
    text = rules.sql(schema, as_of=as_of, dialect="postgres")
    got = pl.read_database_uri(text, uri)
    want = expected_schema(rules.compile(schema), schema, as_of, None)
    got.columns = want.names()
    return got.cast(dict(want)), text
