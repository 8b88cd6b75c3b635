"""``[[pairs]]`` resolved against the installed providers, with every fault found before a write."""

from __future__ import annotations

from dataclasses import dataclass

from crosswatch.config import Config
from crosswatch.config.locate import locate
from crosswatch.config.schema import PairConfig
from crosswatch.errors import CrosswatchError
from crosswatch.model import Feature
from crosswatch.profiles import Profile, ProfileError, resolve_profile
from crosswatch.provider import ProviderRegistry


class PairError(CrosswatchError):
    """A pair that cannot run; the message names the pair, the key and (when known) the line."""


@dataclass(frozen=True)
class Pair:
    name: str
    source: Profile
    target: Profile
    mode: str  # "one-way" | "two-way"
    features: dict[Feature, tuple[bool, bool]]  # feature -> (add, remove)
    schedule: str = ""

    @property
    def two_way(self) -> bool:
        return self.mode == "two-way"

    def sides(self) -> list[tuple[Profile, Profile]]:
        """(from, to) for each direction this pair writes."""
        forward = (self.source, self.target)
        return [forward, (self.target, self.source)] if self.two_way else [forward]


def _where(config: Config, index: int, key: str) -> str:
    path = config.config_dir / "config.toml"
    try:
        line = locate(path.read_text(), ["pairs", index, key]) if path.exists() else None
    except (OSError, ValueError):
        line = None
    return f"{path}:{line}: " if line else f"{path}: "


def _resolve(config: Config, registry: ProviderRegistry, index: int, pair: PairConfig) -> Pair:
    sides = []
    for key in ("source", "target"):
        try:
            sides.append(resolve_profile(config, registry, getattr(pair, key)))
        except ProfileError as exc:
            raise PairError(f"{_where(config, index, key)}pairs[{index}] {pair.name!r} {key}: {exc}") from None
    source, target = sides
    if source.name == target.name:
        raise PairError(f"{_where(config, index, 'target')}pair {pair.name!r}: source and target are the same profile")
    features: dict[Feature, tuple[bool, bool]] = {}
    for name, (add, remove) in pair.feature_switches().items():
        feature = Feature(name)
        ends = [(source, target)] + ([(target, source)] if pair.mode == "two-way" else [])
        for reader, writer in ends:
            need = [("read", reader), ("read", writer)]  # a plan reads both sides
            need += ([("add", writer)] if add else []) + ([("remove", writer)] if remove else [])
            for what, profile in need:
                support = profile.support(feature)
                if support is None or not getattr(support, what):
                    raise PairError(
                        f"{_where(config, index, 'features')}pair {pair.name!r}: {profile.name} cannot {what} {feature}"
                        + (" (set remove = false for it)" if what == "remove" else "")
                    )
        features[feature] = (add, remove)
    return Pair(pair.name, source, target, pair.mode, features, pair.schedule)


def resolve_pairs(config: Config, registry: ProviderRegistry) -> tuple[list[Pair], list[str]]:
    """Every enabled pair that can run, and a message for each fault (a faulty pair is left out)."""
    pairs: list[Pair] = []
    errors: list[str] = []
    for index, entry in enumerate(config.pairs):
        if not entry.enabled:
            continue
        try:
            pairs.append(_resolve(config, registry, index, entry))
        except PairError as exc:
            errors.append(str(exc))
    writes = {
        (pair.name, source.name, target.name, feature)
        for pair in pairs
        for source, target in pair.sides()
        for feature in pair.features
    }
    bad: set[str] = set()
    for name, source, target, feature in sorted(writes):
        for other, o_source, o_target, o_feature in sorted(writes):
            if other > name and (o_source, o_target, o_feature) == (target, source, feature):
                bad |= {name, other}
                errors.append(
                    f"pairs {name!r} and {other!r} both sync {feature} between {source} and {target} in "
                    "opposite directions; use one two-way pair instead"
                )
    return [p for p in pairs if p.name not in bad], errors


def find_pair(config: Config, registry: ProviderRegistry, name: str) -> Pair:
    """The pair called ``name``, resolved; PairError saying why it cannot run."""
    if not any(p.name == name for p in config.pairs):
        known = ", ".join(p.name for p in config.pairs) or "none"
        raise PairError(f"no pair named {name!r} in the config (pairs: {known})")
    entry = next(p for p in config.pairs if p.name == name)
    if not entry.enabled:
        raise PairError(f"pair {name!r} is disabled (enabled = false)")
    pairs, errors = resolve_pairs(config, registry)
    for pair in pairs:
        if pair.name == name:
            return pair
    mine = [e for e in errors if repr(name) in e]
    raise PairError("; ".join(mine) or f"pair {name!r} cannot run")
