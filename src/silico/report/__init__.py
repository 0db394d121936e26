"""Study reports: metrics.json, CSV tables, Parquet exports, PNG plots and a self-contained HTML page."""

from silico.report._write import write_report

__all__ = ["write_report"]
