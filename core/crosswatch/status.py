"""Is everything fine? The facts behind ``crosswatch status``, ``/healthz`` and the web overview.

:func:`gather` reads them from the config, the run history and the state directory (no network,
no running daemon needed); the daemon adds what only it knows (uptime, services, scrobbling,
the guard). :func:`assess` turns them into a verdict, by these rules:

- **failing** (``/healthz`` answers 503): the last run of a configured job (a sync pair, a
  capture schedule or its cleanup) failed; a sign-in a configured job needs is missing,
  expired, or failed in a run since which nothing using that provider ended well; a plugin's
  service is crash-looping (3 or more crashes in a row, the last within 5 minutes).
- **degraded** (200): the last run of a configured job was refused (a safety rule or a guard
  said no) or interrupted; a listener pause expired without its writer finishing within the
  last hour; the daemon rejected a config reload and runs on the previous config.
- **ok** (200): none of these.

A job that is not configured any more (a removed pair) does not count; manual captures,
restores and clears show in the run history but do not change the verdict.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from crosswatch.config import Config
from crosswatch.provider import SignInState
from crosswatch.runs import Run, RunHistory
from crosswatch.state import StateDir

EXPIRED_LEASE_S = 3600.0  # an expired listener pause keeps the daemon degraded this long
LEVELS = ("ok", "degraded", "failing")


@dataclass
class Reason:
    """One thing that needs attention."""

    level: str  # degraded | failing
    what: str  # the job, sign-in or service concerned
    message: str


@dataclass
class JobStatus:
    """A configured job: what it is, its schedule, its last run and next fire time."""

    job: str  # run history key: sync:<pair>, capture:<schedule>, prune:<schedule>
    kind: str  # sync | capture | prune
    name: str
    cron: str
    enabled: bool
    last: Run | None = None
    last_ok: float | None = None
    next: str | None = None  # ISO time

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["last"] = self.last.to_json() if self.last else None
        return data


@dataclass
class SignIn:
    section: str
    profile: str
    state: SignInState | None  # None: the plugin does not say
    failed: Run | None = None  # a sign-in failure since which nothing using the provider went well

    @property
    def name(self) -> str:
        return self.section if self.profile == "default" else f"{self.section}.{self.profile}"

    def to_json(self) -> dict[str, Any]:
        return {
            "provider": self.name,
            "signed_in": None if self.state is None else self.state.signed_in,
            "detail": "" if self.state is None else self.state.detail,
            "expires_at": None if self.state is None else self.state.expires_at,
            "refreshed_at": None if self.state is None else self.state.refreshed_at,
            "failed": None if self.failed is None else {"at": self.failed.started, "error": self.failed.error},
        }


@dataclass
class Status:
    jobs: list[JobStatus] = field(default_factory=list)
    sign_ins: list[SignIn] = field(default_factory=list)
    unresolved: dict[str, dict[str, int]] = field(default_factory=dict)  # provider file prefix -> feature -> n
    recent: list[Run] = field(default_factory=list)  # the newest runs of any kind
    daemon: dict[str, Any] | None = None  # what the running daemon says (None: none runs)
    reasons: list[Reason] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return max((r.level for r in self.reasons), key=LEVELS.index, default="ok")

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.verdict,
            "reasons": [asdict(r) for r in self.reasons],
            "daemon": self.daemon,
            "jobs": [j.to_json() for j in self.jobs],
            "sign_ins": [s.to_json() for s in self.sign_ins],
            "unresolved": self.unresolved,
            "recent": [r.to_json() for r in self.recent],
        }


def configured_jobs(config: Config) -> list[JobStatus]:
    """Every sync pair and capture schedule of ``config`` (a schedule's cleanup is a job too)."""
    jobs = [JobStatus(f"sync:{p.name}", "sync", p.name, p.schedule, p.enabled) for p in config.pairs]
    for s in config.captures.schedules:
        jobs.append(JobStatus(f"capture:{s.job_name}", "capture", s.job_name, s.cron, s.enabled))
        if s.cleanup and (s.keep_days or s.max_keep):
            jobs.append(JobStatus(f"prune:{s.job_name}", "prune", s.job_name, s.cron, s.enabled))
    return jobs


def _next_fire(config: Config, job: JobStatus, now: datetime) -> str | None:
    from zoneinfo import ZoneInfo

    from crosswatch.cron import next_fire

    if not job.cron or not job.enabled:
        return None
    tz_name = _timezone(config, job)
    tz = ZoneInfo(tz_name) if tz_name else now.astimezone().tzinfo
    try:
        return next_fire(job.cron, now.astimezone(tz)).isoformat()
    except ValueError:
        return None


def _timezone(config: Config, job: JobStatus) -> str:
    if job.kind == "sync":
        pair = next((p for p in config.pairs if p.name == job.name), None)
        own = pair.timezone if pair else ""
    else:
        schedule = next((s for s in config.captures.schedules if s.job_name == job.name), None)
        own = schedule.timezone if schedule else ""
    return own or config.daemon.timezone


def _uses(config: Config, section: str, profile: str, run: Run) -> bool:
    """Whether ``run`` involved ``section.profile`` (a pair with it on a side, or the provider itself)."""
    ref = section if profile == "default" else f"{section}.{profile}"
    if run.pair:
        pair = next((p for p in config.pairs if p.name == run.pair), None)
        return pair is not None and ref in (pair.source, pair.target)
    return (run.provider or "").lower() == section and (run.profile or "default") == profile


def gather(config: Config, host: Any, *, recent: int = 10) -> Status:
    """Everything known without asking a daemon; :func:`assess` has been applied."""
    from crosswatch.unresolved import list_unresolved

    state = StateDir(config.config_dir)
    history = RunHistory(state, config.history)
    history.sweep()
    latest = history.latest()
    last_ok = history.last_success()
    status = Status(jobs=configured_jobs(config), recent=history.list(limit=recent))
    now = datetime.now().astimezone()
    for job in status.jobs:
        job.last, job.last_ok = latest.get(job.job), last_ok.get(job.job)
        job.next = _next_fire(config, job, now)
    for section, provider_section in sorted(config.sections.items()):
        if not provider_section.configured:
            continue  # an installed provider this config does not use
        spec = host.providers.by_section(section)
        if spec is not None and not spec.needs_sign_in:
            continue
        for profile in sorted(provider_section.profiles):
            try:
                said = host.hook.crosswatch_sign_in_state(
                    section=section, profile=profile, state=state, settings=provider_section.profiles[profile]
                )
            except Exception as exc:  # a plugin's bug must not hide the rest of the status
                said = SignInState(False, f"the plugin could not say: {type(exc).__name__}: {exc}")
            sign_in = SignIn(section, profile, said)
            failure = latest.get(f"sign-in:{section}.{profile}") or latest.get(f"sign-in:{section.upper()}.{profile}")
            if failure is not None and failure.result == "failed":
                good_since = [
                    r
                    for r in latest.values()
                    if r.result == "ok" and r.id > failure.id and _uses(config, section, profile, r)
                ]
                if not good_since:
                    sign_in.failed = failure
            status.sign_ins.append(sign_in)
    for entry in list_unresolved(state):
        by_feature = status.unresolved.setdefault(entry["provider"], {})
        by_feature[entry["feature"]] = by_feature.get(entry["feature"], 0) + 1
    status.reasons = assess(config, status)
    return status


def _needed(config: Config) -> set[tuple[str, str]]:
    """The (section, profile) pairs that a configured, enabled job needs signed in."""
    needed = set()
    for pair in config.pairs:
        if pair.enabled:
            for ref in (pair.source, pair.target):
                section, _, profile = ref.partition(".")
                needed.add((section, profile or "default"))
    for s in config.captures.schedules:
        if s.enabled:
            section, _, profile = s.provider.partition(".")
            needed.add((section, profile or "default"))
    return needed


def assess(config: Config, status: Status, daemon: dict[str, Any] | None = None) -> list[Reason]:
    """The reasons for a verdict worse than ok (see the module docstring for the rules)."""
    reasons: list[Reason] = []
    for job in status.jobs:
        last = job.last
        if last is None or last.result in ("ok", "running"):
            continue
        when = datetime.fromtimestamp(last.ended or last.started).astimezone().strftime("%Y-%m-%d %H:%M")
        text = f"{job.kind} {job.name}: the last run ({when}) {_said(last)}"
        reasons.append(Reason("failing" if last.result == "failed" else "degraded", job.job, text))
    needed = _needed(config)
    for sign_in in status.sign_ins:
        key = (sign_in.section, sign_in.profile)
        if sign_in.failed is not None:
            reasons.append(Reason("failing", f"sign-in:{sign_in.name}", f"{sign_in.name}: {sign_in.failed.error}"))
        elif key in needed and sign_in.state is not None and not sign_in.state.signed_in:
            reasons.append(Reason("failing", f"sign-in:{sign_in.name}", f"{sign_in.name}: {sign_in.state.detail}"))
    if daemon:
        for service, crashes in (daemon.get("crash_looping") or {}).items():
            reasons.append(
                Reason("failing", f"service:{service}", f"service {service} crashed {crashes} times in a row")
            )
        now = time.time()
        for expired in (daemon.get("guard") or {}).get("expired", []):
            at = _epoch(expired.get("expired_at", ""))
            if at is not None and now - at < EXPIRED_LEASE_S:
                paused = ", ".join(expired.get("paused", []))
                reasons.append(
                    Reason(
                        "degraded",
                        "guard",
                        f"a listener pause ({paused}) expired at {expired['expired_at']} without its writer finishing",
                    )
                )
        if daemon.get("config_rejected"):
            reasons.append(Reason("degraded", "config", f"config reload rejected: {daemon['config_rejected']}"))
    return reasons


def _said(run: Run) -> str:
    verb = {"failed": "failed", "refused": "was refused", "interrupted": "was interrupted"}[run.result]
    return f"{verb}: {run.error}" if run.error else verb


def _epoch(stamp: str) -> float | None:
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def scrobbling(facts: dict[str, Any]) -> dict[str, Any]:
    """The daemon's scrobble counters summed: forwarded, dropped (guard and full queue), and the pauses' causes."""
    scrobble = facts.get("scrobble") or {}
    return {
        "forwarded": sum((scrobble.get("forwarded") or {}).values()),
        "dropped": sum((scrobble.get("dropped_by_guard") or {}).values())
        + int(scrobble.get("dropped_queue_full") or 0),
        "paused": [p.get("cause", "?") for p in (facts.get("guard") or {}).get("paused") or []],
    }


def age_text(seconds: float) -> str:
    """A duration for a person: ``42m``, ``3h 05m``, ``4d 2h``."""
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes}m"
    hours = minutes // 60
    return f"{hours}h {minutes % 60:02d}m" if hours < 48 else f"{hours // 24}d {hours % 24}h"


def short_time(iso: str | None) -> str:
    """An ISO time as local ``YYYY-MM-DD HH:MM`` ("-" for none)."""
    if not iso:
        return "-"
    return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M")
