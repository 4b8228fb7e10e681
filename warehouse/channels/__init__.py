"""Delivery channels for alerts and the digest: e-mail, Telegram, webhook, outbox files.

A channel turns one :class:`Message` into one send to one recipient and raises
:class:`DeliveryError` when it did not go out; the delivery log and retries across runs
live in :mod:`warehouse.delivery`. Secrets come only from the environment.
"""
from warehouse.channels.base import Channel, DeliveryError, Message, redact_url

__all__ = ["Channel", "DeliveryError", "Message", "redact_url"]
