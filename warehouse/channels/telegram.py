"""Telegram Bot API ``sendMessage`` in HTML parse mode.

SLUKH_TELEGRAM_BOT_TOKEN is required; SLUKH_TELEGRAM_API (default https://api.telegram.org)
lets tests point at a local fake. The token is part of the URL, so errors name only the
API host and the chat.
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping

from warehouse.channels.base import DeliveryError, Message, post_json

TELEGRAM_LIMIT = 4096


class TelegramChannel:
    name = "telegram"

    def __init__(self, token: str, api: str = "https://api.telegram.org", *, retries: int = 3,
                 backoff_s: float = 1.0, sleep: Callable[[float], None] = time.sleep) -> None:
        self._token = token
        self.api = api.rstrip("/")
        self.retries, self.backoff_s, self.sleep = retries, backoff_s, sleep

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **kw: object) -> TelegramChannel | None:
        env = os.environ if env is None else env
        token = env.get("SLUKH_TELEGRAM_BOT_TOKEN")
        if not token:
            return None
        return cls(token, env.get("SLUKH_TELEGRAM_API") or "https://api.telegram.org", **kw)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return f"TelegramChannel(api={self.api!r})"

    def send(self, recipient: str, message: Message) -> int:
        text = message.telegram_html
        if len(text) > TELEGRAM_LIMIT:
            raise DeliveryError(f"Telegram message for chat {recipient} is {len(text)} characters; "
                                f"the Bot API accepts {TELEGRAM_LIMIT}", transient=False)
        body = {"chat_id": recipient, "text": text, "parse_mode": "HTML",
                "disable_web_page_preview": True}
        attempts, raw = post_json(f"{self.api}/bot{self._token}/sendMessage", body,
                                  shown_as=f"Telegram API {self.api} (chat {recipient})",
                                  retries=self.retries, backoff_s=self.backoff_s, sleep=self.sleep)
        try:
            ok = json.loads(raw).get("ok") is True
        except (ValueError, AttributeError):
            ok = False
        if not ok:
            raise DeliveryError(f"Telegram API {self.api} did not confirm chat {recipient}: "
                                f"{raw[:200].decode('utf-8', 'replace')}", attempts=attempts)
        return attempts
