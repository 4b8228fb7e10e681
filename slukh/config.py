"""Where things live and which brands are tracked: one loader, validated, with clear errors."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

SOURCES = ("banki_ru",)
REPO_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(ValueError):
    """brands.yaml (or another setting) is wrong; the message says where."""


@dataclass(frozen=True)
class Brand:
    id: str
    name: str
    aliases: tuple[str, ...] = ()
    targets: dict[str, tuple[str, ...]] = field(default_factory=dict)


def load_brands(path: Path) -> list[Brand]:
    """Read and validate a brands file."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"brands file {path} not found (set SLUKH_BRANDS or --brands)") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path} is not valid YAML: {err}") from err
    if not isinstance(doc, dict) or not isinstance(doc.get("brands"), list):
        raise ConfigError(f"{path}: expected a top-level 'brands:' list")
    brands, seen = [], set()
    for i, b in enumerate(doc["brands"]):
        where = f"{path}: brands[{i}]"
        if not isinstance(b, dict) or not b.get("id") or not b.get("name"):
            raise ConfigError(f"{where}: every brand needs 'id' and 'name'")
        if b["id"] in seen:
            raise ConfigError(f"{where}: duplicate brand id {b['id']!r}")
        seen.add(b["id"])
        targets = b.get("targets") or {}
        for src, codes in targets.items():
            if src not in SOURCES:
                raise ConfigError(f"{where}: unknown source {src!r}; known: {', '.join(SOURCES)}")
            if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
                raise ConfigError(f"{where}: targets.{src} must be a list of codes")
        brands.append(Brand(str(b["id"]), str(b["name"]), tuple(b.get("aliases") or ()),
                            {s: tuple(c) for s, c in targets.items()}))
    return brands


@dataclass(frozen=True)
class Settings:
    """Paths and model choices; every field can come from the environment."""
    home: Path
    brands_file: Path
    encoder: str = "default"

    @classmethod
    def from_env(cls, home: str | Path | None = None, brands: str | Path | None = None,
                 encoder: str | None = None) -> "Settings":
        return cls(
            home=Path(home or os.environ.get("SLUKH_HOME") or "var").resolve(),
            brands_file=Path(brands or os.environ.get("SLUKH_BRANDS") or REPO_ROOT / "brands.yaml"),
            encoder=encoder or os.environ.get("SLUKH_ENCODER") or "default",
        )

    @property
    def db_path(self) -> Path:
        return self.home / "slukh.duckdb"

    @property
    def staging(self) -> Path:
        return self.home / "staging"

    @property
    def runs(self) -> Path:
        return self.home / "runs"

    @property
    def outbox(self) -> Path:
        return self.home / "outbox"

    def brands(self) -> list[Brand]:
        return load_brands(self.brands_file)
