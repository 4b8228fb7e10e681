"""Files instead of sends: ``<folder>/<recipient>/<name>.eml`` and ``.txt``, for demos and audits."""
from __future__ import annotations

import re
from pathlib import Path

from warehouse.channels.base import Message
from warehouse.channels.mail import build_email


class OutboxChannel:
    name = "outbox"

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def send(self, recipient: str, message: Message) -> int:
        where = self.folder / re.sub(r"[^\w.@-]+", "_", recipient)
        where.mkdir(parents=True, exist_ok=True)
        eml = build_email(message, "slukh@localhost", recipient)
        (where / f"{message.name}.eml").write_bytes(eml.as_bytes())
        (where / f"{message.name}.txt").write_text(message.text, encoding="utf-8")
        return 1
