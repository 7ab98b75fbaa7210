"""The HTTP adapter: Flask app factory, routes, error mapping, telemetry and the Lambda handler."""
from .app import create_app
from .errors import to_problem
from .telemetry import Telemetry

__all__ = ["create_app", "to_problem", "Telemetry"]
