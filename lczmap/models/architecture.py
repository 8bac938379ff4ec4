"""The encoder's shape and normalisation choice, without torch (the command line builds its
options from these)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal, get_args

from ..errors import ConfigError

__all__ = ["Norm", "NORMS", "check_norm", "Architecture", "DEFAULT_ARCHITECTURE"]

Norm = Literal["batch", "instance"]
#: Normalisation layers an encoder can use (``--norm``).
NORMS: tuple[str, ...] = get_args(Norm)


def check_norm(norm: str) -> str:
    """Return ``norm`` if it is ``batch`` or ``instance``; raise :class:`ConfigError` otherwise."""
    if norm not in NORMS:
        raise ConfigError(f"unknown norm {norm!r}: choose batch or instance")
    return norm


#: Architecture fields ``lczmap train`` exposes as options of the same name.
_CLI_OPTIONS = ("width", "depth", "embedding")


@dataclass(frozen=True)
class Architecture:
    """Encoder shape: ``width`` channels in the first stage (doubled per stage), ``depth``
    stages, ``blocks`` conv blocks per stage, ``embedding`` size, SupCon ``projection`` size."""

    width: int = 16
    depth: int = 3
    blocks: int = 2
    embedding: int = 64
    projection: int = 64

    def __post_init__(self) -> None:
        for name in ("width", "depth", "blocks", "embedding", "projection"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                option = f" (--{name})" if name in _CLI_OPTIONS else ""
                raise ConfigError(f"architecture {name}{option} must be a positive integer, got {value!r}")
        if self.depth > 5:
            raise ConfigError(f"architecture depth {self.depth} is too deep for 32x32 patches: use --depth 1-5")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Architecture:
        known = {k: int(v) for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


#: The encoder shape ``lczmap train`` uses unless told otherwise (the one home of these defaults).
DEFAULT_ARCHITECTURE = Architecture()
