"""Sync pairs: one-way and two-way sync of watch state between two provider profiles.

- :mod:`.pairs`: ``[[pairs]]`` resolved against the installed providers, checked;
- :mod:`.match`: finding one title on the other side by its external ids;
- :mod:`.baseline`: what each side held after the last sync (to tell a removal from never-present);
- :mod:`.diff`: the plan of one feature (adds, updates, removes per direction);
- :mod:`.guards`: the outage and mass-removal guards;
- :mod:`.planfile`: plans written to and applied from a file;
- :mod:`.engine`: read, plan, guard, apply, record: one run of a pair;
- :mod:`.summary`: the table printed and logged after every run.
"""
