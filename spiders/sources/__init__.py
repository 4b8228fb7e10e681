"""Spider classes, one module per source. Each only routes responses to ``spiders.parsers``."""
