"""Cost grids and memory recommendations, in the manner of AWS Lambda Power Tuning.

Power Tuning runs a function at several memory sizes and picks by strategy: ``cost`` (lowest
cost per invocation), ``speed`` (lowest duration) or ``balanced`` (lowest
``w * cost/max_cost + (1 - w) * duration/max_duration``, w = 0.5). Here the durations are the
sweep's measurements and the cost is the all-in cost per request, and sizes below the memory
the variant needs (peak RSS + headroom) are never candidates.
"""
from __future__ import annotations

from dataclasses import dataclass

from .errors import BadInputError
from .measurements import Measurements
from .model import APIS, ARCHES, Cost, Deployment, Workload, estimate
from .pricing import PriceBook

STRATEGIES = ("cheapest", "fastest", "balanced")
BALANCED_WEIGHT = 0.5


@dataclass(frozen=True)
class Candidate:
    memory_mb: int
    duration_ms: float  # warm median at the workload's texts per request
    cost: Cost


@dataclass(frozen=True)
class Recommendation:
    model: str
    variant: str
    strategy: str
    memory_mb: int
    required_memory_mb: int
    candidates: tuple[Candidate, ...]

    @property
    def chosen(self) -> Candidate:
        return next(c for c in self.candidates if c.memory_mb == self.memory_mb)


def grid(meas: Measurements, prices: PriceBook, workload: Workload, *, models: list[str] | None = None,
         arches: tuple[str, ...] = ARCHES, apis: tuple[str, ...] = APIS, **estimate_kw) -> list[Cost]:
    """Every measured (model, variant, memory) x architecture x API type."""
    out = []
    for model in models or meas.models():
        for variant in meas.variants(model):
            for memory in meas.memories(model, variant):
                profile = meas.profile(model, variant, memory, workload.texts_per_request)
                for arch in arches:
                    for api in apis:
                        out.append(estimate(profile, Deployment(model, variant, memory, arch, api),
                                            workload, prices, **estimate_kw))
    return out


def candidates(meas: Measurements, prices: PriceBook, workload: Workload, model: str, variant: str, *,
               arch: str = "arm64", api: str = "http", **estimate_kw) -> tuple[int, list[Candidate]]:
    required = meas.required_memory(model, variant)
    found = []
    for memory in meas.memories(model, variant):
        if memory < required:
            continue
        profile = meas.profile(model, variant, memory, workload.texts_per_request)
        cost = estimate(profile, Deployment(model, variant, memory, arch, api), workload, prices, **estimate_kw)
        found.append(Candidate(memory, profile.warm_ms, cost))
    return required, found


def pick(found: list[Candidate], strategy: str, weight: float = BALANCED_WEIGHT) -> Candidate:
    if strategy not in STRATEGIES:
        raise BadInputError(f"strategy must be one of {', '.join(STRATEGIES)}, got '{strategy}'")
    if not found:
        raise BadInputError("no memory size is large enough for this variant")
    if strategy == "cheapest":
        return min(found, key=lambda c: (c.cost.request_usd, c.duration_ms))
    if strategy == "fastest":
        return min(found, key=lambda c: (c.duration_ms, c.cost.request_usd))
    max_cost = max(c.cost.request_usd for c in found)
    max_ms = max(c.duration_ms for c in found)
    return min(found, key=lambda c: weight * c.cost.request_usd / max_cost + (1 - weight) * c.duration_ms / max_ms)


def recommend(meas: Measurements, prices: PriceBook, workload: Workload, model: str, variant: str,
              strategy: str, *, arch: str = "arm64", api: str = "http", **estimate_kw) -> Recommendation:
    required, found = candidates(meas, prices, workload, model, variant, arch=arch, api=api, **estimate_kw)
    best = pick(found, strategy)
    return Recommendation(model, variant, strategy, best.memory_mb, required, tuple(found))


def function_memory(recommendations: list[Recommendation]) -> int:
    """One api function serves every model it preloads: it gets the largest recommended size."""
    if not recommendations:
        raise BadInputError("no recommendations to combine")
    return max(r.memory_mb for r in recommendations)


__all__ = ["STRATEGIES", "Candidate", "Recommendation", "grid", "candidates", "pick", "recommend",
           "function_memory"]
