"""Arrow schemas of every table afterword writes, one module per table, each with column descriptions."""
