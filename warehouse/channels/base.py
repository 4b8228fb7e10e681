"""What every channel shares: the message, the error, URL redaction, HTTP POST with retries."""
from __future__ import annotations

import hashlib
import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit


class DeliveryError(RuntimeError):
    """One send did not go out. The message never contains a secret (token, full URL)."""

    def __init__(self, message: str, *, transient: bool = True, attempts: int = 1) -> None:
        super().__init__(message)
        self.transient = transient
        self.attempts = attempts


@dataclass(frozen=True)
class Message:
    """One alert or digest, rendered once for every channel.

    ``html`` refers to its images as ``cid:<key>``; ``images`` maps key -> PNG bytes.
    ``telegram_html`` uses only the tags Telegram's HTML parse mode accepts, with every
    scraped string escaped; ``payload`` holds the structured fields for webhooks.
    """
    subject: str
    text: str
    html: str
    images: dict[str, bytes] = field(default_factory=dict)
    telegram_html: str = ""
    slack_text: str = ""
    payload: dict[str, Any] = field(default_factory=dict)
    name: str = "message"          # file stem for the outbox


class Channel(Protocol):
    name: str

    def send(self, recipient: str, message: Message) -> int:
        """Send; return the number of attempts it took. Raise DeliveryError otherwise."""


def redact_url(url: str) -> str:
    """scheme://host/…#<hash>: stable enough to key the delivery log, safe to log."""
    parts = urlsplit(url)
    digest = hashlib.sha256(url.encode()).hexdigest()[:12]
    return f"{parts.scheme}://{parts.hostname or '?'}{':' + str(parts.port) if parts.port else ''}/…#{digest}"


def post_json(url: str, body: dict[str, Any], *, shown_as: str, timeout_s: float = 10.0,
              retries: int = 3, backoff_s: float = 1.0,
              sleep: Callable[[float], None] = time.sleep) -> tuple[int, bytes]:
    """POST JSON; retry with exponential backoff on 5xx, 429, timeouts and refused connects.

    ``shown_as`` replaces the URL in every error message (the URL may carry a secret).
    Returns (attempts, response body); a 4xx other than 429 fails at once.
    """
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    last = ""
    for attempt in range(1, retries + 1):
        req = urllib.request.Request(url, data=data, method="POST",
                                     headers={"Content-Type": "application/json; charset=utf-8"})
        try:
            with urllib.request.urlopen(req, timeout=timeout_s) as resp:
                return attempt, resp.read()
        except urllib.error.HTTPError as e:
            detail = e.read()[:200].decode("utf-8", "replace")
            last = f"{shown_as} answered HTTP {e.code}: {detail}"
            if e.code < 500 and e.code != 429:
                raise DeliveryError(last, transient=False, attempts=attempt) from None
        except (urllib.error.URLError, socket.timeout, ConnectionError) as e:
            reason = getattr(e, "reason", e)
            last = f"{shown_as} unreachable: {type(reason).__name__}: {reason}"
        if attempt < retries:
            sleep(backoff_s * 2 ** (attempt - 1))
    raise DeliveryError(f"{last} (after {retries} attempts)", attempts=retries)
