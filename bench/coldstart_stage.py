"""Cold start as a stage deploys the api function: its own environment (infra.config's
``function_environment``, the one serverless.yml renders: tables, buckets, queue, preloads, auth
and metering on, log and metrics levers, Powertools at its default INFO), the stage's resources
created under their own names on a local moto server, the default models published to its
artifacts bucket and one token in its tokens table. The first request carries the token, so it
pays what a customer's first request pays: the token lookup, the quota check and the usage write
(usage_flush_requests 1) or buffer, besides imports, preloads and the model.

Only moto stands in for AWS; the handler, its settings and its clients are the deployed ones."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

BENCH_TOKEN_ENV = "BENCH_TOKEN"  # the child's Authorization: Bearer (bench.coldstart_child)


@contextmanager
def deployed_stage(stage: str) -> Iterator[tuple[str, dict[str, str]]]:
    """Yield (moto URL, the api function's environment for ``stage`` + the bench token)."""
    from functions.auth.admin import create_token
    from infra.config import function_environment, load_config, resource_names
    from infra.local.moto import fake_client, moto_server
    from infra.local.resources import create_resources
    from model_artifacts.publish import publish_defaults

    from bench.raw import DIST

    names = resource_names(stage)
    with moto_server() as url:
        created = create_resources(lambda service: fake_client(service, url), names)
        publish_defaults(fake_client("s3", url), names["artifacts_bucket"], DIST, ("sentiment", "minilm-embed"))
        token, _ = create_token(fake_client("dynamodb", url), names["tokens_table"], owner="bench", models="*",
                                quota_per_day=10**9)
        env = function_environment(load_config().stage(stage), "api", {**names, "train_queue_url": created.train_queue_url},
                                   queue_url=created.queue_url)
        yield url, {**env, BENCH_TOKEN_ENV: token}


__all__ = ["deployed_stage", "BENCH_TOKEN_ENV"]
