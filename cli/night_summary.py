"""Pieces of `afterword nightly`'s summary that read a night's summary dict: what selection removed.

`filter_report_table(rows)` turns the flow summary's `filter_report` rows (level, reason, rows; the night's
`filter_report` table, `pipelines/sql/filter_report.sql`) into the table the summary prints, kept rows last per level.
"""

from rich.table import Table


def filter_report_table(rows: list) -> Table:
    """What each selection rule removed, per level (conversation, interaction), and what was kept."""
    table = Table(title="what selection removed")
    table.add_column("level")
    table.add_column("rule")
    table.add_column("removed", justify="right")
    table.add_column("kept", justify="right")
    for level, reason, count in sorted(rows, key=lambda row: (row[0], row[1] == "kept", -row[2], row[1])):
        kept = reason == "kept"
        table.add_row(level, "(kept)" if kept else reason, "" if kept else str(count), str(count) if kept else "")
    return table
