"""A bare Flask app that answers the API's typed errors as problem+json: for testing one blueprint
without the whole API app (functions.api.app maps errors the same way, through to_problem)."""
from __future__ import annotations

from flask import Flask, jsonify, request

from functions.api.errors import ApiError, to_problem
from functions.auth.errors import AccessError
from functions.nlp.errors import NlpError


def problem_app() -> Flask:
    app = Flask(__name__)

    @app.errorhandler(NlpError)
    @app.errorhandler(AccessError)
    @app.errorhandler(ApiError)
    def problem(exc):
        p = to_problem(exc)
        response = jsonify(p.body(request.path))
        response.status_code = p.status
        return response

    return app


__all__ = ["problem_app"]
