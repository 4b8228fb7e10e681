"""Slukh's Scrapy project: spiders write batch files, never the database.

Run one crawl with ``python -m spiders.run`` (a subprocess per target, see ``spiders.run``).
"""
