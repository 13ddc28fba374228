"""``ticklake read``, ``ticklake reprocess`` and ``ticklake backfill``: the lake's tables from the command line.

Registered on the main app by :func:`register` (see :mod:`ticklake.cli`). Bad input exits with code 2,
a failed run with code 1.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ticklake.console import configure_logging
from ticklake.errors import LakeReadError, TicklakeError
from ticklake.settings import Settings, get_settings

if TYPE_CHECKING:
    from dagster import DagsterInstance

BAD_INPUT = 2
FAILED = 1


class OutputFormat(enum.StrEnum):
    """How ``ticklake read`` prints rows."""

    table = "table"
    jsonl = "jsonl"


def _fail(message: str, code: int) -> NoReturn:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _settings(verbose: bool = False) -> Settings:
    configure_logging(verbose)
    try:
        return get_settings()
    except TicklakeError as error:
        _fail(str(error), BAD_INPUT)


def read(
    table: Annotated[str, typer.Argument(help="Table identifier, e.g. silver.candles or bronze.trades.")],
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Time travel: a snapshot id, or an ISO-8601 time (the snapshot current then; no offset = UTC).",
        ),
    ] = None,
    where: Annotated[
        str | None,
        typer.Option(help="Row filter, e.g. \"event_date = '2026-11-21' and venue = 'binance'\"."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="Most rows to print.")] = 100,
    output: Annotated[OutputFormat, typer.Option("--format", help="table (terminal) or jsonl (one JSON per row).")] = (
        OutputFormat.table
    ),
) -> None:
    """Print rows of a lake table, now or as of a snapshot (time travel)."""
    from ticklake.lake import open_catalog, read_table, snapshot_as_of
    from ticklake.readout import json_lines, parse_as_of, rich_table

    settings = _settings()
    catalog = open_catalog(settings)
    try:
        moment = parse_as_of(as_of) if as_of is not None else None
        rows = read_table(catalog, table, as_of=moment, row_filter=where, limit=limit)
        snapshot = (
            snapshot_as_of(catalog.load_table(table), moment)
            if moment is not None
            else catalog.load_table(table).current_snapshot()
        )
    except LakeReadError as error:
        _fail(str(error), BAD_INPUT)
    where_read = f"snapshot {snapshot.snapshot_id}" if snapshot is not None else "no snapshot (empty table)"
    if output is OutputFormat.jsonl:
        for line in json_lines(rows):
            sys.stdout.write(line + "\n")
    else:
        Console().print(rich_table(rows, title=f"{table} at {where_read}"))
    typer.echo(f"{rows.num_rows} row(s) of {table} at {where_read}", err=True)


def _day(text: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        _fail(f"{option} {text!r} is not a date such as 2026-11-21", BAD_INPUT)


@contextlib.contextmanager
def _dagster_instance(settings: Settings) -> Iterator[DagsterInstance]:
    """The Dagster instance the runs are recorded in.

    ``DAGSTER_HOME`` when set, else the one ``ticklake up`` set up, else a temporary one (runs not kept).
    """
    from dagster import DagsterInstance

    if os.environ.get("DAGSTER_HOME"):
        with DagsterInstance.get() as instance:
            yield instance
    elif (settings.dagster_home / "dagster.yaml").exists():
        with DagsterInstance.from_config(str(settings.dagster_home)) as instance:
            yield instance
    else:
        typer.echo("no Dagster instance set up (DAGSTER_HOME or `ticklake up`): the runs are not recorded", err=True)
        with DagsterInstance.ephemeral() as instance:
            yield instance


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
    )


def _run_backfill(settings: Settings, partitions: list[str], assets: list[Any]) -> bool:
    """Materialize the partitions with a progress bar and print a summary; whether all succeeded."""
    from orchestration.defs.silver.backfill import PartitionOutcome, backfill

    names = ", ".join(key.to_user_string() for key in assets)
    console = Console()
    with _dagster_instance(settings) as instance, _progress() as bar:
        task = bar.add_task("backfill", total=len(partitions), detail=names)

        def started(partition: str) -> None:
            bar.update(task, detail=f"{partition}: {names}")

        def done(outcome: PartitionOutcome) -> None:
            bar.advance(task)
            state = "ok" if outcome.success else "FAILED"
            bar.console.log(f"{outcome.partition}: {state} in {outcome.seconds:.1f} s")

        outcomes = backfill(instance, partitions, assets, on_start=started, on_done=done)
    summary = Table(title=f"silver backfill {partitions[0]}..{partitions[-1]}")
    for column in ("partition", "status", "trades", "late trades", "candles", "revised", "checks", "seconds"):
        summary.add_column(column, justify="left" if column in ("partition", "status") else "right")
    for outcome in outcomes:
        trades = outcome.metadata.get("silver/trades", {}).get("trades", "")
        late = outcome.metadata.get("silver/late_trades", {}).get("late_trades", "")
        candles = outcome.metadata.get("silver/candles", {})
        summary.add_row(
            outcome.partition,
            "ok" if outcome.success else "FAILED",
            str(trades),
            str(late),
            str(candles.get("candles", "")),
            str(candles.get("revised_candles", "")),
            ", ".join(f"{name}: {'ok' if passed else 'WARN'}" for name, passed in outcome.checks.items()),
            f"{outcome.seconds:.1f}",
        )
    console.print(summary)
    failed = [o.partition for o in outcomes if not o.success]
    total = sum(o.seconds for o in outcomes)
    typer.echo(f"{len(outcomes) - len(failed)}/{len(outcomes)} partitions built in {total:.1f} s", err=True)
    for outcome in outcomes:
        if not outcome.success:
            typer.secho(f"{outcome.partition}: {outcome.error}", fg=typer.colors.RED, err=True)
    if failed:
        typer.secho(f"failed partitions: {', '.join(failed)}", fg=typer.colors.RED, err=True)
    return not failed


def backfill(
    start: Annotated[str, typer.Option("--from", help="First partition (UTC date), e.g. 2026-11-20.")],
    end: Annotated[str, typer.Option("--to", help="Last partition (UTC date), included.")],
    asset: Annotated[
        list[str] | None,
        typer.Option(help="Only this silver asset (repeat): silver/trades, silver/late_trades, silver/candles."),
    ] = None,
) -> None:
    """Build the daily silver partitions of a date range (trades, late trades, candles), one run per day."""
    from orchestration.defs.silver.backfill import BackfillError, partition_range, resolve_assets

    settings = _settings()
    first, last = _day(start, "--from"), _day(end, "--to")
    try:
        partitions = partition_range(first, last)
        assets = resolve_assets(asset)
    except BackfillError as error:
        _fail(str(error), BAD_INPUT)
    if not _run_backfill(settings, partitions, assets):
        raise typer.Exit(FAILED)


def reprocess(
    start: Annotated[str, typer.Option("--from", help="First event date (UTC), e.g. 2026-11-20.")],
    end: Annotated[str, typer.Option("--to", help="Last event date (UTC), included.")],
    venue: Annotated[list[str] | None, typer.Option(help="Only this venue (repeat; default: every venue).")] = None,
    keep_unframed: Annotated[
        bool,
        typer.Option(help="Keep rows no frame accounts for (trades repaired from REST, rows landed meanwhile)."),
    ] = True,
    margin_days: Annotated[int, typer.Option(min=0, help="Read frames received this many days around the range.")] = 1,
    silver: Annotated[
        bool, typer.Option(help="Then build the silver partitions of the range here (else the sensor requests them).")
    ] = False,
) -> None:
    """Re-parse raw frames through the current parsers and rebuild bronze for a date range."""
    from orchestration.defs.silver.backfill import BackfillError, partition_range, resolve_assets
    from streaming.reprocess import ReprocessError, check_request
    from streaming.reprocess import reprocess as run_reprocess
    from ticklake.lake import open_catalog

    settings = _settings()
    first, last = _day(start, "--from"), _day(end, "--to")
    try:
        check_request(first, last, venue)
        partitions = partition_range(first, last) if silver else []
    except (ReprocessError, BackfillError) as error:
        _fail(str(error), BAD_INPUT)
    with _progress() as bar:
        frames = bar.add_task("parse frames", total=None, detail="")
        tables = bar.add_task("write tables", total=None, detail="", visible=False)

        def progress(stage: str, done: int, total: int) -> None:
            if stage == "parse":
                bar.update(frames, completed=done, total=total)
            else:
                bar.update(tables, completed=done, total=total, detail=stage.removeprefix("write "), visible=True)

        try:
            report = run_reprocess(
                open_catalog(settings),
                first,
                last,
                venue,
                margin_days=margin_days,
                keep_unframed=keep_unframed,
                progress=progress,
            )
        except TicklakeError as error:
            _fail(str(error), FAILED)
    summary = Table(title=f"reprocessed {first}..{last} ({', '.join(report.venues) or 'every venue'})")
    for column in ("table", "rows before", "rows after", "kept unframed", "snapshot"):
        summary.add_column(column, justify="left" if column in ("table", "snapshot") else "right")
    for table in report.tables:
        summary.add_row(
            table.table,
            f"{table.rows_before:,}",
            f"{table.rows_after:,}",
            f"{table.kept_unframed:,}",
            str(table.snapshot_id),
        )
    Console().print(summary)
    typer.echo(
        f"{report.frames:,} frames parsed ({report.rejects:,} rejected, {report.duplicate_trades:,} duplicate trades) "
        f"in {report.seconds:.1f} s",
        err=True,
    )
    if silver:
        if not _run_backfill(settings, partitions, resolve_assets(None)):
            raise typer.Exit(FAILED)
    else:
        typer.echo("the silver sensor requests the partitions of the range from the new bronze.trades commit", err=True)


def register(app: typer.Typer) -> None:
    """Add the lake commands to the ``ticklake`` app."""
    app.command("read")(read)
    app.command("reprocess")(reprocess)
    app.command("backfill")(backfill)
