"""``python -m slukh.demo_site --port 8765``: serve the demo site by hand until Ctrl-C."""

from __future__ import annotations

import argparse
import time

from slukh.demo_site.server import MODES, DemoSite


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m slukh.demo_site",
        description="Serve generated banki.ru-like bank reviews on 127.0.0.1 "
        "(ajax list with the __hash_ cookie challenge, review pages with JSON-LD).",
    )
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--seed", type=int, default=2026, help="generator seed")
    parser.add_argument("--mode", choices=MODES, default="normal",
                        help="captcha / ratelimit make every page an anti-bot answer")
    args = parser.parse_args()
    with DemoSite(seed=args.seed, port=args.port, mode=args.mode) as site:
        print(f"demo site on {site.base_url} (mode {site.mode}); try "
              f"{site.base_url}/services/responses/list/ajax/?page=1&bank=zarya", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
