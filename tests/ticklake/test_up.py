"""The whole platform as `make run` starts it: broker, simulator, Dagster (webserver, daemon, stream
runs, sensors), API; candles served; Ctrl-C stops everything."""

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

from dagster import AssetKey, DagsterInstance
from testkit import free_port, wait_until

from ticklake.processes import port_open
from ticklake.up import clean_leftovers

ROOT = Path(__file__).resolve().parents[2]


def processes_using(marker: str) -> list[int]:
    """Pids of live processes whose environment mentions ``marker`` (our private state folder)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def candles_served(api_port: int) -> int:
    end = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
    start = end - dt.timedelta(hours=1)
    url = (
        f"http://127.0.0.1:{api_port}/v1/candles?instrument=BTC-USDT&venue=binance&interval=1m"
        f"&start={start:%Y-%m-%dT%H:%M:%SZ}&end={end:%Y-%m-%dT%H:%M:%SZ}"
    )
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(json.loads(response.read())["count"])
    except OSError:
        return 0


def test_up_runs_the_platform_and_ctrl_c_stops_everything(tmp_path):
    state = tmp_path / "platform"
    ports = {name: free_port() for name in ("kafka", "sim", "dagster", "api")}
    env = {
        **os.environ,
        "TICKLAKE_STATE_DIR": str(state),
        "TICKLAKE_KAFKA_BOOTSTRAP": f"127.0.0.1:{ports['kafka']}",
        "TICKLAKE_SIM_PORT": str(ports["sim"]),
        "TICKLAKE_DAGSTER_PORT": str(ports["dagster"]),
        "TICKLAKE_API_PORT": str(ports["api"]),
        "TICKLAKE_SINK_BATCH_SECONDS": "2",
    }
    # the output goes to a pipe that is closed before Ctrl-C: as when `make run | tee log` is interrupted
    up = subprocess.Popen(
        [sys.executable, "-m", "ticklake", "up"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    output: list[bytes] = []

    def read_until_up_then_hang_up() -> None:
        for line in iter(up.stdout.readline, b""):
            output.append(line)
            if b"Ctrl-C" in line:
                break
        up.stdout.close()  # later output of `up` meets a closed pipe

    reader = threading.Thread(target=read_until_up_then_hang_up, daemon=True)
    reader.start()
    try:
        wait_until(lambda: candles_served(ports["api"]) > 0, 240, "a candle served by the API")
        reader.join(10)
        assert not reader.is_alive()
    finally:
        os.killpg(up.pid, signal.SIGINT)  # what Ctrl-C sends to the foreground process group
        try:
            code = up.wait(90)
        finally:
            if up.poll() is None:  # a failed stop must not leave the platform running after the test
                up.kill()
                up.wait(10)
            leftovers = clean_leftovers(state)
    text = b"".join(output).decode(errors="replace")
    assert "ticklake is up" in text and "Dagster UI" in text, text
    assert code == 0, text
    assert not [name for name, port in ports.items() if port_open("127.0.0.1", port)]
    assert processes_using(str(state)) == []
    assert leftovers == [], "up left process groups behind"

    # Dagster recorded the stream runs, bronze commits (rows, offsets, snapshot) and a candle partition
    os.environ["DAGSTER_HOME"] = str(state / "dagster")
    try:
        with DagsterInstance.get() as instance:
            jobs = {run.job_name for run in instance.get_runs()}
            assert {"stream_collectors", "stream_bronze_sink", "silver_candles_job"} <= jobs
            bronze = instance.get_latest_materialization_event(AssetKey(["bronze", "trades"]))
            assert bronze is not None
            metadata = bronze.asset_materialization.metadata
            assert metadata["rows"].value > 0 and metadata["snapshot_id"].value
            assert any(key.startswith("ticklake.trades.") for key in metadata["kafka_offsets"].value)
            candles = instance.get_latest_materialization_event(AssetKey(["silver", "candles"]))
            assert candles is not None and candles.asset_materialization.partition == dt.date.today().isoformat()
    finally:
        del os.environ["DAGSTER_HOME"]
