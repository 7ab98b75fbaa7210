"""Typed errors of the cost model: each says what is wrong and how to fix it."""
from __future__ import annotations


class CostError(Exception):
    """Base class: the CLI prints the message and exits with status 2."""


class UnknownRegionError(CostError):
    """No pricing file for the region."""


class MissingPriceError(CostError):
    """The pricing file lacks a price the calculation needs."""


class NoMeasurementsError(CostError):
    """No measured durations for a model/variant/memory: the message names the command to run."""


class BadTrafficError(CostError):
    """Traffic (requests, texts) must be positive."""


class BadInputError(CostError):
    """Any other argument out of range (memory, architecture, API type, shares)."""


class StageConfigError(CostError):
    """The stage config cannot be read or written back."""


__all__ = ["CostError", "UnknownRegionError", "MissingPriceError", "NoMeasurementsError",
           "BadTrafficError", "BadInputError", "StageConfigError"]
