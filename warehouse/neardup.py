"""Near-duplicate clusters: reposts and copy-paste waves, found with MinHash LSH.

Bot waves are bursts in time, so clusters are computed over a sliding window of recent
mentions (``window_days`` before the newest one) and rewritten for that window in one
transaction; older mentions keep the cluster they had. Texts are compared as sets of
character 5-grams of their words, so a wave with a changed word, a name in capitals or an
extra emoji still lands in one cluster.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import duckdb
from datasketch import MinHash, MinHashLSH

from warehouse.db import transaction

_WORD = re.compile(r"\w+", re.UNICODE)


def shingles(text: str, n: int = 5) -> set[str]:
    """Character n-grams of the lower-cased words joined by single spaces."""
    norm = " ".join(_WORD.findall(text.lower().replace("ё", "е")))
    if len(norm) <= n:
        return {norm} if norm else set()
    return {norm[i:i + n] for i in range(len(norm) - n + 1)}


def _minhash(grams: set[str], num_perm: int) -> MinHash:
    m = MinHash(num_perm=num_perm, seed=1)
    for g in grams:
        m.update(g.encode("utf-8"))
    return m


def clusters(items: list[tuple[str, str]], *, threshold: float = 0.7,
             num_perm: int = 128) -> dict[str, str]:
    """mention_id → cluster id (smallest member id) for (mention_id, text) pairs."""
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    parent = {mid: mid for mid, _ in items}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    hashes: dict[str, MinHash] = {}
    for mid, text in items:
        grams = shingles(text)
        if not grams:
            continue
        mh = _minhash(grams, num_perm)
        for other in lsh.query(mh):
            if hashes[other].jaccard(mh) >= threshold:
                a, b = find(mid), find(other)
                if a != b:
                    parent[max(a, b)] = min(a, b)
        lsh.insert(mid, mh)
        hashes[mid] = mh
    return {mid: find(mid) for mid, _ in items}


def assign(con: duckdb.DuckDBPyConnection, *, window_days: int = 14,
           threshold: float = 0.7) -> tuple[int, int]:
    """Recompute clusters for the recent window; return (mentions, clusters of 2+)."""
    rows = con.execute(
        """SELECT mention_id, coalesce(title || ' ', '') || text FROM mentions
           WHERE published_at >= (SELECT max(published_at) FROM mentions) - to_days(?)
           ORDER BY mention_id""", [window_days]).fetchall()
    if not rows:
        return 0, 0
    found = clusters(rows, threshold=threshold)
    sizes: dict[str, int] = {}
    for c in found.values():
        sizes[c] = sizes.get(c, 0) + 1
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    with transaction(con):
        con.execute("CREATE OR REPLACE TEMP TABLE nd AS SELECT * FROM near_duplicates LIMIT 0")
        con.executemany("INSERT INTO nd VALUES (?, ?, ?, ?)",
                        [[m, c, sizes[c], now] for m, c in found.items()])
        con.execute("DELETE FROM near_duplicates WHERE mention_id IN (SELECT mention_id FROM nd)")
        con.execute("INSERT INTO near_duplicates SELECT * FROM nd")
    return len(found), sum(1 for n in sizes.values() if n > 1)
