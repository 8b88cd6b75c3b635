"""The ``[trakt]`` config section."""

from __future__ import annotations

from typing import Annotated

import msgspec


class TraktHistory(msgspec.Struct, kw_only=True, frozen=True):
    add_collections: bool = False  # also write collection membership when adding plays
    number_fallback: bool = True  # post episodes by show ids + season/episode numbers


class TraktSettings(msgspec.Struct, kw_only=True, frozen=True):
    client_id: str = ""
    client_secret: str = ""
    api_url: str = "https://api.trakt.tv"
    auth_url: str = "https://auth.trakt.tv"
    timeout_s: Annotated[float, msgspec.Meta(gt=0, le=300)] = 15.0
    max_retries: Annotated[int, msgspec.Meta(ge=0, le=10)] = 5
    page_size: Annotated[int, msgspec.Meta(ge=1, le=250)] = 250
    read_workers: Annotated[int, msgspec.Meta(ge=1, le=16)] = 6  # pages fetched at once
    read_limit: Annotated[int, msgspec.Meta(ge=0)] = 1000  # GETs per read_period_s (0 = no budget)
    read_period_s: Annotated[float, msgspec.Meta(gt=0)] = 300.0
    write_interval_s: Annotated[float, msgspec.Meta(ge=0, le=60)] = 1.0  # Trakt allows one write per second
    batch_size: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 100
    history: TraktHistory = TraktHistory()
