"""Generic JSON webhook: a Slack-compatible ``text`` plus the alert's structured fields."""
from __future__ import annotations

import time
from collections.abc import Callable

from warehouse.channels.base import Message, post_json, redact_url


class WebhookChannel:
    name = "webhook"

    def __init__(self, *, retries: int = 3, backoff_s: float = 1.0, timeout_s: float = 10.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.retries, self.backoff_s, self.timeout_s, self.sleep = retries, backoff_s, timeout_s, sleep

    def send(self, recipient: str, message: Message) -> int:
        body = {"text": message.slack_text or message.text, **message.payload}
        attempts, _ = post_json(recipient, body, shown_as=f"webhook {redact_url(recipient)}",
                                timeout_s=self.timeout_s, retries=self.retries,
                                backoff_s=self.backoff_s, sleep=self.sleep)
        return attempts
