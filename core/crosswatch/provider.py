"""The provider contract: what a plugin's provider can do, and how core builds one per profile."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, TypeVar, runtime_checkable

from crosswatch.model import Feature, Item

if TYPE_CHECKING:
    from crosswatch.bus import Publisher
    from crosswatch.state import StateDir
    from crosswatch.unresolved import UnresolvedStore


@dataclass(frozen=True)
class FeatureSupport:
    """What a provider can do with one feature."""

    read: bool = True
    add: bool = True
    remove: bool = True
    clear: bool = True
    # False where the provider does not keep each play at its own watched_at (Plex, Jellyfin)
    keeps_watched_at: bool = True
    # history: a written play is dated when it is written, not by its watched_at (Plex). None:
    # the same as ``not keeps_watched_at``. False with keeps_watched_at=False: one date per
    # title, the one given (Jellyfin's last played date)
    dated_now: bool | None = None
    # a read right after a write costs little (the provider reads incrementally): a sync run reads
    # each feature it wrote here back, so that the next run finds both sides as it left them
    reads_back: bool = False
    note: str = ""

    @property
    def writes_now(self) -> bool:
        """Whether a written play is dated "now" (core journals such writes as echoes)."""
        return (not self.keeps_watched_at) if self.dated_now is None else self.dated_now


@dataclass(frozen=True)
class WriteResult:
    """Outcome of one add/remove call; every item passed in lands in exactly one list.

    - ``ok``: the provider holds the change now (also when it already did: an add of what is
      there, a remove of what is absent).
    - ``failed``: not written this time, with why; core tries it again on a later run. Use it
      when the outcome is known to be "not applied" (a refused request, a 5xx after retries).
    - ``unresolved``: this provider cannot find the title (no id matches), with why. A
      provider keeps these in its ``UnresolvedStore`` so later runs skip them.
    - ``frozen``: skipped without a request, because an earlier run put them in the
      unresolved store (``UnresolvedStore.split``); ``crosswatch unresolved clear`` lets them
      be tried again.
    """

    ok: list[Item] = field(default_factory=list)
    failed: list[tuple[Item, str]] = field(default_factory=list)
    unresolved: list[tuple[Item, str]] = field(default_factory=list)
    frozen: list[Item] = field(default_factory=list)


#: a plugin's config section type (the msgspec Struct it declared in crosswatch_config_sections)
S = TypeVar("S")


@dataclass(frozen=True)
class ProviderContext(Generic[S]):
    """Everything a factory gets to build one provider instance for one profile.

    Annotate a factory ``def build(ctx: ProviderContext[MySettings]) -> MyProvider`` to have
    ``ctx.settings`` typed as the plugin's own section (with the profile's overrides applied).
    """

    provider_id: str
    profile: str
    settings: S  # the profile's validated config section
    state: StateDir
    bus: Publisher | None = None  # None where the job has no bus (a scrobble target, a dry run)

    @property
    def config_dir(self) -> Path:
        """The folder holding config.toml (a provider may keep its own files there, e.g. a CSV)."""
        return self.state.config_dir

    @property
    def file_prefix(self) -> str:
        """The profile's state file prefix (``trakt``, ``trakt-kids``): name your files with it."""
        return file_prefix(self.provider_id, self.profile)

    def unresolved(self) -> UnresolvedStore:
        """The profile's unresolved store, where core's sync and ``crosswatch unresolved`` look."""
        from crosswatch.unresolved import UnresolvedStore

        return UnresolvedStore(self.state, self.file_prefix)


@runtime_checkable
class Provider(Protocol):
    """One provider profile: reads present state and writes changes, one feature at a time.

    Core builds an instance with the spec's factory when a job first needs the profile (a
    sync, a capture, a restore, a scrobble target) and awaits ``aclose()`` once when the job
    ends, also when it failed or was cancelled. Core never overlaps two calls on one instance;
    two instances of one profile may run at once in different jobs or processes.

    The write semantics every provider keeps (``crosswatch.testing`` checks them):

    - ``add`` upserts: an item that is there already is updated to the given fields (a new
      rating, a later progress), and reported ``ok``. Adding the same items twice leaves the
      provider as adding them once, except for history, where each Item is one play and a
      play at the same ``watched_at`` must not be added twice. (A provider that records each
      play at "now", ``keeps_watched_at=False``, cannot tell a re-sent play: core sends it only
      titles without a play and journals what it sent.)
    - ``remove`` of something absent is ``ok`` (the goal holds). Removing a history Item
      removes that one play; a provider that can only unmark a title removes all its plays
      and says so in ``FeatureSupport.note``.
    - Titles are found by ``match_keys`` (strong ids), never by title text alone.
    - Every item passed in comes back in exactly one list of the ``WriteResult``. When the
      outcome of a request is unknown (a timeout after sending), raise ``OutcomeUnknown``
      rather than guess: core then reads again before it writes again.
    - ``extra`` holds what the provider put there on its own reads. Items from another
      provider carry that provider's ``extra``: ignore keys you did not write.
    - Writes arrive in one call per feature and direction; batch and pace them inside.
    - Report long work through ``crosswatch.progress``; raise ``ProviderError`` (or another
      ``CrosswatchError``) with a message for a person, never a bare ``RuntimeError``.
    - Never write outside ``add``/``remove``, never write to a feature core did not ask for,
      never log a token (``crosswatch.logging.register_secret``).
    """

    id: str
    profile: str

    async def read(self, feature: Feature) -> list[Item]:
        """Everything the profile holds of ``feature`` now (history: one Item per play)."""
        ...

    async def add(self, feature: Feature, items: Sequence[Item]) -> WriteResult:
        """Make each item present with the given fields (an upsert)."""
        ...

    async def remove(self, feature: Feature, items: Sequence[Item]) -> WriteResult:
        """Make each item absent."""
        ...

    async def aclose(self) -> None:
        """Release connections; called once, after the instance's last use."""
        ...


@runtime_checkable
class ReadAhead(Protocol):
    """A provider that reads faster when told which features a run will read (optional).

    A sync run calls ``will_read`` once, before its first read, with the features it will
    read of this instance (e.g. one listing per library can then serve them all). What is
    read must be the same as without the call; a write must not be answered from it.
    """

    def will_read(self, features: Sequence[Feature]) -> None:
        """The features the run is about to read, in order."""
        ...


#: what a live scrobble asks: a play began, paused or ended
ScrobbleAction = Literal["start", "pause", "stop"]
#: what became of it: taken, already recorded (a repeat), or no such title on the target
ScrobbleOutcome = Literal["ok", "duplicate", "unknown"]


@runtime_checkable
class Scrobbler(Protocol):
    """A provider that takes live plays (Trakt's ``/scrobble``) as a scrobble target.

    Providers without it still receive ratings as ``add``/``remove`` of one item.
    """

    async def scrobble(self, action: ScrobbleAction, item: Item, progress: float) -> ScrobbleOutcome:
        """Forward one play state; ``progress`` is percent watched (0-100)."""
        ...


@dataclass(frozen=True)
class SignInState:
    """How a provider profile's sign-in stands, as read from its state files (no network)."""

    signed_in: bool
    detail: str = ""  # for a person: "expires 2027-03-01", "run `crosswatch auth trakt`"
    expires_at: float | None = None  # epoch seconds; None when the sign-in does not expire
    refreshed_at: float | None = None  # when it was last obtained or refreshed


@dataclass(frozen=True)
class AuthContext(Generic[S]):
    """What a provider's sign-in flow gets (``crosswatch auth <provider>``)."""

    profile: str
    settings: S  # the profile's validated config section
    state: StateDir
    say: Callable[[str], None]  # tell the person what to do (the code to enter, the URL)
    #: ``ask(prompt, secret)``: a line the person types (not echoed when ``secret``), or None
    #: when there is no one to ask (no terminal). It blocks: call it through a worker thread.
    ask: Callable[[str, bool], str | None] = field(default=lambda prompt, secret: None)


@dataclass(frozen=True)
class ProviderSpec:
    """A provider as a plugin registers it."""

    id: str  # upper case, e.g. "PLEX"
    factory: Callable[[ProviderContext[Any]], Provider]
    features: Mapping[Feature, FeatureSupport]
    title: str = ""
    config_section: str = ""  # default: id.lower()
    needs_sign_in: bool = True  # False: crosswatch status lists no sign-in for it (a local file, say)

    @property
    def section(self) -> str:
        return self.config_section or self.id.lower()


@dataclass
class RegisteredProvider:
    spec: ProviderSpec
    plugin: str


class ProviderRegistry:
    """Provider specs by id, each remembering the plugin that registered it."""

    def __init__(self) -> None:
        self._by_id: dict[str, RegisteredProvider] = {}

    def add(self, spec: ProviderSpec, plugin: str) -> None:
        if not spec.id or spec.id != spec.id.upper():
            raise ValueError(f"provider id must be upper case, got {spec.id!r}")
        if spec.id in self._by_id and self._by_id[spec.id].plugin != plugin:
            raise ValueError(f"provider {spec.id} is already registered by plugin {self._by_id[spec.id].plugin!r}")
        self._by_id[spec.id] = RegisteredProvider(spec, plugin)

    def drop_plugin(self, plugin: str) -> None:
        self._by_id = {k: v for k, v in self._by_id.items() if v.plugin != plugin}

    def get(self, provider_id: str) -> ProviderSpec:
        try:
            return self._by_id[provider_id.upper()].spec
        except KeyError:
            known = ", ".join(sorted(self._by_id)) or "none"
            raise KeyError(f"no provider {provider_id.upper()} (registered: {known})") from None

    def by_section(self, section: str) -> ProviderSpec | None:
        return next((r.spec for r in self._by_id.values() if r.spec.section == section), None)

    def of_plugin(self, plugin: str) -> list[str]:
        return sorted(k for k, v in self._by_id.items() if v.plugin == plugin)

    def ids(self) -> list[str]:
        return sorted(self._by_id)

    def build(self, provider_id: str, profile: str, settings: Any, state: StateDir, bus: Any = None) -> Provider:
        spec = self.get(provider_id)
        return spec.factory(ProviderContext(spec.id, profile, settings, state, bus))


def provider_features(spec: ProviderSpec) -> dict[str, dict[str, Any]]:
    """A JSON-ready view of a spec's features."""
    return {f.value: {k: v for k, v in vars(s).items() if v != ""} for f, s in spec.features.items()}


def file_prefix(provider_id: str, profile: str) -> str:
    """State file prefix of a provider profile: ``trakt`` for the default one, ``trakt-<profile>`` else."""
    base = provider_id.lower()
    return base if profile == "default" else f"{base}-{profile}"
