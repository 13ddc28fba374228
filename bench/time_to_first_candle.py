"""Time from `make run` to the first candle served by the API, then the time to stop on Ctrl-C.

Runs the README's command itself (`make run`) with a fresh state folder, polls
`/v1/candles` until a candle is served, sends SIGINT to the process group (as Ctrl-C does) and
checks that no port is left listening.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args()
    ports = {"kafka": 9092, "simulator": 8765, "dagster": 3000, "api": 8000}
    busy = [name for name, port in ports.items() if listening(port)]
    if busy:
        raise SystemExit(f"ports in use by a running platform: {busy}; stop it first")
    with tempfile.TemporaryDirectory(prefix="ticklake-ttfc-") as tmp:
        env = {**os.environ, "TICKLAKE_STATE_DIR": str(Path(tmp) / "state")}
        started = time.monotonic()
        with open(Path(tmp) / "make-run.log", "wb") as log:
            process = subprocess.Popen(
                ["make", "run"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        first_candle = api_up = None
        try:
            while time.monotonic() - started < args.timeout and process.poll() is None:
                end = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
                start = end - dt.timedelta(hours=1)
                url = (
                    "http://127.0.0.1:8000/v1/candles?instrument=BTC-USDT&venue=binance&interval=1m"
                    f"&start={start:%Y-%m-%dT%H:%M:%SZ}&end={end:%Y-%m-%dT%H:%M:%SZ}"
                )
                try:
                    with urllib.request.urlopen(url, timeout=2) as response:
                        body = json.loads(response.read())
                    api_up = api_up or time.monotonic()
                    if body["count"] > 0:
                        first_candle = time.monotonic()
                        break
                except OSError:
                    pass
                time.sleep(0.5)
        finally:
            stop_started = time.monotonic()
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
            stopped = time.monotonic()
        left = [name for name, port in ports.items() if listening(port)]
        if first_candle is None:
            print((Path(tmp) / "make-run.log").read_text()[-3000:])
            raise SystemExit("no candle was served before the timeout")
        print(f"make run -> API answering:      {api_up - started:6.1f} s" if api_up else "")
        print(f"make run -> first candle served: {first_candle - started:6.1f} s")
        print(f"Ctrl-C -> everything stopped:    {stopped - stop_started:6.1f} s (exit code {process.returncode})")
        print(f"ports still listening:           {left or 'none'}")


if __name__ == "__main__":
    main()
