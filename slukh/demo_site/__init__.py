"""A local stand-in for banki.ru: generated reviews served with the real site's behaviour.

Used by end-to-end tests and demos so nothing ever crawls the real site by accident.
``generate_reviews`` gives the data (with ground truth), ``DemoSite`` serves it.
"""

from slukh.demo_site.generate import BANKS, DemoReview, generate_reviews
from slukh.demo_site.server import DemoSite

__all__ = ["BANKS", "DemoReview", "DemoSite", "generate_reviews"]
