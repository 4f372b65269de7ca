"""Nothing of the stack listens beyond the machine, and `down` leaves nothing behind.

The sockets are read from /proc/net/tcp{,6} (state LISTEN) and mapped to processes through
/proc/<pid>/fd; the stack's processes are those below supervisord plus those carrying its mark
(harness.stack.marks). The `down` test is marked `stack_down` and runs after every other test;
it does not need the stack to be running (it plants a marked orphan of its own).
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.stack import beam_loopback, marks
from harness.stack.procs import alive, cmdline, descendants

PROC = Path("/proc")
LISTEN = "0A"


@dataclass(frozen=True)
class Listener:
    address: ipaddress.IPv4Address | ipaddress.IPv6Address
    port: int
    pid: int

    @property
    def loopback(self) -> bool:
        address = self.address
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # a JVM's IPv6 socket bound to 127.0.0.1
        return address.is_loopback

    def __str__(self) -> str:
        return f"{self.address}:{self.port} (pid {self.pid}: {cmdline(self.pid)[:100]})"


def _address(hex_address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """/proc/net/tcp{,6} print addresses as host-order 32-bit words in hex."""
    raw = bytes.fromhex(hex_address)
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return ipaddress.ip_address(words)


def _listening_inodes() -> dict[int, tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]]:
    found = {}
    for table in ("tcp", "tcp6"):
        lines = (PROC / "net" / table).read_text().splitlines()[1:]
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], int(fields[9])
            if state == LISTEN:
                host, port = local.split(":")
                found[inode] = (_address(host), int(port, 16))
    return found


def _listeners(pids: set[int]) -> list[Listener]:
    inodes = _listening_inodes()
    out = []
    for pid in sorted(pids):
        try:
            fds = list((PROC / str(pid) / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inode = int(target[len("socket:["):-1])
                if inode in inodes:
                    out.append(Listener(*inodes[inode], pid=pid))
    return sorted(set(out), key=lambda item: (item.port, item.pid))


def _stack_pids(stack) -> set[int]:
    supervisord = stack.supervisor.pid()
    assert supervisord is not None, "the stack is not running"
    return ({supervisord} | descendants(supervisord)
            | marks.marked(marks.stack_id(stack.layout), sessions={supervisord}))


def test_address_parsing_matches_the_kernels_notation():
    assert str(_address("0100007F")) == "127.0.0.1"
    assert str(_address("00000000000000000000000001000000")) == "::1"
    assert _address("0000000000000000FFFF00000100007F") == ipaddress.ip_address("::ffff:127.0.0.1")


def test_every_listening_socket_of_the_stack_is_on_loopback(stack, endpoints):
    settings = stack.settings
    if not ipaddress.ip_address(settings.bind_host).is_loopback:
        pytest.skip(f"HARNESS_BIND_HOST={settings.bind_host} opens the stack on purpose")
    listeners = _listeners(_stack_pids(stack))
    ports = {listener.port for listener in listeners}
    expected = {settings.pg_port, settings.airflow_port, settings.airflow_log_server_port}
    if settings.local_kafka:
        expected |= {settings.kafka_port, settings.kafka_controller_port}
    if settings.local_flink:
        expected |= {settings.flink_rest_port, settings.flink_rpc_port, settings.flink_blob_port}
    assert expected <= ports, f"missing {expected - ports}; found {[str(x) for x in listeners]}"
    assert 8794 not in ports  # Airflow's own triggerer log server is not started

    # PyFlink's Beam gRPC servers (six per Python job, in the TaskManager) included: the
    # patched flink-python jar binds them to loopback (tests/integration/stack/test_beam_loopback.py)
    open_ = [listener for listener in listeners if not listener.loopback]
    assert not open_, "listening beyond the machine:\n" + "\n".join(str(x) for x in open_)


def test_the_taskmanager_runs_the_patched_flink_python_jar(stack, endpoints):
    """The jar that binds PyFlink's Beam servers to loopback is the one the TaskManager opened."""
    if not stack.settings.local_flink:
        pytest.skip("Flink is external")
    infos = {info["name"]: info for info in stack.supervisor.infos()}
    taskmanager = infos["flink-taskmanager"]["pid"]
    patched = beam_loopback.patched_path(
        beam_loopback.flink_python_jar(stack.layout.pyflink_dir()),
        beam_loopback.jars_dir(stack.layout))
    opened = set()
    for pid in {taskmanager} | descendants(taskmanager):
        for fd in (PROC / str(pid) / "fd").iterdir():
            try:
                opened.add(os.readlink(fd))
            except OSError:
                continue
    python_jars = sorted(path for path in opened
                         if Path(path).name.startswith("flink-python") and path.endswith(".jar"))
    assert python_jars == [str(patched.resolve())], \
        "restart the stack after bootstrap (harness down && harness up)"


_ORPHAN = """
import os, sys, time
import setproctitle
if os.fork():
    os._exit(0)          # the child leaves: its own child is re-parented to init
os.setsid()
pid = os.fork()
if pid:
    print(pid, flush=True)
    os._exit(0)
setproctitle.setproctitle("airflow serve-logs (test orphan)")
devnull = os.open(os.devnull, os.O_RDWR)
for fd in (0, 1, 2):     # let the caller's pipes close
    os.dup2(devnull, fd)
time.sleep(3600)
"""


@pytest.mark.stack_down
def test_down_ends_every_marked_process_even_reparented_ones(stack):
    """An orphan of the stack (marked, re-parented to init, retitled like `airflow serve-logs`)
    is ended by `harness down`, whether or not supervisord still runs."""
    mark = marks.stack_id(stack.layout)
    planted = subprocess.run(
        [sys.executable, "-c", _ORPHAN], capture_output=True, text=True, timeout=30,
        env={**os.environ, **marks.mark_env(stack.layout)},
    )
    orphan = int(planted.stdout.split()[0])
    assert alive({orphan}) == {orphan}
    assert orphan in marks.marked(mark)
    result = subprocess.run([sys.executable, "-m", "harness.cli", "down"], capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert alive({orphan}) == set()
    left = marks.marked(mark)
    assert not left, "marked processes left after down: " + "; ".join(cmdline(p) for p in left)
    assert stack.supervisor.pid() is None
