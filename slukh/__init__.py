"""Slukh: review and social-listening pipeline for Russian-language brand monitoring."""
__version__ = "0.1.0"
