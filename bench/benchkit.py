"""What several benchmarks share: a free port, a process's CPU and peak memory, sample Binance frames."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from streaming.simulator import binance_wire
from streaming.simulator.market import Market


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a live process has used so far (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def peak_rss_mb(pid: int) -> float:
    """The peak resident memory of a live process (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def binance_trade_frames(count: int) -> list[bytes]:
    """Binance combined-stream trade frames of BTC-USDT exactly as the simulator renders them (seed 1)."""
    market = Market(seed=1, instruments=["BTC-USDT"])
    start = 1_790_000_000_000
    return [
        binance_wire.combined_frame(market.next_trade("BTC-USDT", start + i), "trade").encode() for i in range(count)
    ]
