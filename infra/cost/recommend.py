"""Cost grids and memory recommendations, the way AWS Lambda Power Tuning makes them.

Power Tuning (alexcasalboni/aws-lambda-power-tuning, lambda/analyzer.js) runs a function at
several memory sizes and, per size, reports the average cost and duration of an invocation,
where the cost is Lambda's compute price only (``ceil(ms) x price per ms at that memory``). It
picks by strategy: ``cost`` (cheapest, ties by speed), ``speed`` (fastest, ties by cost) or
``balanced``: the lowest ``w * cost/max_cost + (1 - w) * duration/max_duration`` with
``balancedWeight`` w = 0.5 by default. Here the durations are the sweep's measurements and the
cost is the same Lambda compute cost (cold starts mixed in at the traffic model's share), so a
real Power Tuning run on AWS can be compared row by row. Fees that do not depend on memory
(gateway, logs, DynamoDB ...) are left out on purpose: they would flatten the cost axis and
tilt ``balanced`` towards speed. Sizes below the memory a variant needs (peak RSS + 10 %) are
never candidates.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .errors import BadInputError
from .measurements import Measurements
from .model import APIS, ARCHES, Cost, Deployment, Workload, estimate
from .pricing import PriceBook

STRATEGIES = ("cost", "speed", "balanced")
ALIASES = {"cheapest": "cost", "fastest": "speed"}  # this project's older names
BALANCED_WEIGHT = 0.5

# (model, variant, memory_mb) -> the Deployment to price (levers.deployment binds a stage)
DeploymentFor = Callable[[str, str, int], Deployment]


@dataclass(frozen=True)
class Candidate:
    memory_mb: int
    duration_ms: float  # warm median at the workload's texts per request
    cost: Cost

    @property
    def lambda_usd(self) -> float:
        """Power Tuning's averagePrice: Lambda compute per invocation (cold starts mixed in)."""
        return self.cost.lambda_compute_usd


@dataclass(frozen=True)
class Recommendation:
    model: str
    variant: str
    strategy: str
    memory_mb: int
    required_memory_mb: int
    candidates: tuple[Candidate, ...]
    weight: float = BALANCED_WEIGHT

    @property
    def chosen(self) -> Candidate:
        return next(c for c in self.candidates if c.memory_mb == self.memory_mb)

    def power_tuning(self) -> dict:
        """The analyzer's output shape: power, cost, duration, and stats per memory size."""
        return {"power": self.memory_mb, "cost": self.chosen.lambda_usd, "duration": self.chosen.duration_ms,
                "strategy": self.strategy, "balancedWeight": self.weight,
                "stats": [{"value": c.memory_mb, "averagePrice": c.lambda_usd, "averageDuration": c.duration_ms}
                          for c in self.candidates]}


def plain(arch: str = "arm64", api: str = "http") -> DeploymentFor:
    return lambda model, variant, memory: Deployment(model, variant, memory, arch, api)


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
               arch: str = "arm64", api: str = "http", make: DeploymentFor | None = None,
               **estimate_kw) -> tuple[int, list[Candidate]]:
    required = meas.required_memory(model, variant)
    make = make or plain(arch, api)
    found = []
    for memory in meas.memories(model, variant):
        if memory < required:
            continue
        profile = meas.profile(model, variant, memory, workload.texts_per_request)
        found.append(Candidate(memory, profile.warm_ms, estimate(profile, make(model, variant, memory),
                                                                 workload, prices, **estimate_kw)))
    return required, found


def strategy_name(strategy: str) -> str:
    name = ALIASES.get(strategy, strategy)
    if name not in STRATEGIES:
        raise BadInputError(f"strategy must be one of {', '.join(STRATEGIES)}, got '{strategy}'")
    return name


def pick(found: list[Candidate], strategy: str, weight: float = BALANCED_WEIGHT) -> Candidate:
    strategy = strategy_name(strategy)
    if not found:
        raise BadInputError("no memory size is large enough for this variant")
    if not 0.0 <= weight <= 1.0:
        raise BadInputError(f"the balanced weight must be between 0 and 1, got {weight}")
    if strategy == "cost":
        return min(found, key=lambda c: (c.lambda_usd, c.duration_ms))
    if strategy == "speed":
        return min(found, key=lambda c: (c.duration_ms, c.lambda_usd))
    max_cost = max(c.lambda_usd for c in found)
    max_ms = max(c.duration_ms for c in found)
    return min(found, key=lambda c: weight * c.lambda_usd / max_cost + (1 - weight) * c.duration_ms / max_ms)


def recommend(meas: Measurements, prices: PriceBook, workload: Workload, model: str, variant: str,
              strategy: str, *, arch: str = "arm64", api: str = "http", weight: float = BALANCED_WEIGHT,
              make: DeploymentFor | None = None, **estimate_kw) -> Recommendation:
    required, found = candidates(meas, prices, workload, model, variant, arch=arch, api=api, make=make,
                                 **estimate_kw)
    best = pick(found, strategy, weight)
    return Recommendation(model, variant, strategy_name(strategy), best.memory_mb, required, tuple(found), weight)


def function_memory(recommendations: list[Recommendation]) -> int:
    """One api function serves every model it preloads: it gets the largest recommended size."""
    if not recommendations:
        raise BadInputError("no recommendations to combine")
    return max(r.memory_mb for r in recommendations)


__all__ = ["STRATEGIES", "ALIASES", "BALANCED_WEIGHT", "Candidate", "Recommendation", "grid", "candidates", "pick",
           "recommend", "function_memory", "plain", "strategy_name"]
