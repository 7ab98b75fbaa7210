"""SnapStart runtime hooks of the api function (stage lever ``api_snapstart``, python3.12+).

Lambda runs INIT once when a version is published, snapshots the environment and restores
copies of it on cold starts. INIT already loads the preloaded models (handler.build_runtime);
``before_snapshot`` also runs each once, so onnxruntime's first-run allocations are in the
snapshot. ``after_restore`` refreshes what must not be shared by every environment restored
from one snapshot: the random state, cached token verdicts (a token revoked since the snapshot
must fail) and cached model aliases (``prod`` may have moved). The registry is
``snapshot_restore_py`` on Lambda; tests pass a fake one.
"""
from __future__ import annotations

import random
from typing import Any

WARM_TEXTS = ["a short text to run every preloaded model once before the snapshot"]


def before_snapshot(runtime: Any) -> None:
    for ref, problem in runtime.preloaded.items():
        if problem is None:
            runtime.store.get(ref).run(WARM_TEXTS)
    build = getattr(runtime.app, "build", None)
    if build is not None:  # the Flask app is built on first use: in the snapshot, not in each restore
        build()
    runtime.telemetry.drain()  # the warm-up is not traffic: publish none of its points


def after_restore(runtime: Any) -> None:
    random.seed()  # reseed from os.urandom: restored copies must not draw the same numbers
    runtime.store.expire_aliases()
    tokens = getattr(runtime.services, "tokens", None)
    if tokens is not None:
        tokens.forget()


def install(runtime: Any, registry: Any = None) -> bool:
    """Register both hooks; False where the registry package is absent (never on Lambda)."""
    if registry is None:
        try:
            import snapshot_restore_py as registry
        except ImportError:
            return False
    registry.register_before_snapshot(before_snapshot, runtime)
    registry.register_after_restore(after_restore, runtime)
    return True


__all__ = ["install", "before_snapshot", "after_restore", "WARM_TEXTS"]
