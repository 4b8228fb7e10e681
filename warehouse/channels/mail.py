"""E-mail over SMTP: multipart/alternative, the HTML part multipart/related with CID images.

Settings come only from the environment: SLUKH_SMTP_HOST, SLUKH_SMTP_PORT (default 25;
465 means implicit TLS), SLUKH_SMTP_USER / SLUKH_SMTP_PASSWORD (login after STARTTLS when
the server offers it), SLUKH_SMTP_FROM.
"""
from __future__ import annotations

import os
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from warehouse.channels.base import DeliveryError, Message


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 25
    user: str | None = None
    password: str | None = None
    sender: str = "slukh@localhost"
    timeout_s: float = 30.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SmtpSettings | None:
        """None when SLUKH_SMTP_HOST is unset (e-mail is then not configured)."""
        env = os.environ if env is None else env
        host = env.get("SLUKH_SMTP_HOST")
        if not host:
            return None
        port = env.get("SLUKH_SMTP_PORT", "25")
        if not port.isdigit():
            raise ValueError(f"SLUKH_SMTP_PORT must be a port number, got {port!r}")
        return cls(host, int(port), env.get("SLUKH_SMTP_USER") or None,
                   env.get("SLUKH_SMTP_PASSWORD") or None,
                   env.get("SLUKH_SMTP_FROM") or "slukh@localhost")

    def __repr__(self) -> str:   # never print the password
        return f"SmtpSettings(host={self.host!r}, port={self.port}, user={self.user!r})"


def build_email(message: Message, sender: str, recipient: str) -> EmailMessage:
    """text/plain + (text/html + image/png parts with Content-ID) as alternatives."""
    msg = EmailMessage()
    msg["Subject"] = message.subject
    msg["From"] = sender
    msg["To"] = recipient
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain="slukh")
    msg.set_content(message.text)
    msg.add_alternative(message.html, subtype="html")
    if message.images:
        html_part = msg.get_payload()[1]
        for key, png in message.images.items():
            html_part.add_related(png, "image", "png", cid=f"<{key}>", filename=f"{key.split('@')[0]}.png")
    return msg


class EmailChannel:
    name = "email"

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    def send(self, recipient: str, message: Message) -> int:
        s = self.settings
        msg = build_email(message, s.sender, recipient)
        try:
            if s.port == 465:
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout_s,
                                                      context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout_s)
            with smtp:
                if s.user:
                    smtp.ehlo()
                    if s.port != 465 and smtp.has_extn("starttls"):
                        smtp.starttls(context=ssl.create_default_context())
                        smtp.ehlo()
                    smtp.login(s.user, s.password or "")
                refused = smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as e:
            raise DeliveryError(f"SMTP {s.host}:{s.port} refused {recipient}: {e.recipients}",
                                transient=False) from None
        except (smtplib.SMTPException, OSError) as e:
            raise DeliveryError(f"SMTP {s.host}:{s.port}: {type(e).__name__}: {e}") from None
        if refused:
            raise DeliveryError(f"SMTP {s.host}:{s.port} refused {recipient}: {refused}", transient=False)
        return 1
