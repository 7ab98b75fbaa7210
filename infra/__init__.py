"""Deployment, cost model and local stack (runs on a workstation or CI, never in Lambda)."""
