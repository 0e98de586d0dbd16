"""The SendGrid adapter with the official client against a local fake that validates bodies."""

from __future__ import annotations

import json
import time
from uuid import uuid4

import pytest
from sendgrid import SendGridAPIClient

from adapters.sendgrid.sender import SendGridEmailSender
from domain.notification import EmailMessage, Recipient
from ports.services import PermanentEmailError, TransientEmailError
from tests.fake_sendgrid import SHARED_SCHEMA, VENDORED_SCHEMA, FakeSendGrid, Scripted

pytestmark = pytest.mark.integration


@pytest.fixture
def fake() -> FakeSendGrid:
    with FakeSendGrid() as server:
        yield server  # type: ignore[misc]


def message(count: int = 3) -> EmailMessage:
    return EmailMessage(
        notification_id=uuid4(),
        subject="Lamp was updated",
        text="Lamp (L1) has changed:\n- price: 10 -> 12",
        html="<p>Lamp (L1) has changed</p>",
        recipients=[Recipient(uuid4(), f"user{n}@example.com", f"token-{n}") for n in range(count)],
        unsubscribe_url_template="http://footfall.test/api/subscriptions/{token}",
    )


def sender(fake: FakeSendGrid) -> SendGridEmailSender:
    return SendGridEmailSender(fake.api_key, fake.url, "news@footfall.test", timeout_s=5)


def test_the_vendored_schema_is_the_shared_contract() -> None:
    if not SHARED_SCHEMA.exists():
        pytest.skip(f"shared/ is not beside this clone ({SHARED_SCHEMA}); using the vendored copy")
    assert json.loads(VENDORED_SCHEMA.read_text()) == json.loads(SHARED_SCHEMA.read_text())


def test_the_fake_rejects_what_sendgrid_rejects(fake: FakeSendGrid) -> None:
    client = SendGridAPIClient(api_key=fake.api_key, host=fake.url)
    bad_bodies = [
        {
            "personalizations": [{"to": [{"email": "a@example.com"}]}],
            "from": {"email": "x@y.z"},
        },  # no content
        {
            "personalizations": [{"to": [{"email": "a@example.com"}, {"email": "a@example.com"}]}],
            "from": {"email": "x@y.z"},
            "subject": "s",
            "content": [{"type": "text/plain", "value": "v"}],
        },
        {
            "personalizations": [{"to": [{"email": f"u{n}@example.com"}]} for n in range(1001)],
            "from": {"email": "x@y.z"},
            "subject": "s",
            "content": [{"type": "text/plain", "value": "v"}],
        },
    ]
    for body in bad_bodies:
        with pytest.raises(Exception) as caught:
            client.client.mail.send.post(request_body=body)
        assert getattr(caught.value, "status_code", None) == 400
    assert fake.accepted == []


async def test_one_personalization_per_recipient_with_their_own_unsubscribe_link(
    fake: FakeSendGrid,
) -> None:
    mail = message(3)
    message_id = await sender(fake).send(mail)
    assert message_id and fake.requests == 1
    [body] = fake.accepted
    assert [p["to"] for p in body["personalizations"]] == [
        [{"email": f"user{n}@example.com"}] for n in range(3)
    ]
    links = [p["substitutions"]["-unsubscribe_url-"] for p in body["personalizations"]]
    assert links == [f"http://footfall.test/api/subscriptions/token-{n}" for n in range(3)]
    assert [c["type"] for c in body["content"]] == ["text/plain", "text/html"]
    assert "-unsubscribe_url-" in body["content"][0]["value"]
    assert body["custom_args"] == {"notification_id": str(mail.notification_id)}
    assert body["from"] == {"email": "news@footfall.test"}


async def test_rate_limits_and_outages_are_transient(fake: FakeSendGrid) -> None:
    reset = int(time.time()) + 30
    fake.script = [
        Scripted(
            429,
            {"X-RateLimit-Reset": str(reset), "X-RateLimit-Remaining": "0"},
            "too many requests",
        ),
        Scripted(503, message="service unavailable"),
    ]
    with pytest.raises(TransientEmailError) as limited:
        await sender(fake).send(message())
    assert limited.value.retry_after_s is not None and 20 < limited.value.retry_after_s <= 31
    with pytest.raises(TransientEmailError) as unavailable:
        await sender(fake).send(message())
    assert unavailable.value.retry_after_s is None and "503" in str(unavailable.value)
    assert await sender(fake).send(message())
    assert fake.requests == 3 and len(fake.accepted) == 1


@pytest.mark.parametrize("status", [400, 401, 403, 413])
async def test_refusals_are_permanent_and_carry_sendgrid_s_message(
    fake: FakeSendGrid, status: int
) -> None:
    fake.script = [
        Scripted(status, message="The from address does not match a verified Sender Identity.")
    ]
    with pytest.raises(PermanentEmailError) as caught:
        await sender(fake).send(message())
    assert f"SendGrid {status}: The from address does not match" in str(caught.value)


async def test_a_wrong_key_is_a_permanent_401(fake: FakeSendGrid) -> None:
    wrong = SendGridEmailSender("SG.wrong", fake.url, "news@footfall.test")
    with pytest.raises(PermanentEmailError, match="401"):
        await wrong.send(message())


async def test_an_unreachable_sendgrid_is_transient() -> None:
    with FakeSendGrid() as server:
        url = server.url
    with pytest.raises(TransientEmailError, match="unreachable"):
        await SendGridEmailSender("SG.k", url, "news@footfall.test", timeout_s=2).send(message())
