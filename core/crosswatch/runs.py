"""The run history: every job crosswatch ran, in one SQLite file ``.cw_state/runs.sqlite3``.

A job (a sync run or applied plan, a capture, a restore, a prune, a clear, a failed sign-in)
gets a row when it starts (result ``running``) and the same row is finished when it ends:
``ok``, ``failed``, ``refused`` (a guard or a safety rule said no) or ``interrupted``. The
command line and the daemon write it alike; SQLite's WAL mode and a busy timeout make
concurrent writers safe. A row still ``running`` whose process is gone (killed, or the machine
went down) is marked ``interrupted`` by the next process that opens the history.

Rows are kept for ``[history] keep_days`` and at most ``keep_runs`` of them. A damaged file is
moved aside and a new one started: the history is a record, never a reason for a job to fail.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import structlog

from crosswatch.config.schema import HistoryConfig
from crosswatch.crashpoints import crash_point
from crosswatch.state import StateDir, move_aside

log = structlog.get_logger("crosswatch.runs")

RUNS_FILE = "runs.sqlite3"
RESULTS = ("running", "ok", "failed", "refused", "interrupted")
KINDS = ("sync", "apply", "capture", "restore", "prune", "clear", "sign-in")
TRIGGERS = ("schedule", "command", "web")
MAX_PROBLEMS = 500  # items not written kept with a run (the unresolved files keep every one)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    job       TEXT NOT NULL,
    kind      TEXT NOT NULL,
    trigger   TEXT NOT NULL,
    pair      TEXT,
    provider  TEXT,
    profile   TEXT,
    feature   TEXT,
    started   REAL NOT NULL,
    ended     REAL,
    result    TEXT NOT NULL,
    counts    TEXT NOT NULL DEFAULT '{}',
    requests  INTEGER,
    error     TEXT,
    safety    TEXT NOT NULL DEFAULT '[]',
    summary   TEXT NOT NULL DEFAULT '[]',
    problems  TEXT NOT NULL DEFAULT '[]',
    pid       INTEGER,
    pid_start TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_job ON runs (job, id);
CREATE INDEX IF NOT EXISTS runs_by_started ON runs (started);
CREATE INDEX IF NOT EXISTS runs_running ON runs (result) WHERE result = 'running';
CREATE INDEX IF NOT EXISTS runs_ok ON runs (job, ended) WHERE result = 'ok';
"""

_COLUMNS = (
    "id, job, kind, trigger, pair, provider, profile, feature, started, ended, result, counts, requests, error, safety,"
    " summary, problems"
)


@dataclass
class Run:
    """One job as recorded: what, on what, started and ended when (epoch seconds), how it went."""

    id: int
    job: str
    kind: str
    trigger: str
    started: float
    result: str
    pair: str | None = None
    provider: str | None = None
    profile: str | None = None
    feature: str | None = None
    ended: float | None = None
    counts: dict[str, int] = field(default_factory=dict)
    requests: int | None = None
    error: str | None = None
    safety: list[str] = field(default_factory=list)
    summary: list[dict[str, Any]] = field(default_factory=list)  # the summary table's rows
    problems: list[dict[str, Any]] = field(default_factory=list)  # items not written: failed or unresolved, why

    @property
    def seconds(self) -> float | None:
        return None if self.ended is None else round(self.ended - self.started, 3)

    @property
    def ended_well(self) -> bool:
        return self.result == "ok"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["seconds"] = self.seconds
        return data


def _run(row: tuple[Any, ...]) -> Run:
    (
        id_,
        job,
        kind,
        trigger,
        pair,
        provider,
        profile,
        feature,
        started,
        ended,
        result,
        counts,
        requests,
        error,
        safety,
    ) = row[:15]
    return Run(
        id=id_,
        job=job,
        kind=kind,
        trigger=trigger,
        pair=pair,
        provider=provider,
        profile=profile,
        feature=feature,
        started=started,
        ended=ended,
        result=result,
        counts=json.loads(counts or "{}"),
        requests=requests,
        error=error,
        safety=json.loads(safety or "[]"),
        summary=json.loads(row[15] or "[]"),
        problems=json.loads(row[16] or "[]"),
    )


def process_start(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot, from /proc), to tell it from a reused pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rpartition(")")[2].split()[19]  # field 22, counted after the command name


def process_alive(pid: int, started: str | None) -> bool:
    """Whether the process that wrote a row still runs (the same process, not a reuse of its pid)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, someone else's
    return started is None or process_start(pid) in (None, started)


class RunHistory:
    """The history of one config directory. Open it per use; every method is a short transaction."""

    def __init__(self, state: StateDir, keep: HistoryConfig | None = None) -> None:
        self.state = state
        self.keep = keep or HistoryConfig()
        self.path = state.path / RUNS_FILE
        self._pid = os.getpid()
        self._pid_start = process_start(self._pid)

    # -- the connection ----------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        self.state.ensure()
        if not self.path.exists():
            with contextlib.suppress(FileExistsError):
                os.close(os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # WAL: a kill never loses a commit; power loss may lose the last
            db.executescript(_SCHEMA)
            if "problems" not in {c[1] for c in db.execute("PRAGMA table_info(runs)")}:
                db.execute("ALTER TABLE runs ADD COLUMN problems TEXT NOT NULL DEFAULT '[]'")  # a history from 0.1.0
        except BaseException:
            db.close()
            raise
        return db

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        try:
            db = self._open()
        except sqlite3.DatabaseError as exc:
            if not _damaged(exc):
                raise
            moved = move_aside(self.path, "damaged")
            for extra in ("-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(str(self.path) + extra)
            log.warning("runs.damaged", path=str(self.path), moved_to=moved.name, error=str(exc))
            db = self._open()
        try:
            yield db
        finally:
            db.close()

    # -- writing -----------------------------------------------------------------------------

    def start(
        self,
        job: str,
        kind: str,
        trigger: str,
        *,
        pair: str | None = None,
        provider: str | None = None,
        profile: str | None = None,
        feature: str | None = None,
    ) -> Run:
        """A new row, ``running``, owned by this process."""
        now = time.time()
        crash_point("runs.start.before", job)
        with self._db() as db:
            cursor = db.execute(
                "INSERT INTO runs (job, kind, trigger, pair, provider, profile, feature, started, result, pid,"
                " pid_start) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'running', ?, ?)",
                (job, kind, trigger, pair, provider, profile, feature, now, self._pid, self._pid_start),
            )
            run_id = cursor.lastrowid
        crash_point("runs.start.after", job)
        assert run_id is not None
        return Run(run_id, job, kind, trigger, now, "running", pair, provider, profile, feature)

    def finish(
        self,
        run: Run,
        result: str,
        *,
        counts: dict[str, int] | None = None,
        requests: int | None = None,
        error: str | None = None,
        safety: list[str] | None = None,
        summary: list[dict[str, Any]] | None = None,
        problems: list[dict[str, Any]] | None = None,
    ) -> str | None:
        """End ``run`` with ``result``; returns the result of the job's previous run (None: its first)."""
        if result not in RESULTS[1:]:
            raise ValueError(f"not a result: {result!r}")
        run.ended, run.result = time.time(), result
        run.counts, run.requests, run.error, run.safety = dict(counts or {}), requests, error, list(safety or [])
        run.summary = list(summary or [])
        run.problems = list(problems or [])[:MAX_PROBLEMS]
        crash_point("runs.finish.before", run.job)
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute(
                    "UPDATE runs SET ended = ?, result = ?, counts = ?, requests = ?, error = ?, safety = ?,"
                    " summary = ?, problems = ? WHERE id = ?",
                    (
                        run.ended,
                        result,
                        json.dumps(run.counts),
                        requests,
                        error,
                        json.dumps(run.safety),
                        json.dumps(run.summary),
                        json.dumps(run.problems),
                        run.id,
                    ),
                )
                row = db.execute(
                    "SELECT result FROM runs WHERE job = ? AND id < ? AND result != 'running' ORDER BY id DESC LIMIT 1",
                    (run.job, run.id),
                ).fetchone()
                self._trim(db)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        crash_point("runs.finish.after", run.job)
        return row[0] if row else None

    def record(
        self, job: str, kind: str, trigger: str, result: str, *, error: str | None = None, **subject: Any
    ) -> tuple[Run, str | None]:
        """A job that began and ended at once (e.g. a sign-in found unusable); with its previous result."""
        run = self.start(job, kind, trigger, **subject)
        return run, self.finish(run, result, error=error)

    def _trim(self, db: sqlite3.Connection) -> None:
        oldest = time.time() - self.keep.keep_days * 86_400
        db.execute("DELETE FROM runs WHERE started < ? AND result != 'running'", (oldest,))
        db.execute(
            "DELETE FROM runs WHERE result != 'running' AND id <= "
            "(SELECT id FROM runs ORDER BY id DESC LIMIT 1 OFFSET ?)",
            (self.keep.keep_runs,),
        )

    def sweep(self) -> list[Run]:
        """Mark ``interrupted`` the running rows whose process is gone; returns them."""
        if not self.path.exists():
            return []
        with self._db() as db:
            rows = db.execute("SELECT id, pid, pid_start FROM runs WHERE result = 'running'").fetchall()
            gone = [r[0] for r in rows if not (r[1] and process_alive(r[1], r[2]))]
            if not gone:
                return []
            now = time.time()
            why = "the process stopped before the run ended (killed, or the machine went down)"
            marks = ",".join("?" * len(gone))
            db.execute(
                f"UPDATE runs SET result = 'interrupted', ended = ?, error = ? WHERE id IN ({marks})"
                " AND result = 'running'",
                (now, why, *gone),
            )
            found = db.execute(f"SELECT {_COLUMNS} FROM runs WHERE id IN ({marks})", gone).fetchall()
        interrupted = [_run(r) for r in found]
        for run in interrupted:
            log.warning("runs.interrupted", run=run.id, job=run.job, started=run.started)
        return interrupted

    # -- reading -----------------------------------------------------------------------------

    def list(
        self,
        *,
        pair: str | None = None,
        kind: str | None = None,
        job: str | None = None,
        failed: bool = False,
        limit: int = 20,
        before: int | None = None,
    ) -> list[Run]:
        """Newest first; ``failed`` keeps the runs that did not end well (failed, refused, interrupted)."""
        where: list[str] = []
        args: list[Any] = []
        for column, value in (("pair", pair), ("kind", kind), ("job", job)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if failed:
            where.append("result IN ('failed', 'refused', 'interrupted')")
        if before is not None:
            where.append("id < ?")
            args.append(before)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        if not self.path.exists():  # reading never creates the history
            return []
        with self._db() as db:
            rows = db.execute(f"SELECT {_COLUMNS} FROM runs {clause} ORDER BY id DESC LIMIT ?", (*args, limit))
            return [_run(r) for r in rows.fetchall()]

    def get(self, run_id: int) -> Run | None:
        if not self.path.exists():
            return None
        with self._db() as db:
            row = db.execute(f"SELECT {_COLUMNS} FROM runs WHERE id = ?", (run_id,)).fetchone()
        return _run(row) if row else None

    def latest(self) -> dict[str, Run]:
        """Each job's newest run (running ones included), by job."""
        if not self.path.exists():
            return {}
        with self._db() as db:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM runs WHERE id IN (SELECT MAX(id) FROM runs GROUP BY job)"
            ).fetchall()
        return {r[1]: _run(r) for r in rows}

    def last_success(self) -> dict[str, float]:
        """Each job's last good end (epoch seconds)."""
        if not self.path.exists():
            return {}
        with self._db() as db:
            rows = db.execute("SELECT job, MAX(ended) FROM runs WHERE result = 'ok' GROUP BY job").fetchall()
        return {job: ended for job, ended in rows}

    def count(self) -> int:
        if not self.path.exists():
            return 0
        with self._db() as db:
            return int(db.execute("SELECT COUNT(*) FROM runs").fetchone()[0])


def _damaged(exc: sqlite3.DatabaseError) -> bool:
    text = str(exc).lower()
    return "not a database" in text or "malformed" in text or "corrupt" in text
