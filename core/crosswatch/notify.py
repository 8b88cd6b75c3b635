"""Notifications: tell people when a job fails or recovers, and when the listener guard has a problem.

``[notify]`` lists targets; each says which events it wants (``on``):

- ``failure``: a job ended ``failed``, ``refused`` or ``interrupted`` and its previous run ended
  ``ok`` (or it had none). One per change of state: a job that keeps failing is told once, not
  per retry or per run.
- ``recovered``: a job ended ``ok`` and its previous run did not.
- ``success``: every ``ok`` run (opt-in). A target that asks for both ``recovered`` and
  ``success`` gets one message for a recovery, the ``recovered`` one.
- ``guard``: a listener pause lease expired without its writer saying it finished.

A target whose URL is ``http://`` or ``https://`` gets a JSON POST (built in); any other URL is
an Apprise URL (the optional extra ``crosswatchd[notify]``). Every target is told at once, each
within ``notify.timeout_s``. Telling is never fatal: a target that cannot be reached is one
warning line, and the job's result stays what it was. Log lines name a target by its ``name``
or by its URL's scheme and host, never by the URL (which may hold a password or a token).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import anyio
import anyio.to_thread
import structlog

from crosswatch import __version__
from crosswatch.config import Config
from crosswatch.config.schema import NotifyTarget
from crosswatch.errors import causes
from crosswatch.runs import Run

log = structlog.get_logger("crosswatch.notify")

EVENTS = ("failure", "recovered", "success", "guard")
WEBHOOK_SCHEMES = ("http", "https")
INSTALL_HINT = "pip install 'crosswatchd[notify]'"
_APPRISE_TYPES = {"failure": "failure", "recovered": "success", "success": "success", "guard": "warning"}


@dataclass(frozen=True)
class Message:
    """One notification: a title and a body for people, the JSON body for webhooks."""

    event: str
    title: str
    text: str  # one human line
    body: str  # a few lines (Apprise)
    data: dict[str, Any]  # the JSON webhook's body


class NotifyFailed(Exception):
    """A target did not take a notification; the message is safe to log (no URL in it)."""


# -- which events a run gives -----------------------------------------------------------------


def run_events(result: str, previous: str | None) -> set[str]:
    """The events a run that ended ``result`` gives, after a previous run that ended ``previous``."""
    if result == "running":
        return set()
    if result == "ok":
        return {"success", "recovered"} if previous not in (None, "ok") else {"success"}
    return {"failure"} if previous in (None, "ok") else set()


def _wanted(target: NotifyTarget, events: set[str]) -> str | None:
    """The one event ``target`` is told of (a recovery beats a plain success)."""
    for event in ("failure", "recovered", "success"):
        if event in events and event in target.on:
            return event
    return None


# -- messages ---------------------------------------------------------------------------------


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "?"
    return datetime.fromtimestamp(epoch).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


def _counts(counts: dict[str, Any]) -> str:
    """``added 7, failed 1``: the counts that are not zero, for people."""
    return ", ".join(f"{k} {v}" for k, v in counts.items() if v)


def run_message(run: Run, previous: str | None, event: str) -> Message:
    """What a target is told about ``run`` for ``event``."""
    word = "recovered" if event == "recovered" else run.result
    title = f"crosswatch: {run.job} {word}"
    when = _when(run.ended if run.ended is not None else run.started)
    head = f"{title} at {when} ({run.trigger})"
    if event == "recovered":
        head += f", ok again after {previous}"
    counts = run.counts or {}
    parts = [head]
    if run.error:
        parts.append(run.error)
    if _counts(counts):
        parts.append(f"counts: {_counts(counts)}")
    lines = [f"{run.job}: {word} at {when} (trigger: {run.trigger})"]
    if event == "recovered":
        lines.append(f"the previous run ended {previous}")
    if run.error:
        lines.append(f"error: {run.error}")
    if _counts(counts):
        lines.append(f"counts: {_counts(counts)}")
    if run.seconds is not None:
        lines.append(f"took {run.seconds:.1f} s")
    data: dict[str, Any] = {
        "event": event,
        "job": run.job,
        "kind": run.kind,
        "result": run.result,
        "previous": previous,
        "error": run.error,
        "counts": dict(counts),
        "started": run.started,
        "ended": run.ended,
        "trigger": run.trigger,
        "run": run.id,
        "pair": run.pair,
        "provider": run.provider,
        "profile": run.profile,
        "feature": run.feature,
        "text": " - ".join(parts),
    }
    return Message(event, title, data["text"], "\n".join(lines), data)


def guard_message(message: str, detail: dict[str, Any]) -> Message:
    """What a target is told about a guard problem."""
    title = "crosswatch: guard"
    text = f"{title}: {message}"
    plain = json.loads(json.dumps(detail, default=str))
    lines = [message, *(f"{k}: {v}" for k, v in plain.items())]
    return Message("guard", title, text, "\n".join(lines), {"event": "guard", "text": text, "detail": plain})


# -- naming targets without their secrets -----------------------------------------------------


def target_label(target: NotifyTarget, index: int) -> str:
    """How the log names a target: its ``name``, else its scheme and (for a webhook) host."""
    if target.name:
        return target.name
    try:
        parts = urlsplit(target.url)
        scheme = parts.scheme.lower()
        if scheme in WEBHOOK_SCHEMES:
            port = f":{parts.port}" if parts.port else ""
            return f"{scheme}://{parts.hostname or '?'}{port}"
    except ValueError:  # a port that is not a number, a broken IPv6 host
        scheme = ""
    # an Apprise URL's "host" is often a token (ntfy topic, Telegram bot, Discord webhook id)
    return f"{scheme or '?'}:// (target {index + 1})"


def _url_parts(url: str) -> list[str]:
    """Every piece of ``url`` but its scheme: what must never be logged."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url]
    pieces = [url, parts.path, parts.query, parts.fragment, parts.username or "", parts.password or ""]
    if parts.scheme.lower() not in WEBHOOK_SCHEMES:  # a webhook's host is in its label anyway
        pieces += [parts.netloc, parts.hostname or ""]
    elif "@" in parts.netloc:
        pieces.append(parts.netloc.rpartition("@")[0])
    pieces += [unquote(s) for s in parts.path.split("/")]
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        pieces += [key, value]
    return sorted({p for p in pieces if len(p) >= 4}, key=len, reverse=True)


def scrub(text: str, url: str) -> str:
    """``text`` with every piece of ``url`` (host, path, user, password, query) masked."""
    for piece in _url_parts(url):
        text = text.replace(piece, "***")
    return text


_TOKENISH = re.compile(r"(?=.*\d)[^\s]{8,}|[^\s]{16,}")


def _register_secrets(url: str) -> None:
    """Mask a URL's token-like pieces in every later log line (Apprise's and httpx's own lines too)."""
    from crosswatch.logging import register_secret

    try:
        parts = urlsplit(url)
    except ValueError:
        return
    pieces = [parts.password or "", *(v for _, v in parse_qsl(parts.query))]
    pieces += [unquote(s) for s in parts.path.split("/")]
    if parts.scheme.lower() not in WEBHOOK_SCHEMES:
        # an Apprise "host" without a dot is a token (a bot, a topic, a webhook id), not a server
        pieces += [parts.username or "", *([parts.hostname] if parts.hostname and "." not in parts.hostname else [])]
    for piece in pieces:
        if parts.password == piece or _TOKENISH.fullmatch(piece):
            register_secret(piece)


# -- sending ----------------------------------------------------------------------------------


async def _post(client: Any, target: NotifyTarget, message: Message) -> None:
    import httpx

    try:
        reply = await client.post(target.url, json=message.data)
    except httpx.HTTPError as exc:
        raise NotifyFailed(scrub(_why(exc), target.url)) from None
    if not 200 <= reply.status_code < 300:
        raise NotifyFailed(f"HTTP {reply.status_code} {httpx.codes.get_reason_phrase(reply.status_code)}".rstrip())


def _why(exc: BaseException) -> str:
    """``Type: message``, the message from down the chain when the error says nothing itself (TLS)."""
    chain = list(causes(exc, limit=6))
    said = next((c for c in chain if str(c)), None)
    return f"{type(exc).__name__}: {said}" if said is not None else " <- ".join(type(c).__name__ for c in chain)


def _apprise_send(url: str, message: Message, timeout: float) -> None:
    """Deliver through Apprise (blocking: run in a worker thread)."""
    import apprise

    service = apprise.Apprise.instantiate(url)
    if service is None:
        raise NotifyFailed("Apprise does not know this URL (its scheme, or a missing part)")
    for attr in ("socket_connect_timeout", "socket_read_timeout"):
        if hasattr(service, attr):
            setattr(service, attr, timeout)
    sender = apprise.Apprise()
    sender.add(service)
    if not sender.notify(body=message.body, title=message.title, notify_type=_APPRISE_TYPES[message.event]):
        raise NotifyFailed("Apprise could not deliver it (Apprise's own log line says why)")


async def _tell(client: Any, index: int, target: NotifyTarget, message: Message, timeout: float, what: str) -> None:
    """Tell one target; every failure is one log line, never an exception."""
    label = target_label(target, index)
    said = {"target": label, "notify_event": message.event, "about": what}
    try:
        with anyio.fail_after(timeout):
            if urlsplit(target.url).scheme.lower() in WEBHOOK_SCHEMES:
                await _post(client, target, message)
            else:
                await anyio.to_thread.run_sync(_apprise_send, target.url, message, timeout, abandon_on_cancel=True)
    except TimeoutError:
        log.warning("notify.failed", **said, error=f"no answer within {timeout:g} s")
    except NotifyFailed as exc:
        log.warning("notify.failed", **said, error=str(exc))
    except Exception as exc:  # a bug in a third-party sender must not fail the job
        if isinstance(exc, ModuleNotFoundError) and exc.name == "apprise":
            log.error("notify.apprise_missing", **said, error=f"this target needs Apprise: {INSTALL_HINT}")
        else:
            log.warning("notify.failed", **said, error=scrub(f"{type(exc).__name__}: {exc}", target.url))
    else:
        log.info("notify.sent", **said)


async def _deliver(config: Config, sends: Iterable[tuple[int, NotifyTarget, Message]], what: str) -> None:
    sends = list(sends)
    if not sends:
        return
    import httpx

    timeout = config.notify.timeout_s
    for _, target, _ in sends:
        _register_secrets(target.url)
    headers = {"User-Agent": f"crosswatch/{__version__}"}
    client = httpx.AsyncClient(timeout=timeout, headers=headers, follow_redirects=False)
    async with client, anyio.create_task_group() as tg:
        for index, target, message in sends:
            tg.start_soon(_tell, client, index, target, message, timeout, what)


async def notify_run(config: Config, run: Run, previous: str | None) -> None:
    """Tell the targets that want to know how ``run`` ended (after ``previous``); never raises."""
    try:
        targets = config.notify.targets
        if not targets:
            return
        events = run_events(run.result, previous)
        sends = []
        for index, target in enumerate(targets):
            event = _wanted(target, events)
            if event is not None:
                sends.append((index, target, run_message(run, previous, event)))
        await _deliver(config, sends, run.job)
    except Exception as exc:
        log.warning("notify.failed", about=getattr(run, "job", "?"), error=_safe_error(config, exc))


async def notify_guard(config: Config, message: str, **detail: Any) -> None:
    """Tell the targets that want ``guard`` events about a guard problem; never raises."""
    try:
        targets = config.notify.targets
        note = guard_message(message, detail)
        sends = [(i, t, note) for i, t in enumerate(targets) if "guard" in t.on]
        await _deliver(config, sends, "guard")
    except Exception as exc:
        log.warning("notify.failed", about="guard", error=_safe_error(config, exc))


def _safe_error(config: Config, exc: Exception) -> str:
    text = f"{type(exc).__name__}: {exc}"
    for target in getattr(getattr(config, "notify", None), "targets", ()):
        text = scrub(text, target.url)
    return text
