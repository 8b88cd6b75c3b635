"""crosswatch: keeps watch state in step between Plex, Trakt and other providers."""

import pluggy

__version__ = "0.1.0"

#: The plugin contract's version (docs/plugins.md). The major number changes when a change
#: would break a plugin written for the previous one; the minor when something is added.
#: A plugin may declare the major it was written for as ``CROSSWATCH_CONTRACT = 1`` in its
#: module; one that names another major is refused at load, with both numbers in the reason.
CONTRACT_VERSION = (1, 0)

#: The modules a plugin may import: the documented public surface (docs/plugins.md).
#: Everything else in core may change in any release.
PUBLIC_MODULES = (
    "crosswatch",  # hookimpl, CONTRACT_VERSION, __version__
    "crosswatch.hookspecs",  # the hooks (to read, and for type checking)
    "crosswatch.model",  # Feature, MediaType, Item, match_keys, title_key, item_key, epoch_seconds
    "crosswatch.provider",  # ProviderSpec, FeatureSupport, Provider, Scrobbler, WriteResult, contexts
    "crosswatch.events",  # the bus's events
    "crosswatch.errors",  # CrosswatchError, ProviderError
    "crosswatch.http",  # HttpPolicy (retries, pacing, budgets), HttpError, SignInError, OutcomeUnknown
    "crosswatch.state",  # StateDir: the provider's own files under .cw_state
    "crosswatch.config",  # ConfigSection, Config
    "crosswatch.bus",  # BusView
    "crosswatch.services",  # ServiceContext
    "crosswatch.webhooks",  # WebhookGate: the checks of a webhook route (on, secret, size)
    "crosswatch.progress",  # progress of long reads and writes
    "crosswatch.logging",  # register_secret
    "crosswatch.unresolved",  # UnresolvedStore, FROZEN_REASON
    "crosswatch.emulation",  # building blocks of an emulator (and its submodules)
    "crosswatch.testing",  # the provider contract suite and fixtures for plugin tests
)

#: Decorator for plugin hook implementations: ``@crosswatch.hookimpl``.
hookimpl = pluggy.HookimplMarker("crosswatch")
