"""The HTTP adapter: Flask app factory, routes, error mapping, telemetry and the Lambda handler.

``create_app`` is imported on first use (PEP 562): the Lambda handler's cold start imports no
Flask for the hot routes (functions/api/direct.py)."""
from typing import Any

from .errors import to_problem
from .telemetry import Telemetry

__all__ = ["create_app", "to_problem", "Telemetry"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
