"""Bring data into the warehouse's source tables: a shop's own CSV exports, or public data sets.

    python -m include.importers csv <table> <file.csv> [--map column=csv_column ...] [--time-format F] [--replace]
    python -m include.importers fraud [--data-dir ../shared/data/fraud-ecommerce]
    python -m include.importers sequences [--file ../shared/data/amazon-beauty/Beauty.txt] [--end 2026-08-29]

Imported rows are source rows like any others: the gate (`warehouse_validation`) validates them
in the night they land, and the model DAGs read them after it.
"""
