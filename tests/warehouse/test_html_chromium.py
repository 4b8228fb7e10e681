"""The HTML digest and the spike-alert e-mail, opened in a real browser (headless Chromium).

What a mail client or browser will show, not what the template says: the page renders
(the screenshot is not blank), every chart image is there and decodes, and scraped text
with ``<script>`` and ``<b>`` arrives as text, with no script element and no alert().

A probe script is put at the top of <head> of the copy the browser opens: it replaces
``window.alert`` with a recorder and, on load, writes what it saw (images, script count)
into attributes of <html>, which ``--dump-dom`` then prints. Chromium comes from Debian's
package (``scripts/test-deps`` installs it); without it these tests fail, they do not skip.
"""
from __future__ import annotations

import base64
import io
import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest
from PIL import Image, ImageStat

from tests.warehouse.batches import labelled_warehouse, review
from warehouse.actions import add_action
from warehouse.channels.render import AlertView, PostView, digest_message, render_alert
from warehouse.digest import write_digest

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--mute-audio"]
SCRAPED = "<script>alert(1)</script> Сняли комиссию, <b>жирный</b> текст, очередь два часа"
PROBE = """<script id="slukh-probe">
window.alert = function (m) { document.documentElement.setAttribute('data-alert-ran', String(m)); };
window.addEventListener('load', function () {
  var d = document.documentElement;
  d.setAttribute('data-images', JSON.stringify(Array.prototype.map.call(document.images, function (i) {
    return {src: i.getAttribute('src').slice(0, 40), complete: i.complete, w: i.naturalWidth, h: i.naturalHeight};
  })));
  d.setAttribute('data-scripts', String(document.scripts.length));
  d.setAttribute('data-probe-done', '1');
});
</script>"""


def _chromium() -> Path:
    """The browser, or a failure (not a skip) that says how to get it."""
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(f"{CHROMIUM} is missing: run scripts/test-deps (it installs Debian's chromium "
                    "with apt-get) and run the tests again", pytrace=False)
    return CHROMIUM


@dataclass
class Dom(HTMLParser):
    """What --dump-dom printed: <html> attributes, script elements, text, text inside <b>."""
    root: dict = field(default_factory=dict)
    scripts: list[str | None] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    bold: list[str] = field(default_factory=list)
    _in_b: int = 0

    def __post_init__(self) -> None:
        HTMLParser.__init__(self)

    def handle_starttag(self, tag, attrs):
        if tag == "html":
            self.root = dict(attrs)
        elif tag == "script":
            self.scripts.append(dict(attrs).get("id"))
        elif tag == "b":
            self._in_b += 1

    def handle_endtag(self, tag):
        if tag == "b":
            self._in_b -= 1

    def handle_data(self, data):
        self.text.append(data)
        if self._in_b:
            self.bold.append(data)


def _browser(chromium: Path, work: Path, page: Path, *args: str) -> subprocess.CompletedProcess:
    profile = work / f"profile-{len(list(work.glob('profile-*')))}"     # fresh each run
    env = {**os.environ, "HOME": str(work), "XDG_CONFIG_HOME": str(work / "xdg-config"),
           "XDG_CACHE_HOME": str(work / "xdg-cache")}
    proc = subprocess.run([str(chromium), *FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, f"chromium failed ({proc.returncode}): {proc.stderr[-2000:]}"
    return proc


def _open(chromium: Path, work: Path, html: str, name: str) -> tuple[Dom, str, Image.Image]:
    """Write the page with the probe beside its files, dump its DOM and take a screenshot."""
    assert "<head>" in html
    page = work / f"{name}.probe.html"
    page.write_text(html.replace("<head>", "<head>" + PROBE, 1), encoding="utf-8")
    raw = _browser(chromium, work, page, "--dump-dom", "--virtual-time-budget=3000").stdout
    dom = Dom()
    dom.feed(raw)
    shot = work / f"{name}.png"
    _browser(chromium, work, page, f"--screenshot={shot}", "--window-size=1000,1400")
    assert shot.exists() and shot.stat().st_size > 0, f"no screenshot of {name}"
    return dom, raw, Image.open(shot).convert("RGB")


def _data_uris(html: str, images: dict[str, bytes]) -> str:
    """The e-mail's cid: images inlined as data: URIs, as a mail client would show them."""
    for cid, png in images.items():
        html = html.replace(f"cid:{cid}", "data:image/png;base64," + base64.b64encode(png).decode())
    assert "cid:" not in html
    return html


def _decodable(src: str, base: Path) -> tuple[int, int]:
    if src.startswith("data:"):
        head, _, b64 = src.partition(",")
        assert head == "data:image/png;base64", head
        blob = base64.b64decode(b64)
    else:
        blob = (base / src).read_bytes()
    img = Image.open(io.BytesIO(blob))
    img.load()
    return img.size


def _check_page(dom: Dom, raw: str, shot: Image.Image, *, images: int) -> None:
    assert dom.root.get("data-probe-done") == "1", "the page never finished loading"
    seen = json.loads(dom.root["data-images"])
    assert len(seen) == images, seen
    assert all(i["complete"] and i["w"] > 100 and i["h"] > 50 for i in seen), seen
    # Scraped markup is text: no script but the probe, no alert, no <b> made from a review.
    assert dom.scripts == ["slukh-probe"] and dom.root.get("data-scripts") == "1"
    assert "data-alert-ran" not in dom.root
    text = "".join(dom.text)
    assert "<script>alert(1)</script> Сняли комиссию, <b>жирный</b> текст" in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in raw and "&lt;b&gt;жирный&lt;/b&gt;" in raw
    assert not any("жирный" in b for b in dom.bold)
    # The screenshot shows a page, not a blank canvas.
    stat = ImageStat.Stat(shot.convert("L"))
    assert stat.stddev[0] > 10, f"screenshot looks blank (stddev {stat.stddev[0]:.1f})"
    assert len(shot.getcolors(1 << 24) or []) > 50


def _warehouse(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    from tests.warehouse.test_digest import FakeLabel

    end = datetime(2026, 11, 20, 9)
    rows = [review(i, published=end - timedelta(days=20 - i), rating=2) for i in range(20)]
    rows.append(review(99, published=end, rating=1, text=SCRAPED + " " + "и ещё " * 20))
    return labelled_warehouse(tmp_path, rows, FakeLabel("negative", 0.9, True, ["waiting_time"]))


def test_digest_file_and_digest_mail_render_safely(tmp_path):
    chromium = _chromium()
    day = date(2026, 11, 20)
    outbox = tmp_path / "outbox"
    con = _warehouse(tmp_path)
    add_action(con, brand="zarya", root_cause="waiting_time", department="operations",
               action_date=date(2026, 11, 5), description="<script>alert(2)</script> второе окно")
    files = write_digest(con, "mv1", day, outbox,
                         brand_names={"zarya": "Заря Банк"}, cause_names={"waiting_time": "Очереди"})
    assert files.chart is not None
    html = files.html.read_text(encoding="utf-8")
    # As written to the outbox: the chart is a PNG file next to the page.
    srcs = re.findall(r'<img[^>]* src="([^"]+)"', html)
    assert srcs == [files.chart.name] and _decodable(srcs[0], outbox)[0] > 100
    assert "Меры и результат" in html
    _check_page(*_open(chromium, outbox, html, "digest-file"), images=1)
    # As e-mailed: the chart is a cid: part; render the variant with data: URIs.
    msg = digest_message(files.html, files.text, files.chart, day)
    mail = _data_uris(msg.html, msg.images)
    for src in re.findall(r'<img[^>]* src="([^"]+)"', mail):
        assert _decodable(src, outbox)[0] > 100
    _check_page(*_open(chromium, tmp_path, mail, "digest-mail"), images=1)


def test_spike_alert_mail_renders_safely(tmp_path):
    chromium = _chromium()
    day = date(2026, 11, 20)
    series = [(day - timedelta(days=k), 1 + k % 2) for k in range(27, 0, -1)] + [(day, 15)]
    a = AlertView(alert_id="a1b2c3", brand="zarya", brand_name="Заря Банк", root_cause="waiting_time",
                  cause_name="Очереди <i>и</i> ожидание", owner="operations", owner_name="Операционный блок",
                  day=day, observed=15, expected=1.5, ratio=10.0, p_value=1e-9, severity=9,
                  posts=[PostView("https://www.banki.ru/services/responses/bank/response/1/", SCRAPED, 1),
                         PostView(None, "Очередь огромная, никто не помог.", 2)],
                  series=series)
    msg = render_alert(a)
    assert list(msg.images) == ["chart@slukh"] and 'src="cid:chart@slukh"' in msg.html
    mail = _data_uris(msg.html, msg.images)
    srcs = re.findall(r'<img[^>]* src="([^"]+)"', mail)
    assert len(srcs) == 1 and _decodable(srcs[0], tmp_path)[0] > 100
    dom, raw, shot = _open(chromium, tmp_path, mail, "alert")
    _check_page(dom, raw, shot, images=1)
    assert "Очереди <i>и</i> ожидание" in "".join(dom.text)    # a cause name is text too
