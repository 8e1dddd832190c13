"""Differential-test oracle: runs command sequences through the real Alembic.

Reads one JSON document on stdin:

    {"graphs": [{"name": "g1",
                 "revisions": [{"id": "a1", "down": [], "labels": ["x"], "depends_on": []}, ...],
                 "commands": [{"op": "upgrade", "target": "head"},
                              {"op": "stamp", "targets": ["a1", "b2"], "purge": true}, ...]},
                ...],
     "keep_dir": "/optional/folder/to/keep/the/projects/in",
     "sort_version_rows": true,
     "server": {"url": "postgresql+psycopg2://user@host:port/db",
                "ran_log_ddl": "CREATE TABLE ran_log (...)",
                "transaction_per_migration": [false, ...]}}

"server" is optional: without it every graph gets its own SQLite file. With it every graph runs
on that one server database (PostgreSQL through psycopg2, MySQL/MariaDB through PyMySQL), which
is emptied before each graph and given the ran_log table by the caller's DDL; the
transaction_per_migration list (one per graph) is handed to Alembic's context.configure, so that
Alembic groups migrations into transactions as our run of the same graph does. Offline scripts
are then returned as text ("offline_script") for the caller to apply on a scratch database of
the same dialect, instead of being applied here on SQLite.

For each graph it writes an Alembic project (alembic.ini, env.py, one .py file per revision whose
upgrade()/downgrade() insert a row into ran_log) into a fresh folder, creates the SQLite database
with the ran_log table (outside Alembic's version control), runs every command in this one
process through alembic.command, and after each command records: whether it succeeded (or the
error's class and message), the sorted alembic_version rows, and the ran_log rows that command
added, in order. Writes {"alembic": VERSION, "graphs": [{"name", "setup_error", "steps": [...]}]}
on stdout. Everything Alembic prints goes to stderr so stdout stays one JSON document.
"""

import contextlib
import io
import json
import os
import re
import sqlite3
import sys
import tempfile
import traceback

import alembic
from alembic import command
from alembic.config import Config

ENV_PY = '''
from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config


def run_migrations_offline():
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=None,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    connectable = engine_from_config(
        config.get_section(config.config_ini_section, {}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    options = {}
    # Only set for the server runs (absent on SQLite, whose run stays what it always was).
    per_migration = config.get_main_option("transaction_per_migration")
    if per_migration is not None:
        options["transaction_per_migration"] = per_migration == "true"
    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=None, **options)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
'''

# A migration's SQL in an offline script starts a line with its ran_log insert.
OFFLINE_MARK = re.compile(
    r"^\s*INSERT INTO ran_log \(rev, direction\) VALUES \('([^']+)', '(up|down)'\)",
    re.MULTILINE,
)

ALEMBIC_INI = '''[alembic]
script_location = %(here)s/migrations
sqlalchemy.url = sqlite:///%(here)s/test.db
'''


def revision_source(rev):
    """One migration module; repr() keeps ids and labels exact Python literals."""

    def tuple_or_none(items):
        if not items:
            return "None"
        if len(items) == 1:
            return repr(items[0])
        return repr(tuple(items))

    rid = rev["id"]
    return (
        '"""%s"""\n'
        "from alembic import op\n\n"
        "revision = %r\n"
        "down_revision = %s\n"
        "branch_labels = %s\n"
        "depends_on = %s\n\n\n"
        "def upgrade():\n"
        "    op.execute(\"INSERT INTO ran_log (rev, direction) VALUES ('%s', 'up')\")\n"
        "%s\n\n"
        "def downgrade():\n"
        "    op.execute(\"INSERT INTO ran_log (rev, direction) VALUES ('%s', 'down')\")\n"
    ) % (
        rid,
        rid,
        tuple_or_none(rev.get("down", [])),
        tuple_or_none(rev.get("labels", [])),
        tuple_or_none(rev.get("depends_on", [])),
        rid,
        (
            "    op.execute(\"INSERT INTO no_such_table (x) VALUES (1)\")\n"
            if rev.get("fails")
            else ""
        ),
        rid,
    )


class Server:
    """One database on a PostgreSQL or MySQL server, read and written through SQLAlchemy."""

    def __init__(self, url, ran_log_ddl):
        import sqlalchemy

        self.sa = sqlalchemy
        self.url = url
        self.ran_log_ddl = ran_log_ddl
        self.engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
        self.postgres = self.engine.dialect.name == "postgresql"

    def reset(self):
        """Empties the database (whatever the previous graph left) and creates ran_log."""
        sa = self.sa
        with self.engine.begin() as conn:
            if self.postgres:
                conn.execute(sa.text("DROP SCHEMA public CASCADE"))
                conn.execute(sa.text("CREATE SCHEMA public"))
            else:
                for table in sa.inspect(conn).get_table_names():
                    conn.execute(sa.text("DROP TABLE `%s`" % table))
            conn.execute(sa.text(self.ran_log_ddl))

    def has_version_table(self, conn):
        return self.sa.inspect(conn).has_table("alembic_version")

    def read_state(self, after_seq):
        sa = self.sa
        with self.engine.connect() as conn:
            versions = []
            if self.has_version_table(conn):
                versions = sorted(
                    r[0] for r in conn.execute(sa.text("SELECT version_num FROM alembic_version"))
                )
            rows = conn.execute(
                sa.text(
                    "SELECT seq, rev, direction FROM ran_log WHERE seq > :s ORDER BY seq"
                ),
                {"s": after_seq},
            ).fetchall()
        last = rows[-1][0] if rows else after_seq
        return versions, [[r[1], r[2]] for r in rows], last

    def set_rows(self, rows, only_if_unsorted=False):
        sa = self.sa
        with self.engine.begin() as conn:
            if only_if_unsorted:
                if not self.has_version_table(conn):
                    return
                now = [r[0] for r in conn.execute(sa.text("SELECT version_num FROM alembic_version"))]
                if now == sorted(now):
                    return
                rows = sorted(now)
            conn.execute(
                sa.text(
                    "CREATE TABLE IF NOT EXISTS alembic_version (version_num VARCHAR(32) NOT NULL, "
                    "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
                )
            )
            conn.execute(sa.text("DELETE FROM alembic_version"))
            for r in rows:
                conn.execute(
                    sa.text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": r}
                )


def write_project(root, graph, server=None, per_migration=None):
    versions = os.path.join(root, "migrations", "versions")
    os.makedirs(versions)
    with open(os.path.join(root, "alembic.ini"), "w") as f:
        if server is None:
            f.write(ALEMBIC_INI)
        else:
            f.write(
                "[alembic]\nscript_location = %%(here)s/migrations\nsqlalchemy.url = %s\n"
                "transaction_per_migration = %s\n"
                % (server.url.replace("%", "%%"), "true" if per_migration else "false")
            )
    with open(os.path.join(root, "migrations", "env.py"), "w") as f:
        f.write(ENV_PY)
    for i, rev in enumerate(graph["revisions"]):
        name = "r%03d_%s.py" % (i, rev["id"])
        with open(os.path.join(versions, name), "w") as f:
            f.write(revision_source(rev))
    if server is not None:
        server.reset()
        return server
    db = os.path.join(root, "test.db")
    conn = sqlite3.connect(db)
    conn.execute(
        "CREATE TABLE ran_log (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
        "rev TEXT NOT NULL, direction TEXT NOT NULL)"
    )
    conn.commit()
    conn.close()
    return db


def read_state(db, after_seq):
    conn = sqlite3.connect(db)
    try:
        try:
            versions = sorted(
                r[0] for r in conn.execute("SELECT version_num FROM alembic_version")
            )
        except sqlite3.OperationalError:
            versions = []  # no version table yet
        rows = conn.execute(
            "SELECT seq, rev, direction FROM ran_log WHERE seq > ? ORDER BY seq",
            (after_seq,),
        ).fetchall()
    finally:
        conn.close()
    last = rows[-1][0] if rows else after_seq
    return versions, [[r[1], r[2]] for r in rows], last


def set_version_rows(db, rows):
    """Writes alembic_version directly (Alembic's own DDL), for states no command makes."""
    conn = sqlite3.connect(db)
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS alembic_version (version_num VARCHAR(32) NOT NULL, "
            "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
        )
        conn.execute("DELETE FROM alembic_version")
        conn.executemany(
            "INSERT INTO alembic_version (version_num) VALUES (?)", [(r,) for r in rows]
        )
        conn.commit()
    finally:
        conn.close()


def sort_version_rows(db):
    """Rewrites alembic_version so its rows come back in sorted order.

    Alembic reads the version rows without ORDER BY and, for `downgrade -N` with several current
    heads, walks down from whichever row the database returns first (it warns that this usage is
    ambiguous). On SQLite that is insertion (rowid) order, on PostgreSQL heap order, which an
    UPDATE can change. cargo-alembic takes the heads in sorted order instead, the same on every
    database (docs/alembic-differences.md). Sorting the rows here before each command makes
    Alembic choose the same row, so such steps are still compared exactly.
    """
    conn = sqlite3.connect(db)
    try:
        try:
            rows = [r[0] for r in conn.execute("SELECT version_num FROM alembic_version")]
        except sqlite3.OperationalError:
            return  # no version table yet
        if rows != sorted(rows):
            conn.execute("DELETE FROM alembic_version")
            conn.executemany(
                "INSERT INTO alembic_version (version_num) VALUES (?)",
                [(r,) for r in sorted(rows)],
            )
            conn.commit()
    finally:
        conn.close()


def offline_start(cmd, ids):
    """The version rows an offline script starts from, when the command says: [] for no range
    or a range from base, [ID] for a range from a full revision id, None otherwise."""
    target = cmd["target"]
    if ":" not in target:
        return []
    start = target.split(":", 1)[0]
    if start == "base":
        return []
    if start in ids:
        return [start]
    return None


def apply_offline_script(script, start):
    """Runs an offline script on a scratch SQLite database holding `start` as its version rows
    (and the ran_log table the scripts write to); the sorted version rows it leaves, or the
    error that stopped it, as a one-element list."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute("CREATE TABLE ran_log (rev TEXT, direction TEXT)")
        if start:
            conn.execute(
                "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
                "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
            )
            conn.executemany(
                "INSERT INTO alembic_version (version_num) VALUES (?)", [(r,) for r in start]
            )
        conn.commit()
        try:
            conn.executescript(script)
            return sorted(r[0] for r in conn.execute("SELECT version_num FROM alembic_version"))
        except sqlite3.Error as e:
            return ["<script failed: %s>" % e]
    finally:
        conn.close()


def run_command(cfg, cmd):
    op = cmd["op"]
    if op == "upgrade":
        command.upgrade(cfg, cmd["target"], sql=bool(cmd.get("sql", False)))
    elif op == "downgrade":
        command.downgrade(cfg, cmd["target"], sql=bool(cmd.get("sql", False)))
    elif op == "stamp":
        command.stamp(cfg, list(cmd["targets"]), purge=bool(cmd.get("purge", False)))
    elif op == "set_rows":
        pass  # done by run_graph, outside Alembic
    else:
        raise ValueError("unknown op %r" % op)


def run_graph(graph, base_dir, sort_rows, server=None, per_migration=None):
    root = tempfile.mkdtemp(prefix="oracle-", dir=base_dir)
    result = {"name": graph.get("name"), "dir": root, "setup_error": None, "steps": []}
    try:
        db = write_project(root, graph, server, per_migration)
    except Exception as e:  # noqa: BLE001 - reported to the Rust side
        result["setup_error"] = "%s: %s" % (type(e).__name__, e)
        return result
    cfg = Config(os.path.join(root, "alembic.ini"), stdout=sys.stderr)
    seq = 0
    for cmd in graph["commands"]:
        step = {"ok": True, "error": None}
        if cmd["op"] == "set_rows":
            if server is None:
                set_version_rows(db, cmd["rows"])
            else:
                server.set_rows(cmd["rows"])
        if sort_rows:
            if server is None:
                sort_version_rows(db)
            else:
                server.set_rows([], only_if_unsorted=True)
        script = io.StringIO()
        try:
            # Offline mode writes its SQL to stdout; online commands print nothing there.
            with contextlib.redirect_stdout(script):
                run_command(cfg, cmd)
        except Exception as e:  # noqa: BLE001 - every failure is data here
            step["ok"] = False
            step["error"] = {
                "class": type(e).__name__,
                "module": type(e).__module__,
                "message": str(e),
                "command_error": isinstance(e, alembic.util.CommandError),
                # The database refused a migration's SQL: a failure of the script, not of Alembic.
                "db_error": type(e).__module__.startswith("sqlalchemy"),
                "traceback": traceback.format_exc(limit=-3),
            }
        if server is None:
            step["versions"], step["ran"], seq = read_state(db, seq)
        else:
            step["versions"], step["ran"], seq = server.read_state(seq)
        step["offline_rows"] = None
        step["offline_script"] = None
        if cmd.get("sql"):
            # The migrations whose SQL the offline script holds, in order (see ran_log marks).
            step["ran"] += [
                [m.group(1), m.group(2)] for m in OFFLINE_MARK.finditer(script.getvalue())
            ]
            start = offline_start(cmd, {r["id"] for r in graph["revisions"]})
            if server is not None:
                step["offline_script"] = script.getvalue()
            elif step["ok"] and start is not None:
                step["offline_rows"] = apply_offline_script(script.getvalue(), start)
        else:
            sys.stderr.write(script.getvalue())
        result["steps"].append(step)
    return result


def main():
    spec = json.load(sys.stdin)
    keep = spec.get("keep_dir")
    if keep:
        os.makedirs(keep, exist_ok=True)
        base = keep
        ctx = contextlib.nullcontext(keep)
    else:
        ctx = tempfile.TemporaryDirectory(prefix="alembic-oracle-")
    server_spec = spec.get("server")
    server = None
    per_migration = [None] * len(spec["graphs"])
    if server_spec:
        server = Server(server_spec["url"], server_spec["ran_log_ddl"])
        per_migration = server_spec["transaction_per_migration"]
    with ctx as base:
        out = {
            "alembic": alembic.__version__,
            "graphs": [
                run_graph(g, base, spec.get("sort_version_rows", True), server, tpm)
                for g, tpm in zip(spec["graphs"], per_migration)
            ],
        }
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
