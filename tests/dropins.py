"""Drop-in plugins for tests: a config folder with files in ``plugins.d``, forgotten afterwards.

A drop-in loads as module ``crosswatch_dropin_<stem>``; a test that leaves it in
``sys.modules`` would hand the next test the old module.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def forget_dropins() -> None:
    """Drop every loaded drop-in module."""
    for name in [m for m in sys.modules if m.startswith("crosswatch_dropin_")]:
        del sys.modules[name]


@contextmanager
def dropin_folder(
    folder: Path, plugins: dict[str, str], config: str | None = None, files: dict[str, Any] | None = None
) -> Iterator[Path]:
    """``folder`` with ``plugins.d/<stem>.py`` per plugin, ``config.toml`` (when given) and JSON
    ``files`` beside it; the drop-ins are forgotten on the way out."""
    (folder / "plugins.d").mkdir(exist_ok=True)
    for stem, text in plugins.items():
        (folder / "plugins.d" / f"{stem}.py").write_text(text)
    if config is not None:
        (folder / "config.toml").write_text(config)
    for name, data in (files or {}).items():
        (folder / name).write_text(json.dumps(data))
    try:
        yield folder
    finally:
        forget_dropins()
