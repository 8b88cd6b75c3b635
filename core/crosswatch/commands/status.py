"""``crosswatch status``: one screen that says whether everything is fine (exit 1 when not)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from crosswatch.commands.common import config_dir, plugin_host, print_json, run
from crosswatch.commands.runs import counts_text, when
from crosswatch.status import age_text, scrobbling, short_time

MARKS = {"failing": "FAILING", "degraded": "DEGRADED", "ok": "OK"}


def ask_daemon(state: Any) -> dict[str, Any] | None:
    """The running daemon's ``/healthz`` (None when no daemon holds the config directory).

    A daemon that holds the lock but does not answer is reported as such, not as absent.
    """
    from crosswatch.liveness import DAEMON_FILE, daemon_alive

    if not daemon_alive(state):
        return None
    import httpx

    try:
        announced = json.loads(state.file(DAEMON_FILE).read_text())
        url = announced["url"]
    except (OSError, ValueError, KeyError, TypeError):
        return {"answering": False, "error": f"it runs, but {DAEMON_FILE} does not say where it listens"}
    if not url:
        return {"answering": False, "error": "it runs with its HTTP endpoint turned off (daemon.listen)"}
    try:
        reply = httpx.get(f"{url}/healthz", timeout=3)
        body = reply.json()
    except (httpx.HTTPError, ValueError) as exc:
        return {"answering": False, "error": f"it runs, but {url} did not answer ({type(exc).__name__})"}
    return {"answering": True, "url": url, **(body if isinstance(body, dict) else {})}


def _print(status: Any, daemon: dict[str, Any] | None) -> None:
    print(f"crosswatch: {MARKS[status.verdict]}")
    for reason in status.reasons:
        print(f"  {'x' if reason.level == 'failing' else '!'} {reason.message}")
    if daemon is None:
        print("daemon      not running")
    elif not daemon.get("answering"):
        print(f"daemon      {daemon['error']}")
    else:
        print(
            f"daemon      running (pid {daemon.get('pid')}, version {daemon.get('version')}, "
            f"up {age_text(float(daemon.get('uptime_s') or 0))}, {daemon.get('backend')}, {daemon.get('url')})"
        )
    if status.jobs:
        print("jobs")
        for job in status.jobs:
            last = job.last
            done = f"{when(last.started)} {last.result}" if last else "never ran"
            counts = f" ({counts_text(last.counts)})" if last and last.counts else ""
            state = "" if job.enabled else " (disabled)"
            print(f"  {job.kind} {job.name}{state}: last {done}{counts}; next {short_time(job.next)}")
    else:
        print("jobs        none configured (pairs, captures.schedules)")
    for sign_in in status.sign_ins:
        s = sign_in.state
        if s is None:
            text = "the plugin does not say"
        elif s.signed_in:
            text = "signed in" + (f", expires {when(s.expires_at)}" if s.expires_at else "")
            text += f" (refreshed {when(s.refreshed_at)})" if s.refreshed_at else ""
        else:
            text = s.detail or "not signed in"
        print(f"sign-in     {sign_in.name}: {text}")
    for provider, features in sorted(status.unresolved.items()):
        counts = ", ".join(f"{feature} {n}" for feature, n in sorted(features.items()))
        print(f"unresolved  {provider}: {counts} (crosswatch unresolved list)")
    if daemon and daemon.get("answering"):
        counted = scrobbling(daemon)
        paused = counted["paused"]
        guard = "listeners paused for " + ", ".join(paused) if paused else "no pause"
        print(f"scrobbling  forwarded {counted['forwarded']}, dropped {counted['dropped']}; guard: {guard}")
        for profile, left in sorted((daemon.get("trakt_budget") or {}).items()):
            print(f"trakt       {profile}: {left} reads left in the current rate window")


def cmd_status(args: argparse.Namespace) -> int:
    def work() -> int:
        from crosswatch.config import load_config
        from crosswatch.state import StateDir
        from crosswatch.status import Reason, assess, gather

        folder = config_dir(args)
        host = plugin_host(folder)
        config = load_config(folder, host.sections())
        status = gather(config, host)
        daemon = ask_daemon(StateDir(folder))
        if daemon is not None and daemon.get("answering"):
            status.daemon = daemon
            status.reasons = assess(config, status, daemon)
        elif daemon is not None:
            status.daemon = daemon
            status.reasons.append(Reason("degraded", "daemon", f"the daemon {daemon['error']}"))
        elif any(j.cron and j.enabled for j in status.jobs):
            status.reasons.append(
                Reason(
                    "degraded", "daemon", "no daemon runs: scheduled jobs do not fire (crosswatch run, or the service)"
                )
            )
        if args.json:
            print_json(status.to_json())
        else:
            _print(status, daemon)
        return 0 if status.verdict == "ok" else 1

    return run(args, work)
