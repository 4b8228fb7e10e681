"""Where things live and which brands are tracked: one loader, validated, with clear errors."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(ValueError):
    """brands.yaml (or another setting) is wrong; the message says where."""


@dataclass(frozen=True)
class Target:
    """One thing to crawl for a brand: the source's own code plus spider arguments."""
    code: str
    params: dict = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class Brand:
    id: str
    name: str
    aliases: tuple[str, ...] = ()
    targets: dict[str, tuple[Target, ...]] = field(default_factory=dict)


def known_sources() -> list[str]:
    """Source ids = names of the spiders in spiders/sources (found by Scrapy's loader)."""
    from spiders.run import spider_names
    return spider_names()


def _target(where: str, item: object) -> Target:
    if isinstance(item, str) and item:
        return Target(item)
    if isinstance(item, dict) and isinstance(item.get("code"), str) and item["code"]:
        return Target(item["code"], {k: v for k, v in item.items() if k != "code"})
    raise ConfigError(f"{where}: a target is a code string or a mapping with 'code:' "
                      f"and spider arguments, got {item!r}")


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
        sources = known_sources()
        parsed: dict[str, tuple[Target, ...]] = {}
        for src, items in targets.items():
            if src not in sources:
                raise ConfigError(f"{where}: unknown source {src!r}; known: {', '.join(sources)}")
            if not isinstance(items, list):
                raise ConfigError(f"{where}: targets.{src} must be a list")
            parsed[src] = tuple(_target(f"{where}.targets.{src}", t) for t in items)
        brands.append(Brand(str(b["id"]), str(b["name"]), tuple(b.get("aliases") or ()), parsed))
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
