"""``ProviderContract``: the write semantics of ``crosswatch.provider.Provider``, as pytest checks.

A plugin's test module subclasses it (the class name must start with ``Test``); pytest
collects the inherited checks, each run per feature and on both anyio backends. See the
package docstring of :mod:`crosswatch.testing` for a complete subclass.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, ClassVar, NoReturn, TypeVar

import anyio
import msgspec
import pluggy
import pytest

from crosswatch import hookspecs
from crosswatch.model import Feature, Item, MediaType, item_key, match_keys
from crosswatch.provider import Provider, ProviderSpec, WriteResult
from crosswatch.state import StateDir
from crosswatch.testing import items as it
from crosswatch.unresolved import list_unresolved

T = TypeVar("T")
Check = TypeVar("Check", bound=Callable[..., Any])

#: The rules, in the words of ``crosswatch.provider.Provider``; a failing check names one.
RULES = {
    "add": "add makes each item present with the given fields",
    "add_once": "adding the same items twice leaves the provider as adding them once",
    "play_once": "history: a play at the same watched_at is never added twice",
    "upsert": "add upserts: an item that is there already is updated to the given fields, and reported ok",
    "remove": "remove makes each item absent",
    "remove_absent": "remove of something absent is ok (the goal holds)",
    "one_play": "removing a history Item removes that one play (all of them only where FeatureSupport.note says so)",
    "one_list": "every item passed in comes back in exactly one list of the WriteResult",
    "unresolved": "a title that matches nothing is reported unresolved, with why, and kept in the UnresolvedStore",
    "frozen": "an item an earlier call left unresolved comes back in frozen (no request), in later runs too",
    "extra": "extra written by another provider is ignored",
    "by_key": "results are counted by item_key: equal copies are one title, each copy reported",
    "aclose": "aclose() is awaited once, after the instance's last use (also when it was never used)",
    "provider": "the factory builds a Provider (read, add, remove, aclose, id, profile) of the spec's id",
}

#: which features a check runs for (by the spec's FeatureSupport)
_ADD, _REMOVE, _VALUE, _HISTORY = "add", "remove", "value", "history"


def _for(applies: str) -> Callable[[Check], Check]:
    def mark(check: Check) -> Check:
        check._contract_applies = applies  # type: ignore[attr-defined]
        return check

    return mark


def registered_spec(plugin: object, provider_id: str) -> ProviderSpec:
    """The ``ProviderSpec`` that ``plugin`` (a module or an object with hookimpls) registers as ``provider_id``.

    The plugin is registered on a pluggy manager with crosswatch's hookspecs, as the daemon
    does, so a misspelt hook fails here too.
    """
    pm = pluggy.PluginManager("crosswatch")
    pm.add_hookspecs(hookspecs)
    pm.register(plugin)
    pm.check_pending()
    specs: list[ProviderSpec] = []
    pm.hook.crosswatch_register_providers(register=specs.append)
    found = [s for s in specs if s.id == provider_id.upper()]
    if not found:
        have = ", ".join(s.id for s in specs) or "none"
        raise LookupError(f"{plugin!r} registers no provider {provider_id.upper()} (it registers: {have})")
    return found[0]


class ContractBroken(AssertionError):
    """A check failed: the message names the provider, the feature and the rule."""


#: why history's add-once checks do not apply to a provider that records plays at "now"
NOW_PLAYS = (
    "dated_now: every history add is a new play at now, which the provider cannot tell from a "
    "re-sent one; core sends such a provider only titles it has no play of, and journals what it sent"
)


class ProviderContract:
    """The provider contract suite; subclass it as ``class TestMyProvider(ProviderContract)``.

    Supply ``spec``, ``provider()`` and ``known_items()``; the rest has defaults. Every check
    is an async test method run per feature (``feature`` is its parameter) on asyncio and on
    trio, whatever the project's conftest says. A failing check names the rule it broke.
    """

    #: the provider's spec as its plugin registers it (``registered_spec(my_plugin, "MYPROV")``)
    spec: ClassVar[ProviderSpec]
    #: the features to check; None: every feature the spec can read and add (remove checks:
    #: those it can also remove)
    features: ClassVar[Sequence[Feature] | None] = None
    #: rules your provider is known to break, while it does: ``{(check name, feature): why}``
    #: (feature None for checks without one). Each such check is an expected failure that
    #: turns into an error once it passes (``xfail(strict=True)``), so a fix is noticed.
    known_breaks: ClassVar[Mapping[tuple[str, Feature | None], str]] = {}
    #: True if removing one play removes every play of the title (then say so in
    #: ``FeatureSupport.note``): the one-play check expects all of them gone instead
    history_remove_takes_all_plays: ClassVar[bool] = False
    #: the longest one provider call may take before the check fails (seconds)
    call_timeout_s: ClassVar[float] = 60.0

    # -- what a subclass supplies ----------------------------------------------------------

    def provider(self, config_dir: Path) -> AbstractAsyncContextManager[Provider]:
        """An async context manager yielding a provider built on ``config_dir``, ready to use.

        ``config_dir`` is a fresh config directory (``.cw_state`` already made): build the
        provider with ``StateDir(config_dir)`` in its ``ProviderContext``, signed in (save
        the tokens it needs there first). Start whatever it talks to (an emulator) inside the
        block and stop it on exit. Do not call ``aclose()``: the checks do, once, as core does.
        Some checks enter it twice in a row with the same ``config_dir`` (a later run).
        """
        raise NotImplementedError(f"{type(self).__name__} must supply provider(config_dir)")

    def known_items(self, feature: Feature) -> Sequence[Item]:
        """At least three titles the provider can find, for ``feature``; the checks add the values.

        Give each its strong ids (as another provider would send them), and nothing of the
        feature (no rating, no ``watched_at``...). Called while ``provider()`` is open, so it
        may look at the emulator that block started. Titles the provider holds already in
        ``feature`` are passed over; mixing movies with episodes (or shows) is best.
        """
        raise NotImplementedError(f"{type(self).__name__} must supply known_items(feature)")

    def unknown_item(self, feature: Feature) -> Item:
        """A title with strong ids that the provider cannot find (default: a movie no database has)."""
        return Item(
            type=MediaType.MOVIE,
            ids={"imdb": "tt0000000", "tmdb": "2147483646"},
            title="Crosswatch Contract: No Such Title",
            year=1901,
        )

    # -- pytest wiring -----------------------------------------------------------------------

    @pytest.fixture(params=["asyncio", "trio"])
    def anyio_backend(self, request: pytest.FixtureRequest) -> str:
        """Every check runs on both anyio backends (crosswatch runs on both)."""
        return str(request.param)

    @pytest.fixture(autouse=True)
    def _known_break(self, request: pytest.FixtureRequest) -> None:
        callspec = getattr(request.node, "callspec", None)
        feature = callspec.params.get("feature") if callspec is not None else None
        why = self.known_breaks.get((request.function.__name__, feature))
        if why:
            request.node.add_marker(pytest.mark.xfail(reason=why, strict=True))

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """Parametrises ``feature`` of each check with the features it applies to (a pytest hook)."""
        self._validate()
        if "feature" not in metafunc.fixturenames:
            return
        applies = getattr(metafunc.function, "_contract_applies", _ADD)
        chosen = self._features_for(applies)
        params = [pytest.param(f, id=f.value) for f in chosen] or [
            pytest.param(None, id="none", marks=pytest.mark.skip(reason=f"no feature of {self.spec.id} to check"))
        ]
        metafunc.parametrize("feature", params)

    def _validate(self) -> None:
        spec = getattr(self, "spec", None)
        if not isinstance(spec, ProviderSpec):
            raise TypeError(f"{type(self).__name__}.spec must be the ProviderSpec under test (see registered_spec)")
        for name, _ in self.known_breaks:
            if not name.startswith("test_") or not callable(getattr(self, name, None)):
                raise ValueError(f"{type(self).__name__}.known_breaks names no check {name!r}")
        unknown = [f for f in self.features or () if f not in spec.features]
        if unknown:
            raise ValueError(f"{type(self).__name__}.features: {spec.id} does not support {unknown}")

    def _features_for(self, applies: str) -> list[Feature]:
        chosen = list(self.features) if self.features is not None else list(self.spec.features)
        out = []
        for feature in chosen:
            support = self.spec.features[feature]
            if not (support.read and support.add):
                continue
            if applies in (_REMOVE, _HISTORY) and not support.remove:
                continue
            if applies == _VALUE and feature not in (Feature.RATINGS, Feature.PROGRESS):
                continue
            if applies == _HISTORY and feature != Feature.HISTORY:
                continue
            out.append(feature)
        return out

    # -- helpers of the checks ---------------------------------------------------------------

    def _broken(self, rule: str, feature: Feature | None, detail: str) -> NoReturn:
        where = f"{self.spec.id} {feature}" if feature else self.spec.id
        raise ContractBroken(f"{where} breaks the rule: {RULES[rule]}\n  {detail}")

    def _writes_now(self) -> bool:
        support = self.spec.features.get(Feature.HISTORY)
        return support is not None and support.writes_now

    def _keeps_watched_at(self) -> bool:
        support = self.spec.features.get(Feature.HISTORY)
        return support is None or support.keeps_watched_at

    def _can_remove(self, feature: Feature) -> bool:
        return self.spec.features[feature].remove

    @asynccontextmanager
    async def _opened(self, config_dir: Path) -> AsyncIterator[Provider]:
        """The subclass's provider, checked, and closed once when the block ends (as core does)."""
        failure: Exception | None = None
        async with self.provider(config_dir) as built:
            try:
                self._check_built(built)
                yield built
            except Exception as exc:  # raised again below, outside the subclass's task groups
                failure = exc
            finally:
                with anyio.CancelScope(shield=True):
                    try:
                        await self._call(f"{self.spec.id}.aclose()", built.aclose())
                    except Exception as exc:
                        failure = failure or exc
        if failure is not None:
            raise failure

    def _check_built(self, built: object) -> None:
        if not isinstance(built, Provider):
            self._broken("provider", None, f"provider() yielded {built!r}, which lacks part of the Provider protocol")
        if built.id != self.spec.id:
            self._broken("provider", None, f"provider() yielded a provider with id {built.id!r}")

    def _config_dir(self, tmp_path: Path) -> Path:
        folder = tmp_path / "config"
        StateDir(folder).ensure()
        return folder

    async def _call(self, what: str, call: Awaitable[T]) -> T:
        try:
            with anyio.fail_after(self.call_timeout_s):
                return await call
        except TimeoutError:
            raise ContractBroken(f"{what} did not return within {self.call_timeout_s:g} s") from None

    async def _read(self, p: Provider, feature: Feature) -> list[Item]:
        found = await self._call(f"{self.spec.id}.read({feature})", p.read(feature))
        if not isinstance(found, list) or not all(isinstance(i, Item) for i in found):
            raise ContractBroken(f"{self.spec.id}.read({feature}) returned {type(found).__name__}, not a list of Item")
        return found

    async def _write(self, p: Provider, action: str, feature: Feature, items: Sequence[Item]) -> WriteResult:
        method = p.add if action == "add" else p.remove
        result = await self._call(f"{self.spec.id}.{action}({feature}, {len(items)} items)", method(feature, items))
        if not isinstance(result, WriteResult):
            raise ContractBroken(
                f"{self.spec.id}.{action}({feature}) returned {type(result).__name__}, not a WriteResult"
            )
        return result

    def _fresh(self, held: Sequence[Item], feature: Feature, need: int) -> list[Item]:
        """``need`` titles of ``known_items(feature)`` the provider does not hold in ``feature`` yet."""
        given = list(self.known_items(feature))
        for item in given:
            if not isinstance(item, Item) or not next(match_keys(item), None):
                raise ContractBroken(f"known_items({feature}) gave {item!r}: each must be an Item with a strong id")
        free = [it.bare(i) for i in given if not it.of_title(held, i)]
        if len(free) < need:
            raise ContractBroken(
                f"known_items({feature}) gave {len(free)} titles {self.spec.id} does not hold in {feature} "
                f"yet (of {len(given)}); this check needs {need}"
            )
        return free[:need]

    def _ok(self, rule: str, action: str, feature: Feature, items: Sequence[Item], result: WriteResult) -> None:
        """Every item of ``items`` is reported ``ok`` (counted by item_key)."""
        missing = Counter(map(item_key, items)) - Counter(map(item_key, result.ok))
        if missing:
            reasons = [f"failed: {r}" for i, r in result.failed if item_key(i) in missing]
            reasons += [f"unresolved: {r}" for i, r in result.unresolved if item_key(i) in missing]
            reasons += ["frozen" for i in result.frozen if item_key(i) in missing]
            self._broken(
                rule,
                feature,
                f"{action} of {it.describe(items)}: not reported ok: {', '.join(sorted(missing))}"
                + (f" ({'; '.join(reasons)})" if reasons else ""),
            )

    def _one_list(self, action: str, feature: Feature, items: Sequence[Item], result: WriteResult) -> None:
        sent = Counter(map(item_key, items))
        lists = {
            "ok": list(result.ok),
            "failed": [i for i, _ in result.failed],
            "unresolved": [i for i, _ in result.unresolved],
            "frozen": list(result.frozen),
        }
        back = Counter(item_key(i) for found in lists.values() for i in found)
        if back != sent:
            where = {k: [name for name, found in lists.items() if any(item_key(i) == k for i in found)] for k in sent}
            detail = "; ".join(
                f"{k}: sent {sent[k]}x, back {back[k]}x ({', '.join(where.get(k, [])) or 'in no list'})"
                for k in sorted(set(sent) | set(back))
                if sent[k] != back[k]
            )
            self._broken("one_list", feature, f"{action} of {len(items)} items: {detail}")
        for name, pairs in (("failed", result.failed), ("unresolved", result.unresolved)):
            blank = [i for i, why in pairs if not isinstance(why, str) or not why.strip()]
            if blank:
                self._broken("one_list", feature, f"{action}: {name} without a reason: {it.describe(blank)}")

    def _holds(
        self, rule: str, feature: Feature, before: Sequence[Item], after: Sequence[Item], written: Sequence[Item]
    ) -> None:
        """Each written item shows in ``after`` with its value (history: as a play)."""
        for item in written:
            mine = it.of_title(after, item)
            if feature == Feature.HISTORY and not self._keeps_watched_at():
                # a provider dating plays "now" holds each; one keeping a title's last date, one
                wanted = sum(1 for w in written if it.same_title(w, item)) if self._writes_now() else 1
                new = len(mine) - len(it.of_title(before, item))
                if new < wanted:
                    self._broken(rule, feature, f"{wanted} plays of {it.describe([item])} added, {new} new in the read")
                continue
            if not any(it.holds_value(feature, held, item) for held in mine):
                seen = it.describe(mine) if mine else "nothing of that title"
                value = {
                    Feature.RATINGS: f"rating {item.rating}",
                    Feature.PROGRESS: f"progress {it.percent(item)} %",
                    Feature.HISTORY: f"a play at {item.watched_at}",
                }.get(feature, "it")
                got = [
                    str(
                        {Feature.RATINGS: h.rating, Feature.PROGRESS: it.percent(h), Feature.HISTORY: h.watched_at}.get(
                            feature
                        )
                    )
                    for h in mine
                ]
                self._broken(
                    rule,
                    feature,
                    f"added {it.describe([item])} with {value}; the read shows {seen}"
                    + (f" with {', '.join(got)}" if mine and feature != Feature.WATCHLIST else ""),
                )

    def _gone(self, rule: str, feature: Feature, after: Sequence[Item], removed: Sequence[Item]) -> None:
        for item in removed:
            left = it.of_title(after, item)
            if left:
                self._broken(rule, feature, f"removed {it.describe([item])}; the read still shows {it.describe(left)}")

    def _mine(self, feature: Feature, read: Sequence[Item], written: Sequence[Item]) -> list[Item]:
        """The provider's own copies (as read) of the written items: one per item, history by play."""
        out: list[Item] = []
        for item in written:
            candidates = [h for h in it.of_title(read, item) if all(h is not o for o in out)]
            if feature == Feature.HISTORY and self._keeps_watched_at():
                candidates = [h for h in candidates if it.holds_value(feature, h, item)]
            if not candidates:
                self._broken("add", feature, f"added {it.describe([item])}; the read does not show it")
            out.append(candidates[0])
        return out

    # -- the checks ----------------------------------------------------------------------------

    @pytest.mark.anyio
    @_for(_ADD)
    async def test_add_then_read_shows_the_items(self, feature: Feature, tmp_path: Path) -> None:
        """add makes each item present with the given value, and reports each ok."""
        async with self._opened(self._config_dir(tmp_path)) as p:
            before = await self._read(p, feature)
            items = [it.valued(feature, t, n) for n, t in enumerate(self._fresh(before, feature, 2))]
            result = await self._write(p, "add", feature, items)
            self._ok("add", "add", feature, items, result)
            self._holds("add", feature, before, await self._read(p, feature), items)

    @pytest.mark.anyio
    @_for(_ADD)
    async def test_adding_twice_is_adding_once(self, feature: Feature, tmp_path: Path) -> None:
        """A second add of the same items is ok and changes nothing (history: no second play)."""
        if feature == Feature.HISTORY and self._writes_now():
            pytest.skip(NOW_PLAYS)
        rule = "play_once" if feature == Feature.HISTORY else "add_once"
        async with self._opened(self._config_dir(tmp_path)) as p:
            before = await self._read(p, feature)
            items = [it.valued(feature, t, n) for n, t in enumerate(self._fresh(before, feature, 2))]
            self._ok("add", "add", feature, items, await self._write(p, "add", feature, items))
            once = await self._read(p, feature)
            self._ok("upsert", "the second add", feature, items, await self._write(p, "add", feature, items))
            twice = await self._read(p, feature)
        if it.view(feature, once) != it.view(feature, twice):
            change = it.view_change(it.view(feature, once), it.view(feature, twice))
            self._broken(rule, feature, f"adding {it.describe(items)} again changed the read: {change}")

    @pytest.mark.anyio
    @_for(_VALUE)
    async def test_add_upserts_a_changed_value(self, feature: Feature, tmp_path: Path) -> None:
        """Adding a title again with another value updates it in place (one entry, the new value)."""
        async with self._opened(self._config_dir(tmp_path)) as p:
            before = await self._read(p, feature)
            titles = self._fresh(before, feature, 2)
            first = [it.valued(feature, t, n) for n, t in enumerate(titles)]
            self._ok("add", "add", feature, first, await self._write(p, "add", feature, first))
            changed = [it.valued(feature, t, n, second=True) for n, t in enumerate(titles)]
            self._ok(
                "upsert", "add of a changed value", feature, changed, await self._write(p, "add", feature, changed)
            )
            after = await self._read(p, feature)
        self._holds("upsert", feature, before, after, changed)
        for item in changed:
            entries = it.of_title(after, item)
            if len(entries) != 1:
                self._broken("upsert", feature, f"{it.describe([item])} is held {len(entries)} times after the upsert")

    @pytest.mark.anyio
    @_for(_REMOVE)
    async def test_remove_then_read_shows_them_gone(self, feature: Feature, tmp_path: Path) -> None:
        """remove of items the provider holds (its own copies, as core passes them) makes them absent."""
        async with self._opened(self._config_dir(tmp_path)) as p:
            before = await self._read(p, feature)
            items = [it.valued(feature, t, n) for n, t in enumerate(self._fresh(before, feature, 2))]
            self._ok("add", "add", feature, items, await self._write(p, "add", feature, items))
            held = self._mine(feature, await self._read(p, feature), items)
            self._ok("remove", "remove", feature, held, await self._write(p, "remove", feature, held))
            self._gone("remove", feature, await self._read(p, feature), items)

    @pytest.mark.anyio
    @_for(_REMOVE)
    async def test_remove_of_absent_items_is_ok(self, feature: Feature, tmp_path: Path) -> None:
        """remove of known titles the provider does not hold is reported ok and changes nothing."""
        async with self._opened(self._config_dir(tmp_path)) as p:
            before = await self._read(p, feature)
            items = [it.valued(feature, t, n) for n, t in enumerate(self._fresh(before, feature, 2))]
            result = await self._write(p, "remove", feature, items)
            self._ok("remove_absent", "remove", feature, items, result)
            after = await self._read(p, feature)
        if it.view(feature, before) != it.view(feature, after):
            change = it.view_change(it.view(feature, before), it.view(feature, after))
            self._broken("remove_absent", feature, f"removing absent {it.describe(items)} changed the read: {change}")

    @pytest.mark.anyio
    @_for(_HISTORY)
    async def test_removing_a_play_removes_only_that_play(self, feature: Feature, tmp_path: Path) -> None:
        """Of a title's two plays, removing one leaves the other."""
        async with self._opened(self._config_dir(tmp_path)) as p:
            before = await self._read(p, feature)
            title = self._fresh(before, feature, 1)[0]
            plays = [it.valued(feature, title, 0), it.valued(feature, title, 0, second=True)]
            self._ok("add", "add", feature, plays, await self._write(p, "add", feature, plays))
            gone = self._mine(feature, await self._read(p, feature), plays[:1])
            self._ok("remove", "remove", feature, gone, await self._write(p, "remove", feature, gone))
            left = it.of_title(await self._read(p, feature), title)
        if self.history_remove_takes_all_plays:
            if not self.spec.features[feature].note.strip():
                self._broken("one_play", feature, "every play goes, but FeatureSupport.note does not say so")
            if left:
                self._broken("one_play", feature, f"removing a play left {len(left)} plays of {it.describe([title])}")
            return
        if len(left) != 1:
            self._broken("one_play", feature, f"2 plays of {it.describe([title])}, one removed: {len(left)} left")
        if self._keeps_watched_at() and not it.holds_value(feature, left[0], plays[1]):
            self._broken("one_play", feature, f"the play left is at {left[0].watched_at}, not {plays[1].watched_at}")

    @pytest.mark.anyio
    @_for(_ADD)
    async def test_every_item_lands_in_exactly_one_list(self, feature: Feature, tmp_path: Path) -> None:
        """A batch of found and unknown titles: each item in exactly one of ok, failed, unresolved, frozen."""
        async with self._opened(self._config_dir(tmp_path)) as p:
            before = await self._read(p, feature)
            known = self._fresh(before, feature, 2)
            batch = [
                it.valued(feature, known[0], 0),
                it.valued(feature, self.unknown_item(feature), 1),
                it.valued(feature, known[1], 2),
            ]
            self._one_list("add", feature, batch, await self._write(p, "add", feature, batch))
            self._one_list("the second add", feature, batch, await self._write(p, "add", feature, batch))
            if self._can_remove(feature):
                held = self._mine(feature, await self._read(p, feature), [batch[0], batch[2]])
                mixed = [held[0], batch[1], held[1]]
                self._one_list("remove", feature, mixed, await self._write(p, "remove", feature, mixed))

    @pytest.mark.anyio
    @_for(_ADD)
    async def test_unknown_title_is_unresolved_then_frozen(self, feature: Feature, tmp_path: Path) -> None:
        """A title the provider cannot find: unresolved with why, listed by ``crosswatch unresolved list``,
        then frozen on the next call and in the next run."""
        config_dir = self._config_dir(tmp_path)
        async with self._opened(config_dir) as p:
            ghost = it.valued(feature, self.unknown_item(feature), 0)
            first = await self._write(p, "add", feature, [ghost])
            key = item_key(ghost)
            reasons = [why for i, why in first.unresolved if item_key(i) == key]
            if not reasons:
                where = "ok" if first.ok else "failed" if first.failed else "frozen" if first.frozen else "no list"
                self._broken("unresolved", feature, f"add of the unknown {it.describe([ghost])}: reported {where}")
            rows = [r for r in list_unresolved(StateDir(config_dir)) if r["key"] == key and r["feature"] == feature]
            if not rows:
                self._broken(
                    "unresolved", feature, f"{key} is not in the unresolved store (crosswatch unresolved list)"
                )
            again = await self._write(p, "add", feature, [ghost])
            if [item_key(i) for i in again.frozen] != [key]:
                self._broken("frozen", feature, f"the second add of {key}: not reported frozen ({_lists(again)})")
        async with self._opened(config_dir) as later:
            run = await self._write(later, "add", feature, [ghost])
        if [item_key(i) for i in run.frozen] != [key]:
            self._broken("frozen", feature, f"add of {key} by a new instance (a later run): not frozen ({_lists(run)})")

    @pytest.mark.anyio
    @_for(_ADD)
    async def test_extra_of_another_provider_is_ignored(self, feature: Feature, tmp_path: Path) -> None:
        """Items carrying other providers' ``extra`` keys are written as if they had none."""
        async with self._opened(self._config_dir(tmp_path)) as p:
            reads = {f: await self._read(p, f) for f in self.spec.features if self.spec.features[f].read}
            own = {k for found in reads.values() for i in found for k in i.extra}
            foreign = {k: v for k, v in it.FOREIGN_EXTRA.items() if k not in own}
            before = reads.get(feature) or await self._read(p, feature)
            items = [
                it.with_extra(it.valued(feature, t, n), foreign) for n, t in enumerate(self._fresh(before, feature, 2))
            ]
            self._ok("extra", "add", feature, items, await self._write(p, "add", feature, items))
            after = await self._read(p, feature)
            self._holds("extra", feature, before, after, items)
            if self._can_remove(feature):
                held = [it.with_extra(i, foreign) for i in self._mine(feature, after, items)]
                self._ok("extra", "remove", feature, held, await self._write(p, "remove", feature, held))
                self._gone("extra", feature, await self._read(p, feature), items)

    @pytest.mark.anyio
    @_for(_ADD)
    async def test_equal_copies_are_counted_by_item_key(self, feature: Feature, tmp_path: Path) -> None:
        """Two equal copies (distinct objects) in one call: both reported, the title written once."""
        if feature == Feature.HISTORY and self._writes_now():
            pytest.skip(NOW_PLAYS)
        async with self._opened(self._config_dir(tmp_path)) as p:
            before = await self._read(p, feature)
            item = it.valued(feature, self._fresh(before, feature, 1)[0], 0)
            copies = [item, msgspec.structs.replace(item)]
            added = await self._write(p, "add", feature, copies)
            self._one_list("add", feature, copies, added)
            self._ok("by_key", "add", feature, copies, added)
            after = await self._read(p, feature)
            self._holds("add", feature, before, after, copies[:1])
            mine = it.of_title(after, item)
            if len(mine) != 1:
                self._broken(
                    "by_key",
                    feature,
                    f"two equal copies of {it.describe([item])} in one add: the read shows {len(mine)}",
                )
            if self._can_remove(feature):
                held = [mine[0], msgspec.structs.replace(mine[0])]
                removed = await self._write(p, "remove", feature, held)
                self._one_list("remove", feature, held, removed)
                self._ok("by_key", "remove", feature, held, removed)
                self._gone("remove", feature, await self._read(p, feature), [item])

    @pytest.mark.anyio
    async def test_aclose_once_after_use(self, tmp_path: Path) -> None:
        """aclose() returns, whether the instance was used or not."""
        config_dir = self._config_dir(tmp_path)
        problems: list[str] = []
        for used in (False, True):
            async with self.provider(config_dir) as built:
                try:
                    self._check_built(built)
                    for feature in self._features_for(_ADD) if used else ():
                        await self._read(built, feature)
                    await self._call(f"{self.spec.id}.aclose()", built.aclose())
                except Exception as exc:  # reported below, outside the subclass's task groups
                    problems.append(f"aclose() of an instance {'after use' if used else 'never used'}: {exc!r}")
        if problems:
            self._broken("aclose", None, "; ".join(problems))


def _lists(result: WriteResult) -> str:
    return (
        f"ok {len(result.ok)}, failed {len(result.failed)}, unresolved {len(result.unresolved)}, "
        f"frozen {len(result.frozen)}"
    )
