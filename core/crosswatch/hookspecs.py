"""The plugin contract: every hook a crosswatch plugin may implement.

Plugins implement hooks with ``crosswatch.hookimpl``. pluggy is synchronous: hooks that
need I/O return objects (providers, services) whose async methods core awaits. Core's own
default for each ``firstresult`` hook is a registered hookimpl in ``crosswatch.builtin``;
a plugin overrides it with ``@hookimpl(tryfirst=True)``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

    from crosswatch.bus import BusView
    from crosswatch.captures.format import Capture
    from crosswatch.captures.plan import RestorePlan
    from crosswatch.captures.restore import RestoreReport
    from crosswatch.captures.store import CaptureRef
    from crosswatch.config import Config, ConfigSection
    from crosswatch.config.schema import CaptureSchedule
    from crosswatch.model import Feature, Item
    from crosswatch.provider import AuthContext, FeatureSupport, ProviderSpec, SignInState
    from crosswatch.services import ServiceContext
    from crosswatch.state import StateDir

hookspec = pluggy.HookspecMarker("crosswatch")


# -- provider ---------------------------------------------------------------------------


@hookspec
def crosswatch_register_providers(register: Callable[[ProviderSpec], None]) -> None:
    """Register provider specs (``PLEX``, ``TRAKT``, ...) by calling ``register(spec)``.

    A spec's factory builds one provider instance per configured profile.
    """


@hookspec
def crosswatch_config_sections() -> Sequence[ConfigSection] | None:
    """Return the config sections this plugin owns (``[plex]``, ...) with their msgspec schema.

    Sections marked ``profiles=True`` accept ``[<section>.profiles.<name>]`` overrides.
    """


@hookspec
def crosswatch_auth_flows() -> dict[str, Callable[[AuthContext[Any]], Awaitable[None]]] | None:
    """Return ``{section: sign_in}`` for ``crosswatch auth <section>`` (Trakt device code, Plex PIN).

    ``sign_in(ctx)`` talks to the person through ``ctx.say`` and saves what it gets in ``ctx.state``.
    """


@hookspec(firstresult=True)
def crosswatch_sign_in_state(section: str, profile: str, state: StateDir, settings: Any) -> SignInState | None:
    """How the sign-in of ``section``'s ``profile`` stands; None for a section that is not this plugin's.

    Read it from ``state`` and the profile's ``settings`` (an API key in config.toml is a
    sign-in too) only, without network (``crosswatch status`` and ``/healthz`` call it): is
    there a sign-in, when does it expire, when was it last refreshed. An implementation may
    leave out parameters it does not need (pluggy passes only those it names).
    """


@hookspec
def crosswatch_emulators() -> dict[str, str] | None:
    """Return ``{name: "module:function"}`` for ``crosswatch emulator <name> [args...]``.

    The function takes the remaining command-line arguments and returns an exit code; it
    prints a config block pointing crosswatch at the emulator first, then serves.
    """


# -- capture ----------------------------------------------------------------------------


@hookspec
def crosswatch_capture_created(capture: CaptureRef) -> None:
    """A capture file was written (e.g. copy it off-site). Errors are logged, never fatal."""


@hookspec
def crosswatch_capture_filter(provider: str, profile: str, feature: Feature, items: list[Item]) -> list[Item] | None:
    """Return a filtered item list before a capture is written (e.g. library whitelists), or None.

    Filters chain: each plugin gets what the one before returned. A filter that raises fails the
    capture (nothing is written). Safety captures (before a clear or a restore) are never filtered.
    """


# -- restore ----------------------------------------------------------------------------


@hookspec(firstresult=True)
def crosswatch_restore_plan(
    capture: Capture, current: list[Item], mode: str, support: FeatureSupport
) -> RestorePlan | None:
    """Return the ``RestorePlan`` of restoring ``capture`` (one feature) over ``current`` in ``mode``.

    ``mode`` is ``merge`` or ``clear``; ``support`` is what the provider can do with the
    feature (e.g. ``keeps_watched_at``). Core's default is ``captures.plan.plan_restore``.
    """


@hookspec
def crosswatch_restore_finished(report: RestoreReport) -> None:
    """A restore finished; ``report`` says what was added, failed and interpreted differently."""


# -- compare ----------------------------------------------------------------------------


@hookspec(firstresult=True)
def crosswatch_compare_item(feature: Feature, old: Item, new: Item) -> dict[str, tuple[object, object]] | None:
    """Return the changed fields of one title between two captures as ``{field: (old, new)}``.

    Return None to leave the decision to the next implementation (core's default last).
    """


# -- retention --------------------------------------------------------------------------


@hookspec(firstresult=True)
def crosswatch_retention_select(captures: Sequence[CaptureRef], policy: CaptureSchedule) -> list[CaptureRef] | None:
    """Choose which of a schedule's ``captures`` (newest first) to delete under ``policy``."""


@hookspec
def crosswatch_capture_deleted(ref: CaptureRef) -> None:
    """A capture file was deleted (each file of a bundle on its own); ``ref.path`` is gone now."""


# -- runtime ----------------------------------------------------------------------------


@hookspec
def crosswatch_configure(config: Config) -> None:
    """Take the validated config; called at the daemon's start and after every accepted reload.

    Daemon only (like services, subscribe and web routes): a one-shot command does not call it.
    """


@hookspec
def crosswatch_services(ctx: ServiceContext) -> Sequence[Callable[[ServiceContext], Awaitable[None]]] | None:
    """Return long-running async callables to run in the daemon's task group (e.g. a watcher).

    Each is called as ``await service(ctx)`` and is cancelled at shutdown, or when the
    plugin is disabled by a config reload.
    """


@hookspec
def crosswatch_subscribe(bus: BusView) -> None:
    """Subscribe handlers on the daemon's event bus; dropped if the plugin is disabled (daemon only)."""


@hookspec
def crosswatch_web_routes() -> Sequence[BaseRoute] | None:
    """Return Starlette routes to mount on the daemon's HTTP endpoint (e.g. webhooks); daemon only."""
