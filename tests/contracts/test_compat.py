import copy
import json
import shutil
from importlib import resources
from pathlib import Path

import pytest
from typer.testing import CliRunner

from contracts.compat import backward_problems, check_against_release, released_versions
from contracts.schemas import RECORD_NAMES, avro_schema_json
from ticklake.cli import app

DECIMAL = {"type": "bytes", "logicalType": "decimal", "precision": 38, "scale": 18}
BASE = {
    "type": "record",
    "name": "Trade",
    "fields": [
        {"name": "venue", "type": "string"},
        {"name": "count", "type": "int"},
        {"name": "price", "type": DECIMAL},
        {"name": "note", "type": ["null", "string"], "default": None},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
        {"name": "side", "type": {"type": "enum", "name": "Side", "symbols": ["buy", "sell"]}},
    ],
}


def changed(edit):
    schema = copy.deepcopy(BASE)
    edit(schema)
    return schema


def field(schema, name):
    return next(f for f in schema["fields"] if f["name"] == name)


@pytest.mark.parametrize(
    ("edit", "compatible"),
    [
        (lambda s: None, True),
        (lambda s: s["fields"].append({"name": "extra", "type": ["null", "long"], "default": None}), True),
        (lambda s: s["fields"].append({"name": "extra", "type": "long", "default": 0}), True),
        (lambda s: s["fields"].append({"name": "extra", "type": "long"}), False),
        (lambda s: s["fields"].pop(0), True),
        (lambda s: field(s, "count").update(type="long"), True),
        (lambda s: field(s, "count").update(type="double"), True),
        (lambda s: field(s, "count").update(type="string"), False),
        (lambda s: field(s, "venue").update(type="bytes"), True),
        (lambda s: field(s, "venue").update(type=["null", "string"]), True),
        (lambda s: field(s, "note").update(type="string"), False),
        (lambda s: field(s, "price").update(type={**DECIMAL, "scale": 8}), False),
        (lambda s: field(s, "price").update(type={**DECIMAL, "precision": 20}), False),
        (lambda s: field(s, "price").update(type="double"), False),
        (lambda s: field(s, "tags").update(type={"type": "array", "items": "long"}), False),
        (
            lambda s: field(s, "side").update(type={"type": "enum", "name": "Side", "symbols": ["buy", "sell", "x"]}),
            True,
        ),
        (lambda s: field(s, "side").update(type={"type": "enum", "name": "Side", "symbols": ["buy"]}), False),
        (lambda s: s.update(name="Deal"), False),
        (lambda s: field(s, "venue").update(name="exchange", aliases=["venue"]), True),
    ],
)
def test_backward_rules(edit, compatible):
    problems = backward_problems(BASE, changed(edit))
    assert (problems == []) is compatible, problems


def test_problems_name_the_field():
    problems = backward_problems(BASE, changed(lambda s: field(s, "count").update(type="string")))
    assert problems == ["count: type changed from int to string"]


def test_nested_records_resolve_by_name():
    nested = {
        "type": "record",
        "name": "Book",
        "fields": [
            {
                "name": "bids",
                "type": {
                    "type": "array",
                    "items": {"type": "record", "name": "Level", "fields": [{"name": "price", "type": DECIMAL}]},
                },
            },
            {"name": "asks", "type": {"type": "array", "items": "Level"}},
        ],
    }
    assert backward_problems(nested, nested) == []
    grown = copy.deepcopy(nested)
    grown["fields"][0]["type"]["items"]["fields"].append({"name": "orders", "type": "int"})
    assert backward_problems(nested, grown) == ["bids[].orders: new field without a default"]


def test_current_contracts_are_backward_compatible_with_the_newest_release():
    assert released_versions(), "no released contracts"
    assert check_against_release() == {}
    for name in RECORD_NAMES:
        assert backward_problems(avro_schema_json(name), avro_schema_json(name)) == []


def test_cli_check_fails_on_a_breaking_change(tmp_path: Path):
    current = tmp_path / "avro"
    shutil.copytree(Path(str(resources.files("contracts").joinpath("avro"))), current)
    runner = CliRunner()
    ok = runner.invoke(app, ["contracts", "check", "--current", str(current)])
    assert ok.exit_code == 0, ok.output
    assert "BACKWARD compatible" in ok.output

    trade = json.loads((current / "trade.avsc").read_text())
    trade["fields"].append({"name": "venue_order_id", "type": "string"})  # no default: old data can't fill it
    (current / "trade.avsc").write_text(json.dumps(trade))
    broken = runner.invoke(app, ["contracts", "check", "--current", str(current)])
    assert broken.exit_code == 1
    assert "trade: venue_order_id: new field without a default" in broken.output
