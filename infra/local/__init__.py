"""The local stack: the real system on one machine (moto for S3/DynamoDB/SQS, real models).

``python -m infra.local up`` (what ``make up`` runs after building the models) starts a moto
server, creates the stage ``local`` resources with the names serverless.yml uses, publishes the
models, creates a demo token, and serves the same Flask app and batch handler that run on Lambda.
"""
from .errors import LocalStackError
from .stack import LocalStack, StackOptions

__all__ = ["LocalStack", "StackOptions", "LocalStackError"]
