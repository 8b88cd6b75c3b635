"""Live scrobbling: what is observed on a provider (plays, ratings) is forwarded to targets.

- :mod:`.guard`: listeners pause for a provider profile while crosswatch itself writes there
  (a tool's clear, a restore, a sync) and drop, count and log the echoes;
- :mod:`.router`: the daemon service that takes observed events from a bounded queue and
  forwards them to the targets (``scrobble.targets``), de-duplicated.

The watchers and webhooks that observe belong to the provider plugins (Plex's).
"""
