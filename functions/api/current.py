"""The Flask path's request facts: the one place they are kept between Flask's hooks and views.

The direct path (functions/api/direct.py) hands its ``RequestFacts`` from step to step as a local
value. Flask's hooks and views cannot pass values to each other, so the app's before hook
(functions/api/app.py) binds the request's facts here with ``begin`` and the views ask once, at
their top, for ``facts()`` or ``principal()``; from there the facts and the caller go on as
arguments (``ApiServices``, functions/api/gate.py), as on the direct path. Nothing else reads
``flask.g``. Flask is imported on use: the route modules the direct path imports import this one.
"""
from __future__ import annotations

from functions.auth.tokens import TokenRecord

from .context import RequestFacts


def begin(seen: RequestFacts) -> RequestFacts:
    """Keep ``seen`` as the facts of the Flask request being served (the app's before hook)."""
    from flask import g

    g.snlp_facts = seen
    return seen


def begun() -> RequestFacts | None:
    """The facts of the Flask request being served; None when it failed before ``begin``."""
    from flask import g

    return g.get("snlp_facts")


def facts() -> RequestFacts:
    """The facts of the Flask request being served (a view's: ``begin`` has run)."""
    from flask import g

    return g.snlp_facts


def principal() -> TokenRecord:
    """The caller of the Flask request being served: the token record the gate authenticated
    (ANONYMOUS where auth is off). Only for routes that are not public: those have no caller."""
    caller = facts().principal
    if caller is None:
        raise LookupError("a public route has no caller: it cannot ask for one")
    return caller


__all__ = ["begin", "begun", "facts", "principal"]
