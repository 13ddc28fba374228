"""Asset checks of the silver layer: live vs batch candle agreement."""

import datetime as dt
import warnings

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetKey,
    MetadataValue,
    asset_check,
)
from dagster_shared.utils.warnings import PreviewWarning

from contracts.tables import BRONZE_LIVE_CANDLES, SILVER_CANDLES, SILVER_LATE_TRADES, SILVER_TRADES
from orchestration.defs.resources import LakeResource
from orchestration.defs.silver.agreement import compare_live_with_batch, on_time_candles
from orchestration.defs.silver.assets import CANDLES_KEY, LATE_TRADES_KEY, TRADES_KEY
from orchestration.defs.silver.lakeio import read_day
from orchestration.defs.silver.partitions import daily_partitions
from ticklake.lake import ensure_table

LIVE_CANDLES_KEY = AssetKey(["bronze", "live_candles"])

MAX_UNEXPLAINED_FRACTION = 0.01
"""The check warns when more than this fraction of the sealed live candles differ from the batch ones for
no late trade (a restarted live aggregator's first windows are partial: a few such differences are normal)."""


def _live_candles_agree(context: AssetCheckExecutionContext, lake: LakeResource) -> AssetCheckResult:
    """Compare the partition's sealed live candles with its batch candles."""
    day = dt.date.fromisoformat(context.op_execution_context.partition_key)
    catalog = lake.catalog()
    live = read_day(ensure_table(catalog, BRONZE_LIVE_CANDLES), day)
    batch = read_day(ensure_table(catalog, SILVER_CANDLES), day)
    late = read_day(ensure_table(catalog, SILVER_LATE_TRADES), day)
    if live.num_rows and late.num_rows:  # the windows with late trades are rebuilt from their on-time trades
        trades = read_day(ensure_table(catalog, SILVER_TRADES), day)
    else:
        trades = SILVER_TRADES.schema().as_arrow().empty_table()
    on_time = on_time_candles(trades, late)
    agreement = compare_live_with_batch(live, batch, on_time)
    context.log.info(
        f"{day}: {agreement.differing} of {agreement.compared} sealed live candles differ from the batch "
        f"({agreement.explained} explained by late trades)"
    )
    passed = agreement.unexplained_fraction <= MAX_UNEXPLAINED_FRACTION
    return AssetCheckResult(
        passed=passed,
        severity=AssetCheckSeverity.WARN,
        description=None
        if passed
        else f"{agreement.unexplained} live candles differ from the batch for no late trade "
        f"({agreement.unexplained_fraction:.2%} > {MAX_UNEXPLAINED_FRACTION:.0%})",
        metadata={
            "compared": MetadataValue.int(agreement.compared),
            "differing": MetadataValue.int(agreement.differing),
            "differing_fraction": MetadataValue.float(round(agreement.differing_fraction, 6)),
            "explained_by_late_trades": MetadataValue.int(agreement.explained),
            "unexplained": MetadataValue.int(agreement.unexplained),
            "unexplained_fraction": MetadataValue.float(round(agreement.unexplained_fraction, 6)),
            "differing_by_interval": MetadataValue.json(agreement.by_interval),
            "unexplained_sample": MetadataValue.text("\n".join(agreement.unexplained_sample)),
            "threshold": MetadataValue.float(MAX_UNEXPLAINED_FRACTION),
        },
    )


with warnings.catch_warnings():
    # a partitioned asset check is a Dagster preview feature: the check runs per daily partition, as its asset
    warnings.filterwarnings("ignore", category=PreviewWarning, message="Specifying a partitions_def")
    live_candles_agree = asset_check(
        asset=CANDLES_KEY,
        name="live_candles_agree",
        partitions_def=daily_partitions(),
        additional_deps=[LIVE_CANDLES_KEY, LATE_TRADES_KEY, TRADES_KEY],
        blocking=False,
        description=(
            "Sealed live candles (bronze.live_candles) vs batch candles (silver.candles) of the partition: counts "
            "the differing candles; warns when the share the late trades do not explain is above "
            f"{MAX_UNEXPLAINED_FRACTION:.0%}."
        ),
    )(_live_candles_agree)


SILVER_CHECKS = [live_candles_agree]
"""The silver asset checks."""
