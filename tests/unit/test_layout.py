"""What ships (functions/), deploys (infra/) and measures (bench/) stands on its own: none of it
imports the test suite, whose helpers are not packaged and may change with any test."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.imports import top_level_imports

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("folder", ["functions", "infra", "bench"])
def test_nothing_outside_tests_imports_tests(folder):
    importers = [str(path.relative_to(REPO)) for path in (REPO / folder).rglob("*.py")
                 if "node_modules" not in path.parts and "tests" in top_level_imports(path)]
    assert importers == []
