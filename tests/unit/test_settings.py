"""Settings read from the environment: defaults that depend on each other."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import make_settings

BROKER = {"FOOTFALL_BROKER_URL": "redis://127.0.0.1:6379/0"}


@pytest.mark.parametrize(
    ("env", "ttl_s"),
    [
        ({}, 10.0),  # the embedded default: one process, its own cache invalidated at once
        ({"WEB_CONCURRENCY": "1"}, 10.0),
        ({"WEB_CONCURRENCY": "2", **BROKER}, 10.0),  # peers hear of changes over Redis
        ({"WEB_CONCURRENCY": "2"}, 0.0),  # no broker: nothing tells the other process
        ({"WEB_CONCURRENCY": "2", "FOOTFALL_PRODUCT_CACHE_TTL_S": "5"}, 5.0),  # asked for
    ],
)
def test_the_product_cache_is_off_by_default_only_where_changes_cannot_reach_it(
    tmp_path: Path, env: dict[str, str], ttl_s: float
) -> None:
    assert make_settings(tmp_path, **env).product_cache_ttl_s == ttl_s
