"""Legacy SQLite annotator files, brought into candlelab's PostgreSQL database.

The old candle annotator kept everything in one SQLite file written by Drizzle ORM.
`layout` knows its tables and opens a file read-only; `conversion` reads and converts
every row and finds every problem; `importer` writes table group by table group, each
in one transaction recorded in the `legacy_imports` ledger; `checksums` proves what
arrived is what left; `sample` writes legacy files for tests and for trying it out.
"""
