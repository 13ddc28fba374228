"""Gold: the dbt marts (dbt-duckdb), built per UTC day from silver and published as ``gold.*`` Iceberg tables.

How the pieces fit (see ``dbt_project/README.md`` for the full design):

* :mod:`.sources` makes the silver Iceberg tables readable by dbt: for the build window it plans the
  scan of each table's current snapshot with pyiceberg and (re)creates a DuckDB view over exactly
  those Parquet data files. Nothing is copied.
* :mod:`.assets` runs ``dbt build`` with the partition's window as ``--vars`` against a DuckDB file
  private to the build (one build at a time, under a file lock); dbt tests become asset checks.
* :mod:`.publish` then copies the window's rows of each mart into the ``gold.*`` Iceberg tables in one
  atomic commit per table. Readers (the API, ad-hoc queries) only ever read those tables, so they
  never wait for, nor block, a build.
"""
