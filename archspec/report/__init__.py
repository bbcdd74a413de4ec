"""Reports: the analysis as rows and totals (analysis.py), tables, Markdown, CSV and HTML (table.py,
notebook.py), several networks side by side (compare.py)."""
