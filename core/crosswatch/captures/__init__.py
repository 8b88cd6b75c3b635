"""Captures: point-in-time copies of one provider profile's feature, to restore, compare and keep.

- :mod:`.format`: the file (header on line 1, one item per line, checksum);
- :mod:`.store`: ``snapshots/`` paths, names, listing, deleting;
- :mod:`.create`, :mod:`.plan`, :mod:`.restore`, :mod:`.compare`: the operations;
- :mod:`.retention`: schedules' pruning; :mod:`.tools`: clearing a feature on a provider;
- :mod:`.scheduled`: the daemon's side of capture schedules.
"""
