"""The one Jinja2 environment for digests and alerts: autoescaping on for HTML templates.

Review text is scraped from the web, so every ``*.html.j2`` template escapes it; plain-text
templates print it verbatim.
"""
from __future__ import annotations

from jinja2 import Environment, PackageLoader, select_autoescape


def short(text: str, n: int = 280) -> str:
    """One line, at most ``n`` characters: reviews keep their own line breaks otherwise."""
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


def rate(x: float) -> str:
    """An expected count for people: «1.0», «14.9», but «0.04», not «0.0», below one."""
    return f"{x:.1f}" if x >= 1 else f"{x:.2f}"


def template_env() -> Environment:
    env = Environment(loader=PackageLoader("warehouse", "templates"),
                      autoescape=select_autoescape(["html", "html.j2"], default=False),
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["short"] = short
    env.filters["signed"] = lambda x: f"{x:+.1f}"
    env.filters["rate"] = rate
    return env
