"""Scrapy settings for Slukh: flat constants, overridable per run with ``--set KEY=VALUE``.

Politeness first: one request at a time per domain, a delay, AutoThrottle, robots.txt
obeyed and an honest user agent that says who we are. Anything a test or a developer
changes (delays, cache) is a plain constant here so ``--set`` can override it.
"""

BOT_NAME = "slukh"
SPIDER_MODULES = ["spiders.sources"]
NEWSPIDER_MODULE = "spiders.sources"

USER_AGENT = "SlukhBot/0.1 (+https://github.com/slukh/slukh; brand monitoring)"
ROBOTSTXT_OBEY = True
COOKIES_ENABLED = True  # banki.ru's first answer is a 302 that sets a __hash_ cookie

CONCURRENT_REQUESTS = 8
CONCURRENT_REQUESTS_PER_DOMAIN = 1
DOWNLOAD_DELAY = 1.0
DOWNLOAD_DELAY_JITTER = 0.5  # ±50% around DOWNLOAD_DELAY, less robotic
DOWNLOAD_TIMEOUT = 60

AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 1.0
AUTOTHROTTLE_MAX_DELAY = 60.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0

# Retries with exponential backoff. Scrapy 2.19's RetryMiddleware retries at once (it has
# no backoff setting), so ours replaces it: waits RETRY_BACKOFF_BASE * 2**(n-1) seconds
# before retry n, capped at RETRY_BACKOFF_MAX, and honours a Retry-After header.
RETRY_ENABLED = True
RETRY_TIMES = 3
RETRY_HTTP_CODES = [429, 500, 502, 503, 504, 522, 524, 408]
RETRY_BACKOFF_BASE = 2.0
RETRY_BACKOFF_MAX = 60.0
DOWNLOADER_MIDDLEWARES = {
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "spiders.middlewares.BackoffRetryMiddleware": 550,
}

ITEM_PIPELINES = {"spiders.pipelines.ParquetBatchPipeline": 300}
# Where batches and run records go; `python -m spiders.run` sets both per run.
SLUKH_HOME = None  # None: $SLUKH_HOME, else ./var
SLUKH_RUN_ID = None  # None: generated
SLUKH_PARQUET_ROW_GROUP = 1000

# Off in production (stale reviews); a developer iterating on a parser turns it on with
# --set HTTPCACHE_ENABLED=true and replays pages from .scrapy/httpcache without hitting
# the site. Challenges, blocks and errors are never cached.
HTTPCACHE_ENABLED = False
HTTPCACHE_DIR = "httpcache"
HTTPCACHE_EXPIRATION_SECS = 24 * 3600
HTTPCACHE_IGNORE_HTTP_CODES = [301, 302, 403, 408, 429, 500, 502, 503, 504, 521, 522, 524]
HTTPCACHE_POLICY = "scrapy.extensions.httpcache.DummyPolicy"
HTTPCACHE_STORAGE = "scrapy.extensions.httpcache.FilesystemCacheStorage"

LOG_LEVEL = "INFO"
TELNETCONSOLE_ENABLED = False  # nothing should listen on a port during a crawl
REMOTE_CONTROL_ENABLED = False  # Scrapy 2.19 opens a control HTTP port by default
FEED_EXPORT_ENCODING = "utf-8"
TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
