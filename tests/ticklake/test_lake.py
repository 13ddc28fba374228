"""Lake access: idempotent tables, schema evolution from newer contracts, offsets from the sink's snapshot."""

from pyiceberg.schema import Schema

from contracts.tables import ALL_TABLES, SILVER_CANDLES
from ticklake.lake import ensure_table, ensure_tables, open_catalog


def test_tables_are_created_once(settings):
    catalog = open_catalog(settings)
    first = ensure_tables(catalog)
    second = ensure_tables(catalog)
    assert set(first) == {t.identifier for t in ALL_TABLES}
    assert all(first[name].metadata.table_uuid == second[name].metadata.table_uuid for name in first)


def test_a_table_gains_the_columns_a_newer_contract_added(settings):
    catalog = open_catalog(settings)
    catalog.create_namespace("silver")
    full = SILVER_CANDLES.schema()
    older = Schema(*[field for field in full.fields if field.name != "revision"])
    table = catalog.create_table("silver.candles", schema=older)
    assert "revision" not in {f.name for f in table.schema().fields}

    evolved = ensure_table(catalog, SILVER_CANDLES)
    revision = evolved.schema().find_field("revision")
    assert not revision.required  # rows written before have none: optional, read as null
    assert ensure_table(catalog, SILVER_CANDLES).schema() == evolved.schema()  # idempotent
    assert [f.name for f in evolved.schema().fields][: len(older.fields)] == [f.name for f in older.fields]
