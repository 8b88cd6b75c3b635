"""What every command-line parser module uses (argparse only: kept import-light)."""

from __future__ import annotations

import argparse
from typing import Any


def command(actions: Any, name: str, handler: str, **kwargs: Any) -> argparse.ArgumentParser:
    """Add the parser of one command together with its handler, ``"module:function"`` under
    ``crosswatch.commands`` (imported only when the command runs)."""
    parser: argparse.ArgumentParser = actions.add_parser(name, **kwargs)
    parser.set_defaults(handler=handler)
    return parser
