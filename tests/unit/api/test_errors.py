"""The one error mapping: every code has a status, a stable type URI, and leaks nothing."""
from __future__ import annotations

import json

import pytest

from functions.api import errors as api_errors
from functions.api.errors import CATALOG, TYPE_BASE, problem_payload, to_problem
from functions.auth import errors as auth_errors
from functions.nlp import errors as nlp_errors

EXPECTED = {
    nlp_errors.EmptyInputError: 422, nlp_errors.TooManyTextsError: 422, nlp_errors.TextTooLongError: 422,
    nlp_errors.InputTypeError: 422, nlp_errors.ValidationError: 422, nlp_errors.WrongTaskError: 422,
    nlp_errors.ModelNotFoundError: 404, nlp_errors.ArtifactIntegrityError: 503,
    nlp_errors.ModelUnavailableError: 503, nlp_errors.ManifestError: 503,
    auth_errors.MissingTokenError: 401, auth_errors.InvalidTokenError: 401, auth_errors.TokenRevokedError: 403,
    auth_errors.ModelNotAllowedError: 403, auth_errors.QuotaExceededError: 429,
    auth_errors.TokenStoreUnavailableError: 503,
    api_errors.MalformedJsonError: 400, api_errors.TokenInQueryError: 400, api_errors.UnsupportedMediaTypeError: 415,
    api_errors.RouteNotFoundError: 404, api_errors.MethodNotAllowedError: 405, api_errors.PayloadTooLargeError: 413,
}


@pytest.mark.parametrize("cls,status", EXPECTED.items(), ids=lambda v: getattr(v, "__name__", str(v)))
def test_every_error_class_maps_to_its_status_and_a_stable_type(cls, status):
    problem = to_problem(cls("some detail"))
    assert problem.status == status
    assert problem.type == TYPE_BASE + cls.code
    assert problem.code in CATALOG


def test_every_subclass_of_the_domain_errors_is_in_the_catalog():
    def all_subclasses(base):
        for sub in base.__subclasses__():
            yield sub
            yield from all_subclasses(sub)
    for base in (nlp_errors.NlpError, auth_errors.AccessError, api_errors.ApiError):
        for cls in all_subclasses(base):
            assert cls.code in CATALOG, cls


def test_unknown_exceptions_become_a_generic_500_that_leaks_nothing():
    problem = to_problem(RuntimeError("/tmp/snlp-models/secret path, token snlp_abc"))
    assert (problem.status, problem.code) == (500, "internal")
    assert "tmp" not in problem.detail and "snlp_" not in problem.detail


def test_integrity_errors_hide_their_internal_detail():
    problem = to_problem(nlp_errors.ArtifactIntegrityError("m@1: model.onnx has 12 bytes, manifest says 13"))
    assert "model.onnx" not in problem.detail and problem.headers["Retry-After"]


def test_retry_after_and_www_authenticate_headers():
    assert to_problem(auth_errors.QuotaExceededError("over", retry_after=42)).headers["Retry-After"] == "42"
    assert to_problem(nlp_errors.ModelUnavailableError("down")).headers["Retry-After"] == "5"
    assert "Bearer" in to_problem(auth_errors.MissingTokenError("none")).headers["WWW-Authenticate"]


def test_payload_styles():
    problem = to_problem(nlp_errors.ModelNotFoundError("model x not found"))
    body, ctype = problem_payload(problem, "/v1/classify", "rid")
    assert ctype == "application/problem+json"
    assert json.loads(body) == {"type": TYPE_BASE + "model-not-found", "title": "Model not found", "status": 404,
                                "detail": "model x not found", "instance": "/v1/classify", "request_id": "rid"}
    body, ctype = problem_payload(problem, "/v1/models/x:predict", "rid", style="tfserving")
    assert (json.loads(body), ctype) == ({"error": "model x not found"}, "application/json")
    body, _ = problem_payload(problem, "/v1/embeddings", None, style="openai")
    assert json.loads(body)["error"] == {"message": "model x not found", "type": "model-not-found",
                                         "code": "model-not-found"}
