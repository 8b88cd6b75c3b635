"""crosswatch: keeps watch state in step between Plex, Trakt and other providers."""

import pluggy

__version__ = "0.1.0"

#: Decorator for plugin hook implementations: ``@crosswatch.hookimpl``.
hookimpl = pluggy.HookimplMarker("crosswatch")
