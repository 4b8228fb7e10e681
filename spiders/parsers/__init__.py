"""Pure parsers: bytes or text in, plain item dicts out. No Scrapy objects, no I/O."""
