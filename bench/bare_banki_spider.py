"""The baseline for bench_crawl.py: a bare Scrapy spider for the same ajax pages.

No Slukh pipeline, middlewares, cursor or block detection: json.loads and yield. Run as
`python bench/bare_banki_spider.py BASE_URL BANK` (a subprocess, like our crawls).
"""
import json
import sys

import scrapy
from scrapy.crawler import CrawlerProcess


class Bare(scrapy.Spider):
    name = "bare"

    def __init__(self, base: str, bank: str, **kw):
        super().__init__(**kw)
        self.base, self.bank, self.seen = base, bank, 0

    def req(self, page: int, again: bool = False) -> scrapy.Request:
        return scrapy.Request(f"{self.base}/services/responses/list/ajax/?page={page}&bank={self.bank}",
                              headers={"X-Requested-With": "XMLHttpRequest"}, dont_filter=again,
                              meta={"handle_httpstatus_list": [302], "dont_redirect": True},
                              cb_kwargs={"page": page})

    async def start(self):
        yield self.req(1)

    def parse(self, response, page):
        if response.status == 302:
            yield self.req(page, again=True)
            return
        data = json.loads(response.body)
        for item in data["data"]:
            self.seen += 1
            yield item
        if data["data"] and self.seen < data["total"]:
            yield self.req(page + 1)


if __name__ == "__main__":
    process = CrawlerProcess({"LOG_LEVEL": "ERROR", "ROBOTSTXT_OBEY": False, "TELNETCONSOLE_ENABLED": False,
                              "REMOTE_CONTROL_ENABLED": False, "CONCURRENT_REQUESTS_PER_DOMAIN": 1,
                              "DOWNLOAD_DELAY": 0, "COOKIES_ENABLED": True})
    crawler = process.create_crawler(Bare)
    process.crawl(crawler, base=sys.argv[1], bank=sys.argv[2])
    process.start()
    print(json.dumps({"items": crawler.stats.get_value("item_scraped_count", 0)}))
