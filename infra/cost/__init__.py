"""Cost and tradeoff model: measured durations x listed prices -> $ per request, per text, per month.

Pure arithmetic lives in model.py; prices in infra/pricing/<region>.yml; measurements in
measurements/<date>.json (made by sweep.py). Entry point: ``python -m infra.cost``.
"""
from .errors import (BadInputError, BadTrafficError, CostError, MissingPriceError, NoMeasurementsError,
                     StageConfigError, UnknownRegionError)
from .measurements import Measurements, Profile
from .model import Cost, Deployment, Workload, billed_ms, estimate, s3_storage_month
from .pricing import PriceBook, load_prices
from .traffic import TrafficShape, cold_start_share

__all__ = ["CostError", "UnknownRegionError", "MissingPriceError", "NoMeasurementsError", "BadTrafficError",
           "BadInputError", "StageConfigError", "Measurements", "Profile", "Cost", "Deployment", "Workload",
           "billed_ms", "estimate", "s3_storage_month", "PriceBook", "load_prices", "TrafficShape", "cold_start_share"]
