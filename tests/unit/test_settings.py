"""Settings read from the environment: defaults that depend on each other, values refused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from entrypoints.logs import configure_logging
from entrypoints.settings import SettingsError
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


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("FOOTFALL_VISIT_FLUSH_INTERVAL_S", "0"),  # a flush loop that never sleeps
        ("FOOTFALL_VISIT_FLUSH_INTERVAL_S", "-1"),
        ("FOOTFALL_AGGREGATE_EVERY_S", "0"),
        ("FOOTFALL_AGGREGATE_EVERY_S", "inf"),  # was a traceback from the scheduler
        ("FOOTFALL_EMAIL_LEASE_S", "-5"),
        ("FOOTFALL_PRODUCT_CACHE_TTL_S", "nan"),
        ("FOOTFALL_PRODUCT_CACHE_TTL_S", "-1"),
        ("FOOTFALL_PRODUCT_CACHE_TTL_S", "soon"),
    ],
)
def test_a_duration_that_makes_no_sense_is_refused_by_name(
    tmp_path: Path, name: str, raw: str
) -> None:
    with pytest.raises(SettingsError, match=name):
        make_settings(tmp_path, **{name: raw})


def test_a_product_cache_ttl_of_zero_turns_the_cache_off(tmp_path: Path) -> None:
    assert make_settings(tmp_path, FOOTFALL_PRODUCT_CACHE_TTL_S="0").product_cache_ttl_s == 0


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("FOOTFALL_DATABASE_URL", "garbage"),
        ("FOOTFALL_DATABASE_URL", "postgresql://postgres@db/footfall"),  # no async driver
        ("FOOTFALL_DATABASE_URL", "mysql+aiomysql://user:hunter2@db/footfall"),
        ("FOOTFALL_BROKER_URL", "http://broker"),
        ("FOOTFALL_PUBLIC_URL", "shop.example.com"),  # unsubscribe links must be absolute
        ("FOOTFALL_SENDGRID_HOST", "api.sendgrid.com"),
        ("FOOTFALL_EMAIL_FROM", "Footfall"),
        ("FOOTFALL_EMAIL_FROM", "Footfall <no-reply@example.com>"),  # SendGrid wants it bare
        ("FOOTFALL_PORT", "99999"),
        ("FOOTFALL_METRICS_PORT", "65536"),
    ],
)
def test_a_url_or_port_footfall_cannot_use_is_refused_by_name(
    tmp_path: Path, name: str, raw: str
) -> None:
    with pytest.raises(SettingsError, match=name) as refused:
        make_settings(tmp_path, **{name: raw})
    assert "hunter2" not in str(refused.value)  # a database URL's password is not repeated


@pytest.mark.parametrize(
    ("name", "raw"), [("FOOTFALL_LOG_LEVEL", "LOUD"), ("FOOTFALL_LOG_FORMAT", "xml")]
)
def test_a_log_setting_footfall_cannot_use_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, name: str, raw: str
) -> None:
    monkeypatch.setenv(name, raw)
    with pytest.raises(SettingsError, match=name):
        configure_logging()


@pytest.mark.parametrize("option", ["--processes", "--threads"])
def test_footfall_worker_refuses_a_count_below_one(tmp_path: Path, option: str) -> None:
    # A process of its own: the command configures logging for the whole process.
    src = str(Path(__file__).resolve().parents[2] / "src")
    refused = subprocess.run(
        [sys.executable, "-c", "from entrypoints.cli import main; main()", "worker", option, "0"],
        env={**os.environ, "PYTHONPATH": src, "FOOTFALL_DATA_DIR": str(tmp_path)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2
    assert f"argument {option}: must be a whole number >= 1" in refused.stderr


def test_real_e_mail_with_a_guessed_public_url_is_warned_about(tmp_path: Path) -> None:
    """Unsubscribe links built on where the process listens (127.0.0.1, 0.0.0.0) reach
    nobody: said at start when e-mail really goes out, not in the embedded default."""
    real = {"SENDGRID_API_KEY": "SG.key", "FOOTFALL_HOST": "0.0.0.0"}
    warning = make_settings(tmp_path, **real).unsubscribe_links_warning
    assert warning is not None and "http://0.0.0.0:8000" in warning
    given = make_settings(tmp_path, **real, FOOTFALL_PUBLIC_URL="https://shop.example.com/ff")
    assert given.unsubscribe_links_warning is None
    assert make_settings(tmp_path).unsubscribe_links_warning is None  # e-mails go to the log


SHARED_DATABASE = {"FOOTFALL_DATABASE_URL": "postgresql+asyncpg://footfall@db.internal/footfall"}


def test_rotation_none_on_a_shared_database_needs_the_secret_set(tmp_path: Path) -> None:
    """Each host (or container, whose working directory goes with it) would generate a
    secret of its own: the same visitor would count once per process and per restart."""
    with pytest.raises(SettingsError, match="FOOTFALL_HASH_SECRET"):
        make_settings(
            tmp_path, FOOTFALL_HASH_SECRET="", FOOTFALL_HASH_ROTATION="none", **SHARED_DATABASE
        )
    assert list(tmp_path.iterdir()) == []


def test_daily_rotation_on_a_shared_database_needs_no_secret_and_writes_none(
    tmp_path: Path,
) -> None:
    """The day's salts key the visits; a read-only working directory must not stop it."""
    settings = make_settings(tmp_path, FOOTFALL_HASH_SECRET="", **SHARED_DATABASE)
    assert settings.hash_secret is None
    assert list(tmp_path.iterdir()) == []


def test_the_embedded_default_keeps_its_generated_secret_beside_the_sqlite_file(
    tmp_path: Path,
) -> None:
    first = make_settings(tmp_path, FOOTFALL_HASH_SECRET="", FOOTFALL_HASH_ROTATION="none")
    again = make_settings(tmp_path, FOOTFALL_HASH_SECRET="", FOOTFALL_HASH_ROTATION="none")
    assert first.hash_secret is not None and len(first.hash_secret) == 32
    assert again.hash_secret == first.hash_secret
    assert (tmp_path / "footfall.secret").stat().st_mode & 0o077 == 0


def test_a_data_dir_that_does_not_exist_yet_is_made_private(tmp_path: Path) -> None:
    data_dir = tmp_path / "state" / "footfall"
    settings = make_settings(data_dir, FOOTFALL_HASH_SECRET="")
    assert settings.data_dir == data_dir
    assert (data_dir / "footfall.secret").exists()
    assert data_dir.stat().st_mode & 0o077 == 0


def test_a_data_dir_that_cannot_be_made_is_refused_by_name(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    with pytest.raises(SettingsError, match="FOOTFALL_DATA_DIR"):
        make_settings(tmp_path / "a-file" / "footfall")


def test_processes_starting_together_share_one_whole_embedded_secret(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        found = list(
            pool.map(
                lambda _: make_settings(tmp_path, FOOTFALL_HASH_SECRET="").hash_secret, range(32)
            )
        )
    assert len(set(found)) == 1 and found[0] is not None and len(found[0]) == 32
    assert sorted(p.name for p in tmp_path.iterdir()) == ["footfall.secret"]
