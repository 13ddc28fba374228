import os
import signal
import subprocess
import sys
import textwrap

from testkit import wait_until

from ticklake.processes import spawn, stop_process
from ticklake.up import clean_leftovers


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(")")[1].split()[0] != "Z"  # a zombie is dead, only not reaped yet


def test_stop_process_stops_the_whole_group(tmp_path):
    pids = tmp_path / "pids"
    script = f"sleep 300 & echo $! > {pids}; wait"
    leader = spawn(["sh", "-c", script], tmp_path / "sh.log")
    wait_until(lambda: pids.exists() and pids.read_text().strip(), 10, "the grandchild to start")
    grandchild = int(pids.read_text())
    assert alive(grandchild)
    stop_process(leader, timeout=5)
    assert leader.poll() is not None
    wait_until(lambda: not alive(grandchild), 10, "the grandchild to be stopped with its group")


def test_children_die_with_their_parent(tmp_path):
    child_pid = tmp_path / "child.pid"
    parent_code = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from ticklake.processes import spawn
        child = spawn(["sleep", "300"], None)
        Path({str(child_pid)!r}).write_text(str(child.pid))
        time.sleep(300)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", parent_code], start_new_session=True)
    try:
        wait_until(lambda: child_pid.exists() and child_pid.read_text(), 20, "the child to start")
        child = int(child_pid.read_text())
        assert alive(child)
        parent.send_signal(signal.SIGKILL)  # no cleanup code can run in the parent
        parent.wait(10)
        wait_until(lambda: not alive(child), 10, "the orphan to get SIGTERM from the kernel")
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(10)


def test_clean_leftovers_stops_only_what_up_started_for_this_state(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    ours = spawn(["sleep", "300"], None, {**os.environ, "TICKLAKE_STATE_DIR": str(state)})
    other = spawn(["sleep", "300"], None, {**os.environ, "TICKLAKE_STATE_DIR": str(tmp_path / "other")})
    try:
        (state / "up.pids").write_text(f"{ours.pid}\n{other.pid}\n")
        assert clean_leftovers(state) == [ours.pid]
        ours.wait(10)
        assert other.poll() is None, "a process of another state folder was touched"
        assert not (state / "up.pids").exists()
        assert clean_leftovers(state) == []
    finally:
        stop_process(ours)
        stop_process(other)
