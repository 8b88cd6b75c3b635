"""Creating captures: one feature of one provider profile, or an ``all`` bundle with a child per feature."""

from __future__ import annotations

from datetime import datetime

import anyio
import structlog

from crosswatch.captures.format import ALL, Capture, CaptureError, ChildRef, stats_of
from crosswatch.captures.store import CaptureRef, check_label, iso, now
from crosswatch.events import CaptureCreated
from crosswatch.jobs import JobContext
from crosswatch.model import Feature, Item
from crosswatch.profiles import Profile, ProfileError, opened
from crosswatch.provider import Provider
from crosswatch.state import refuse_foreign_owner

log = structlog.get_logger("crosswatch.captures")


def capture_features(profile: Profile, feature: str) -> list[Feature]:
    """The features a capture of ``feature`` (or ``all``) covers; CaptureError if unsupported."""
    readable = profile.features("read")
    if feature == ALL:
        if not readable:
            raise CaptureError(f"{profile.name} has no feature that can be captured")
        return readable
    try:
        wanted = Feature(feature)
    except ValueError:
        raise CaptureError(f"unknown feature {feature!r} ({', '.join(Feature)} or all)") from None
    if wanted not in readable:
        raise CaptureError(f"{profile.name} cannot read {wanted}; nothing to capture")
    return [wanted]


async def create_capture(
    ctx: JobContext,
    provider: str,
    feature: str,
    *,
    profile: str | None = None,
    label: str = "",
    kind: str = "manual",
    schedule: str = "",
    reason: str = "",
    instance: Provider | None = None,
) -> list[CaptureRef]:
    """Read and write a capture; for ``all`` the bundle comes first, then its children."""
    label = check_label(label)
    try:
        target = ctx.profile(provider, profile)
    except ProfileError as exc:
        raise CaptureError(str(exc)) from None
    features = capture_features(target, feature)
    refuse_foreign_owner(ctx.store.root)  # before a long read, not only at the write
    job = f"capture:{schedule}" if schedule else f"capture:{target.name}:{feature}"
    subject = {"provider": target.provider, "profile": target.profile, "feature": feature}
    async with ctx.recorded(job, "capture", **subject) as recording:
        if instance is not None:
            refs = await _create(ctx, target, instance, feature, features, label, kind, schedule, reason)
        else:
            async with opened(target, ctx.state, ctx.bus) as opened_instance:
                refs = await _create(ctx, target, opened_instance, feature, features, label, kind, schedule, reason)
        heads = [(ref.rel, ref.header) for ref in refs if ref.header is not None]
        recording.counts = {h.feature: h.stats.count for _, h in heads if h.feature != ALL}
        recording.summary = [{"capture": rel, "feature": h.feature, "items": h.stats.count} for rel, h in heads]
    return refs


async def _create(
    ctx: JobContext,
    target: Profile,
    instance: Provider,
    feature: str,
    features: list[Feature],
    label: str,
    kind: str,
    schedule: str,
    reason: str,
) -> list[CaptureRef]:
    read: dict[Feature, list[Item]] = {}
    for one in features:
        ctx.say(f"reading {target.name} {one}...")
        read[one] = await instance.read(one)
    return await write_captures(ctx, target, feature, read, label=label, kind=kind, schedule=schedule, reason=reason)


async def write_captures(
    ctx: JobContext,
    target: Profile,
    feature: str,
    read: dict[Feature, list[Item]],
    *,
    label: str = "",
    kind: str = "manual",
    schedule: str = "",
    reason: str = "",
) -> list[CaptureRef]:
    """Write what was read as a capture (``feature`` ``all``: a bundle and its children)."""
    created = now()
    children = [_capture(ctx, target, f, items, created, label, kind, schedule, reason) for f, items in read.items()]
    store = ctx.store
    written: list[CaptureRef] = []
    try:
        for child in children:
            written.append(await anyio.to_thread.run_sync(store.write, child, created))
        if feature == ALL:
            refs = [
                ChildRef(feature=c.header.feature, path=c.rel, sha256=c.header.sha256, count=c.header.stats.count)
                for c in written
                if c.header is not None
            ]
            bundle = Capture(
                provider=target.provider,
                profile=target.profile,
                feature=ALL,
                created=iso(created),
                label=label,
                type=kind,  # type: ignore[arg-type]
                schedule=schedule,
                reason=reason,
                stats=stats_of([i for c in children for i in c.items], sum(c.stats.without_date for c in children)),
                children=refs,
            )
            written.insert(0, await anyio.to_thread.run_sync(store.write, bundle, created))
    except CaptureError:
        for ref in written:  # no child without its bundle
            await anyio.to_thread.run_sync(store.delete, ref.path)
        raise
    for ref in written:
        ctx.host.call_each("crosswatch_capture_created", capture=ref)
        assert ref.header is not None
        ctx.emit(CaptureCreated(str(ref.path), ref.header.provider, ref.header.profile, ref.header.feature))
        log.info("capture.created", path=ref.rel, items=ref.header.stats.count, type=kind)
    return written


def _capture(
    ctx: JobContext,
    target: Profile,
    feature: Feature,
    items: list[Item],
    created: datetime,
    label: str,
    kind: str,
    schedule: str,
    reason: str,
) -> Capture:
    if kind != "safety":  # a safety capture keeps all that a clear or a restore may remove, filters or not
        items = list(
            ctx.host.call_chain(
                "crosswatch_capture_filter",
                "items",
                items,
                provider=target.provider,
                profile=target.profile,
                feature=feature,
            )
        )
    without_date = 0
    if feature == Feature.HISTORY:
        dated = [i for i in items if i.watched_at]
        without_date = len(items) - len(dated)
        items = dated
        if without_date:
            ctx.say(f"{without_date} items without a date were not captured")
    return Capture(
        provider=target.provider,
        profile=target.profile,
        feature=str(feature),
        created=iso(created),
        label=label,
        type=kind,  # type: ignore[arg-type]
        schedule=schedule,
        reason=reason,
        stats=stats_of(items, without_date),
        items=items,
    )
