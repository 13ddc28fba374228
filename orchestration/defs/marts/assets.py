"""The dbt marts as Dagster assets: daily partitions, dbt tests as asset checks, publication to ``gold.*``.

Nothing happens at import: :func:`marts_assets` parses the dbt project (once, when the manifest is
missing or stale) and builds the assets definition the first time the code location asks for it.
"""

import dataclasses
import functools
import json
import time
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import duckdb
from dagster import (
    AssetCheckKey,
    AssetCheckResult,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSelection,
    AutomationCondition,
    BackfillPolicy,
    Failure,
    MetadataValue,
    Output,
    define_asset_job,
)
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from orchestration.defs.marts.project import MartsPaths, dbt_executable, file_lock, marts_project, prune_run_folders
from orchestration.defs.marts.publish import GOLD_BY_IDENTIFIER, PUBLICATION_KEY, Publication, publish_marts
from orchestration.defs.marts.sources import SourceSnapshot, Window, register_sources
from orchestration.defs.resources import LakeResource
from orchestration.defs.silver.partitions import daily_partitions

BUILD_LOCK_TIMEOUT_S = 1800.0
"""How long a build waits for the one running before it (builds of the marts run one at a time)."""

KEPT_RUN_FOLDERS = 20
"""dbt artifacts and logs of this many recent builds are kept under ``<state>/marts/dbt``."""

MARTS_KEY_PREFIXES = (["gold"], ["marts_build"])

marts_job = define_asset_job(
    "marts_job",
    selection=AssetSelection.key_prefixes(*MARTS_KEY_PREFIXES),
    tags={"ticklake/layer": "gold"},
    description="Build the dbt marts of a day (or a range of days) and publish them as gold.* Iceberg tables.",
)


def after_silver() -> AutomationCondition[AssetKey | AssetCheckKey]:
    """When a mart's day is built again: once a silver partition it reads was (re)materialized.

    Dagster's ``eager()`` without its "latest time window only" clause, and without requesting
    partitions merely because they are new: a day's marts are requested after that day's silver
    changed (today continuously; a past day after late data, a repair or a backfill), once no silver
    run of that day is still in progress (a partial silver day is not published), none of the mart's
    inputs is missing, and no build of that day is already running (an update during a build asks
    for one more build afterwards). Within the marts, a model is requested with its parents (one run).
    """
    return (
        AutomationCondition.any_deps_updated().since_last_handled()
        & ~AutomationCondition.any_deps_missing()
        & ~AutomationCondition.any_deps_in_progress()
        & ~AutomationCondition.in_progress()
    ).with_label("after_silver")


class MartsTranslator(DagsterDbtTranslator):
    """Asset keys from the models' ``meta.dagster.asset_key``; the group is the key's first part."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        """``gold`` for the published marts, ``marts_build`` for staging and intermediate models."""
        return self.get_asset_key(dbt_resource_props).path[0]

    def get_automation_condition(
        self, dbt_resource_props: Mapping[str, Any]
    ) -> AutomationCondition[AssetKey | AssetCheckKey] | None:
        """Every model follows its silver days (:func:`after_silver`); sources (silver itself) have none."""
        return after_silver() if dbt_resource_props.get("resource_type") == "model" else None


def dbt_resource() -> DbtCliResource:
    """The ``dbt`` resource: the marts' dbt project run with this environment's dbt."""
    return DbtCliResource(project_dir=marts_project(), dbt_executable=dbt_executable())


def window_of(context: AssetExecutionContext) -> Window:
    """The UTC event dates of the run's partition (or partition range)."""
    time_window = context.partition_time_window
    return Window(time_window.start.date(), time_window.end.date())


@dataclasses.dataclass(frozen=True)
class BuildResult:
    """What one build did, for the events' metadata."""

    sources: dict[str, SourceSnapshot]
    publications: dict[str, Publication]
    seconds: dict[str, float]
    """Wall time per phase: waiting for the lock, planning the sources, dbt, publishing."""


def _source_metadata(sources: Mapping[str, SourceSnapshot]) -> dict[str, Any]:
    return {
        "silver_snapshots": MetadataValue.json(
            {
                name: {"snapshot_id": str(s.snapshot_id or ""), "files": len(s.files), "rows": s.records}
                for name, s in sources.items()
            }
        )
    }


def _with_build_metadata(context: AssetExecutionContext, event: Any, result: BuildResult, window: Window) -> Any:
    """A dbt event with the build's lineage (and, for a published mart, its gold snapshot)."""
    if not isinstance(event, Output):
        return event
    key = context.asset_key_for_output(event.output_name)
    extra: dict[str, Any] = {"window": MetadataValue.text(f"[{window.start}, {window.end})")}
    extra.update(_source_metadata(result.sources))
    publication = result.publications.get(".".join(key.path))
    if publication is not None:
        extra["gold_table"] = MetadataValue.text(publication.identifier)
        extra["published_rows"] = MetadataValue.int(publication.rows)
        extra["gold_snapshot_id"] = MetadataValue.text(str(publication.snapshot_id or ""))
        extra["build_seconds"] = MetadataValue.json({phase: round(t, 3) for phase, t in result.seconds.items()})
    return event.with_metadata({**event.metadata, **extra})


def build_and_publish(
    context: AssetExecutionContext, dbt: DbtCliResource, lake: LakeResource
) -> Iterator[Output[Any] | AssetCheckResult | Any]:
    """Register the sources, ``dbt build`` the window, publish to gold if everything passed, report.

    Builds run one at a time (a file lock across processes): the builder database has a single
    writer, and gold commits land in build order.
    """
    window = window_of(context)
    paths = MartsPaths.under(lake.settings().state_path)
    catalog = lake.catalog()
    seconds: dict[str, float] = {}
    clock = time.monotonic()

    def lap(phase: str) -> None:
        nonlocal clock
        now = time.monotonic()
        seconds[phase] = now - clock
        clock = now

    with file_lock(paths.lock, BUILD_LOCK_TIMEOUT_S, "the marts build"):
        lap("lock")
        connection = duckdb.connect(str(paths.builder))
        try:
            sources = register_sources(connection, catalog, window)
        finally:
            connection.close()
        lap("sources")
        context.log.info(
            f"{window.start}..{window.end}: sources "
            + ", ".join(f"{name} {s.records} rows in {len(s.files)} files" for name, s in sources.items())
        )
        target = paths.runs / f"{context.run.run_id[:8]}-{uuid.uuid4().hex[:8]}"
        dbt_vars = {**window.dbt_vars(), "duckdb_path": str(paths.builder)}
        invocation = dbt.cli(
            ["build", "--vars", json.dumps(dbt_vars)], context=context, raise_on_error=False, target_path=target
        )
        events = list(invocation.stream())
        succeeded = invocation.is_successful()
        lap("dbt")
        publications: dict[str, Publication] = {}
        if succeeded:
            built = [
                GOLD_BY_IDENTIFIER[".".join(key.path)]
                for key in context.selected_asset_keys
                if ".".join(key.path) in GOLD_BY_IDENTIFIER
            ]
            properties = {
                PUBLICATION_KEY: f"{context.run.run_id}/{window.start}/{window.end}",
                "ticklake.window": f"{window.start}/{window.end}",
                "ticklake.dagster_run_id": context.run.run_id,
                **{f"ticklake.source.{name}": str(s.snapshot_id or "") for name, s in sources.items()},
            }
            publications = publish_marts(paths.builder, catalog, window, properties, tuple(built))
            lap("publish")
        prune_run_folders(paths.runs, KEPT_RUN_FOLDERS)
    result = BuildResult(sources, publications, seconds)
    for event in events:
        yield _with_build_metadata(context, event, result, window)
    if not succeeded:
        raise Failure(
            description=f"dbt build of [{window.start}, {window.end}) failed; nothing was published to gold "
            f"(readers keep the previous version). {invocation.get_error()}",
            metadata={"dbt_artifacts": MetadataValue.path(str(target))},
        )
    context.log.info(
        f"built and published {', '.join(f'{k} ({p.rows} rows)' for k, p in publications.items())}; "
        + ", ".join(f"{phase} {t:.1f} s" for phase, t in seconds.items())
    )


@functools.cache
def marts_assets() -> AssetsDefinition:
    """The dbt marts as one multi-asset (parses the dbt project on first call when needed)."""
    project = marts_project()

    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        name="ticklake_marts",
        partitions_def=daily_partitions(),
        backfill_policy=BackfillPolicy.single_run(),
        dagster_dbt_translator=MartsTranslator(),
        op_tags={"ticklake/layer": "gold"},
    )
    def ticklake_marts(context: AssetExecutionContext, dbt: DbtCliResource, lake: LakeResource) -> Iterator[Any]:
        """Build the partition's days with dbt, then publish the marts to the gold.* Iceberg tables."""
        yield from build_and_publish(context, dbt, lake)

    return ticklake_marts
