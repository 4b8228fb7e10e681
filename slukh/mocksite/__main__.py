"""python -m slukh.mocksite --port 8766: serve every source's mock pages on 127.0.0.1."""
import argparse
import time

from slukh.mocksite import MockSite, all_routes

parser = argparse.ArgumentParser(prog="python -m slukh.mocksite", description=__doc__)
parser.add_argument("--port", type=int, default=8766)
args = parser.parse_args()
with MockSite(port=args.port) as site:
    print(f"mock sites on {site.base_url}: {len(all_routes())} routes; Ctrl-C stops")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
