"""The patched flink-python jar binds Beam's gRPC servers to loopback; the wheel's binds all.

Needs Java, mvn (the first build fetches flink-python's sources) and the bootstrapped Flink
environment, not the running stack. A tiny Java program (run with the single-file source
launcher) allocates a server through ``ServerFactory.createDefault()``, as the TaskManager does
for a Python job, and prints the URL it hands to the Python worker and the addresses it listens on.
"""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from foundation.layout import Layout
from foundation.settings import StackSettings
from harness.stack import beam_loopback

CHECK = """
import java.util.List;
import org.apache.beam.model.pipeline.v1.Endpoints;
import org.apache.beam.sdk.fn.server.ServerFactory;
import org.apache.beam.vendor.grpc.v1p60p1.io.grpc.Server;

public class BeamServerBind {
  public static void main(String[] args) throws Exception {
    Endpoints.ApiServiceDescriptor.Builder descriptor = Endpoints.ApiServiceDescriptor.newBuilder();
    Server server = ServerFactory.createDefault().allocateAddressAndCreate(List.of(), descriptor);
    try {
      System.out.println("url " + descriptor.getUrl());
      for (Object address : server.getListenSockets()) {
        System.out.println("bound " + address);
      }
    } finally {
      server.shutdownNow();
    }
  }
}
"""

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@pytest.fixture(scope="module")
def jars() -> tuple[Path, Path]:
    """(the wheel's flink-python jar, its patched copy: built unless up to date)."""
    if shutil.which("java") is None:
        pytest.fail("java not found: run scripts/bootstrap.sh")
    layout = Layout.of(StackSettings())
    pyflink = layout.pyflink_dir()
    return (beam_loopback.flink_python_jar(pyflink),
            beam_loopback.build(pyflink, beam_loopback.jars_dir(layout)))


def _parse(socket: str) -> Address:
    """Netty's InetSocketAddress text: ``/127.0.0.1:4242`` or ``/[0:0:0:0:0:0:0:0%0]:4242``."""
    host = socket.strip().lstrip("/").rsplit(":", 1)[0]
    host = host.strip("[]").split("%", 1)[0]
    return ipaddress.ip_address(host)


def _server(jar: Path, tmp_path: Path) -> tuple[str, list[Address]]:
    """(the URL the server hands out, the addresses it listens on) with `jar` on the classpath."""
    source = tmp_path / "BeamServerBind.java"
    source.write_text(CHECK)
    result = subprocess.run(["java", "-cp", str(jar), str(source)], capture_output=True,
                            text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    url = next(line.split(" ", 1)[1] for line in lines if line.startswith("url "))
    bound = [_parse(line.split(" ", 1)[1]) for line in lines if line.startswith("bound ")]
    assert bound, result.stdout
    return url, bound


def test_the_wheels_jar_binds_every_interface(jars: tuple[Path, Path], tmp_path: Path) -> None:
    """The check can fail: the unpatched class listens on the wildcard address."""
    _, bound = _server(jars[0], tmp_path)
    assert all(address.is_unspecified for address in bound), bound


def test_the_patched_jar_binds_loopback_only(jars: tuple[Path, Path], tmp_path: Path) -> None:
    url, bound = _server(jars[1], tmp_path)
    assert all(address.is_loopback for address in bound), bound
    assert url.startswith("localhost:"), url  # what the Python worker dials, unchanged


def test_the_patched_jar_differs_only_in_server_factory(jars: tuple[Path, Path]) -> None:
    original, patched = jars
    with zipfile.ZipFile(original) as old, zipfile.ZipFile(patched) as new:
        before = {info.filename: info.CRC for info in old.infolist()}
        after = {info.filename: info.CRC for info in new.infolist()}
        assert new.namelist() == old.namelist()
        changed = sorted(name for name in before if before[name] != after[name])
        assert changed and all(beam_loopback.CLASS_ENTRY.fullmatch(name) for name in changed)
        assert new.testzip() is None


def test_the_build_is_cached(jars: tuple[Path, Path]) -> None:
    original, patched = jars
    built = patched.stat().st_mtime_ns
    pyflink = original.parent.parent
    assert beam_loopback.build(pyflink, patched.parent) == patched
    assert patched.stat().st_mtime_ns == built
