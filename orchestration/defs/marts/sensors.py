"""The marts follow silver without a human: a declarative-automation sensor over the marts' assets.

Each model of the marts carries :func:`orchestration.defs.marts.assets.after_silver`; this sensor
evaluates those conditions (in the Dagster daemon) and requests one marts run per day whose silver
was (re)materialized since the day's marts were last requested or built.
"""

from dagster import AssetSelection, AutomationConditionSensorDefinition, DefaultSensorStatus

from orchestration.defs.marts.assets import MARTS_KEY_PREFIXES

MARTS_SELECTION = AssetSelection.key_prefixes(*MARTS_KEY_PREFIXES)
"""The marts' assets (staging, intermediate, gold): what the sensor evaluates and requests."""

marts_after_silver = AutomationConditionSensorDefinition(
    "marts_after_silver",
    target=MARTS_SELECTION,
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    run_tags={"ticklake/layer": "gold"},
    description="Requests the marts of every day whose silver trades or candles were (re)materialized.",
)
