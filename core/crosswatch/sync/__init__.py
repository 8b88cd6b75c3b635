"""Sync pairs: one-way and two-way sync of watch state between two provider profiles.

- :mod:`.pairs`: ``[[pairs]]`` resolved against the installed providers, checked;
- :mod:`.match`: finding one title on the other side by its external ids;
- :mod:`.baseline`: what each side held after the last sync (to tell a removal from never-present);
- :mod:`.diff`: the plan of one feature (adds, updates, removes per direction);
- :mod:`.safety_rules`: the outage and mass-removal rules that refuse a plan;
- :mod:`.engine`: read, plan, guard, apply, record: one run of a pair;
- :mod:`.writes`: one direction's writes, and the baselines they leave;
- :mod:`.report`: what a run did, for the summary table, the run history and ``--json``;
- :mod:`.planfile`: plans written to and applied from a file;
- :mod:`.scheduled`: the daemon's scheduled runs.
"""
