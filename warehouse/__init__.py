"""DuckDB warehouse: schema and migrations, the idempotent loader, trends, spikes, digest."""
