"""Which exceptions are the user's to fix, and how to say so in one line."""
from __future__ import annotations


def friendly(err: BaseException) -> str | None:
    from slukh.config import ConfigError
    from warehouse.db import WarehouseError
    from warehouse.load import BatchRejected

    if isinstance(err, (ConfigError, WarehouseError, BatchRejected, LookupError, FileNotFoundError)):
        return str(err).strip("'\"")
    try:
        import duckdb
        if isinstance(err, duckdb.Error):
            return f"DuckDB: {err}"
    except ImportError:
        pass
    return None
