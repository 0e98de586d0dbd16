"""Logging: stdlib loggers rendered by structlog; no IP or User-Agent is ever passed to them."""

from __future__ import annotations

import logging
import os
import sys

import structlog

from entrypoints.settings import SettingsError

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
FORMATS = ("console", "json")


def configure_logging(level: str | None = None) -> None:
    """From FOOTFALL_LOG_LEVEL and FOOTFALL_LOG_FORMAT (read here, not in settings: logging
    comes first, so that reading the other settings can be logged)."""
    level = (level or os.environ.get("FOOTFALL_LOG_LEVEL") or "INFO").upper()
    if level not in LEVELS:
        raise SettingsError(f"FOOTFALL_LOG_LEVEL must be one of {', '.join(LEVELS)}, got {level!r}")
    form = os.environ.get("FOOTFALL_LOG_FORMAT") or "console"
    if form not in FORMATS:
        raise SettingsError(
            f"FOOTFALL_LOG_FORMAT must be one of {', '.join(FORMATS)}, got {form!r}"
        )
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if form == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[structlog.typing.Processor] = [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # uvicorn's access log prints client addresses: it stays off (see cli.serve).
    logging.getLogger("uvicorn.access").disabled = True
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
