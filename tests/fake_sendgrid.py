"""A fake SendGrid v3 Mail Send server on loopback that validates every body like the real one.

Bodies are checked against ../shared/contracts/sendgrid-mail-send.schema.json plus the rules
the schema cannot express (see the contracts README). Tests script its answers.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

SCHEMA_NAME = "sendgrid-mail-send.schema.json"
# The project's shared contract (beside the repository), and the copy kept in tests/contracts
# so the suite also runs from a clone placed anywhere; a test keeps the two identical.
SHARED_SCHEMA = Path(__file__).resolve().parents[2] / "shared" / "contracts" / SCHEMA_NAME
VENDORED_SCHEMA = Path(__file__).resolve().parent / "contracts" / SCHEMA_NAME
MAX_BODY = 30 * 1024 * 1024


def _find_schema() -> dict[str, Any]:
    path = SHARED_SCHEMA if SHARED_SCHEMA.exists() else VENDORED_SCHEMA
    schema: dict[str, Any] = json.loads(path.read_text())
    return schema


@dataclass
class Scripted:
    """One scripted answer; status 202 means "accept as usual" (after ``hang_s``)."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    message: str = "scripted failure"
    hang_s: float = 0.0


class FakeSendGrid:
    def __init__(self, api_key: str = "SG.test-key") -> None:
        self.api_key = api_key
        self.validator = Draft202012Validator(_find_schema(), format_checker=FormatChecker())
        self.accepted: list[dict[str, Any]] = []  # bodies answered 202
        self.requests = 0
        self.script: list[Scripted] = []
        self.received = threading.Event()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeSendGrid:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def recipients(self) -> list[str]:
        return [
            to["email"]
            for body in self.accepted
            for p in body["personalizations"]
            for to in p["to"]
        ]

    def problems(self, body: Any, size: int) -> tuple[int, str] | None:
        if size > MAX_BODY:
            return 413, "content too large"
        errors = sorted(self.validator.iter_errors(body), key=lambda e: list(e.path))
        if errors:
            first = errors[0]
            return 400, f"{'.'.join(map(str, first.path)) or 'body'}: {first.message}"
        addresses = [
            r["email"].lower()
            for p in body["personalizations"]
            for kind in ("to", "cc", "bcc")
            for r in p.get(kind, [])
        ]
        if len(addresses) > 1000:
            return 400, "The total number of recipients must be less than 1000"
        if len(addresses) != len(set(addresses)):
            return 400, "Each email address in the personalization block should be unique"
        merged = dict(body.get("custom_args", {}))
        for p in body["personalizations"]:
            merged.update(p.get("custom_args", {}))
        if len(json.dumps(merged).encode()) >= 10_000:
            return 400, "custom_args must be less than 10000 bytes"
        send_at = body.get("send_at")
        if send_at is not None and send_at > time.time() + 72 * 3600:
            return 400, "send_at cannot be more than 72 hours in the future"
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(
                self, status: int, message: str | None = None, headers: dict[str, str] | None = None
            ) -> None:
                payload = (
                    b""
                    if message is None
                    else json.dumps(
                        {"errors": [{"message": message, "field": None, "help": None}]}
                    ).encode()
                )
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                if payload:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                with fake._lock:
                    fake.requests += 1
                    scripted = fake.script.pop(0) if fake.script else None
                fake.received.set()
                if self.path != "/v3/mail/send":
                    return self._answer(404, "not found")
                if self.headers.get("Authorization") != f"Bearer {fake.api_key}":
                    return self._answer(
                        401, "The provided authorization grant is invalid, expired, or revoked"
                    )
                try:
                    body = json.loads(raw)
                except ValueError:
                    return self._answer(400, "Bad Request: invalid JSON")
                problem = fake.problems(body, len(raw))
                if problem:
                    return self._answer(*problem)
                if scripted is not None and scripted.hang_s:
                    time.sleep(scripted.hang_s)
                if scripted is not None and scripted.status != 202:
                    return self._answer(scripted.status, scripted.message, scripted.headers)
                message_id = uuid.uuid4().hex[:22]
                with fake._lock:
                    fake.accepted.append(body)
                self._answer(202, None, {"X-Message-Id": message_id})

        return Handler
