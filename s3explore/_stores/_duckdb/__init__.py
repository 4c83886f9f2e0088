"""DuckDBStore: an embedded index store on DuckDB that scales to millions of entries."""

from s3explore._stores._duckdb._store import DuckDBStore

__all__ = ["DuckDBStore"]
