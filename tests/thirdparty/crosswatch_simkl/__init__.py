"""A third party's installable plugin: provider SIMKL, kept in memory, section [simkl]."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crosswatch import hookimpl
from crosswatch.config import ConfigSection
from crosswatch.provider import ProviderSpec
from crosswatch_simkl.provider import FEATURES, SimklProvider, SimklSettings

#: what crosswatch_configure saw, so a test can tell it ran
CONFIGURED: list[str] = []


@hookimpl
def crosswatch_register_providers(register: Callable[[ProviderSpec], None]) -> None:
    register(ProviderSpec("SIMKL", SimklProvider, FEATURES, title="SIMKL"))


@hookimpl
def crosswatch_config_sections() -> list[ConfigSection]:
    return [ConfigSection("simkl", SimklSettings)]


@hookimpl
def crosswatch_configure(config: Any) -> None:
    CONFIGURED.append(config.sections["simkl"].default.client_id)
