"""``crosswatch web set-password``: print the ``[web] password_hash`` line for config.toml.

crosswatch never rewrites config.toml: the person pastes the printed lines, and a running daemon
picks them up on its next reload (every existing session then ends).
"""

from __future__ import annotations

import argparse
import getpass
import sys

from crosswatch.commands.common import fail, run


def read_password() -> str | None:
    """Asked twice on a terminal; else the first line of stdin. None (after saying why) when unusable."""
    from crosswatch.webui.passwords import MIN_LENGTH

    if sys.stdin.isatty():
        first = getpass.getpass("New dashboard password: ")
        if getpass.getpass("Again: ") != first:
            fail("the two passwords differ; nothing changed")
            return None
        password = first
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < MIN_LENGTH:
        fail(f"the password must have at least {MIN_LENGTH} characters; nothing changed")
        return None
    return password


def cmd_set_password(args: argparse.Namespace) -> int:
    def work() -> int:
        from crosswatch.webui.passwords import hash_password

        password = read_password()
        if password is None:
            return 1
        print("[web]")
        print(f'password_hash = "{hash_password(password)}"')
        print(
            "put these lines in config.toml (crosswatch never rewrites it); a running daemon reloads it by itself",
            file=sys.stderr,
        )
        return 0

    return run(args, work)
