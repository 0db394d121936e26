"""Study reports: metrics.json, CSV tables, Parquet exports, PNG plots and a self-contained HTML page."""

from silico.report._tables import headline
from silico.report._write import Report, write_report

__all__ = ["Report", "headline", "write_report"]
