"""Load infra/pricing/<region>.yml into a `PriceBook`: every price with its source and date."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import yaml

from .errors import MissingPriceError, UnknownRegionError

PRICING_DIR = Path(__file__).resolve().parent.parent / "pricing"
_GROUP_KEYS = {"source", "url", "checked"}


@dataclass(frozen=True)
class Price:
    key: str  # "group.name", e.g. "lambda.gb_second_arm64"
    usd: float
    per: str
    source: str
    url: str
    checked: str
    note: str = ""
    # volume tiers: (cumulative units per month up to which the price holds, usd); last upto is inf
    tiers: tuple[tuple[float, float], ...] = ()

    def cost(self, quantity: float) -> float:
        """USD for ``quantity`` units in one month, each tier at its own price."""
        if not self.tiers:
            return quantity * self.usd
        total, floor = 0.0, 0.0
        for upto, usd in self.tiers:
            if quantity <= floor:
                break
            total += (min(quantity, upto) - floor) * usd
            floor = upto
        return total


@dataclass(frozen=True)
class PriceBook:
    region: str
    checked: str
    prices: Mapping[str, Price]
    free_tiers: tuple[str, ...] = ()
    path: str = ""

    def get(self, key: str) -> float:
        """The price in USD per unit; MissingPriceError names the file and key to add."""
        return self.price(key).usd

    def price(self, key: str) -> Price:
        try:
            return self.prices[key]
        except KeyError:
            group, _, name = key.partition(".")
            raise MissingPriceError(
                f"no price '{name}' under '{group}:' in {self.path or self.region} "
                f"(region {self.region}); add it with its source and date"
            ) from None

    def monthly(self, key: str, quantity: float) -> float:
        """USD for ``quantity`` units of ``key`` used in one month, volume tiers applied."""
        return self.price(key).cost(quantity)

    def has(self, key: str) -> bool:
        return key in self.prices

    def used(self, keys: list[str]) -> list[Price]:
        return [self.prices[k] for k in keys if k in self.prices]


def _tiers(raw: Any, where: str) -> tuple[tuple[float, float], ...]:
    if not raw:
        return ()
    tiers, last = [], 0.0
    for i, pair in enumerate(raw):
        upto, usd = pair
        upto = float("inf") if upto is None else float(upto)
        if upto <= last or (upto == float("inf")) != (i == len(raw) - 1):
            raise MissingPriceError(f"{where}: tiers must rise and end with [null, usd] (open-ended)")
        tiers.append((upto, float(usd)))
        last = upto
    return tuple(tiers)


def available_regions(directory: Path = PRICING_DIR) -> list[str]:
    return sorted(p.stem for p in directory.glob("*.yml"))


def load_prices(region: str, directory: Path = PRICING_DIR) -> PriceBook:
    """Read one region's pricing file; UnknownRegionError lists the regions that have one."""
    path = Path(directory) / f"{region}.yml"
    if not path.is_file():
        known = ", ".join(available_regions(Path(directory))) or "none"
        raise UnknownRegionError(f"no pricing for region '{region}' (known: {known}); "
                                 f"add {path} to price it")
    return parse_prices(yaml.safe_load(path.read_text()), str(path))


def parse_prices(doc: Mapping[str, Any], path: str = "") -> PriceBook:
    region = str(doc.get("region", ""))
    checked = str(doc.get("checked", ""))
    prices: dict[str, Price] = {}
    for group, entries in (doc.get("prices") or {}).items():
        defaults = {k: str(entries.get(k, "")) for k in _GROUP_KEYS}
        for name, entry in entries.items():
            if name in _GROUP_KEYS:
                continue
            if not isinstance(entry, Mapping) or entry.get("usd") is None:
                raise MissingPriceError(f"{path}: {group}.{name} has no 'usd' value")
            source = str(entry.get("source") or defaults["source"])
            url = str(entry.get("url") or defaults["url"])
            if not source or not url:
                raise MissingPriceError(f"{path}: {group}.{name} lacks a source name and URL")
            prices[f"{group}.{name}"] = Price(
                key=f"{group}.{name}", usd=float(entry["usd"]), per=str(entry.get("per", "")),
                source=source, url=url,
                checked=str(entry.get("checked") or defaults["checked"] or checked),
                note=str(entry.get("note", "")), tiers=_tiers(entry.get("tiers"), f"{path}: {group}.{name}"))
    return PriceBook(region=region, checked=checked, prices=prices,
                     free_tiers=tuple(doc.get("free_tiers") or ()), path=path)


__all__ = ["Price", "PriceBook", "load_prices", "parse_prices", "available_regions", "PRICING_DIR"]
