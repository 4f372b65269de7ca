"""The flink-python patch's pure parts: the source edit, naming, freshness, the jar rewrite, and
which jar Flink's lib/ links. Fetching, compiling and the bound address are integration tests
(tests/integration/stack/test_beam_loopback.py)."""

from __future__ import annotations

import logging
import os
import zipfile
from pathlib import Path

import pytest

from foundation.layout import Layout
from foundation.settings import StackSettings
from harness.stack import beam_loopback as bl
from harness.stack import configs

SNIPPET = """
      NettyServerBuilder builder =
          NettyServerBuilder.forPort(socket.getPort())
              .maxMessageSize(Integer.MAX_VALUE);
"""


def test_the_one_wildcard_bind_becomes_a_bind_to_the_address() -> None:
    patched = bl.patch_source(SNIPPET)
    assert "NettyServerBuilder.forAddress(socket)\n" in patched
    assert "forPort" not in patched


@pytest.mark.parametrize("text", ["class ServerFactory {}", SNIPPET + SNIPPET])
def test_the_patch_fails_loudly_unless_the_call_is_there_once(text: str) -> None:
    with pytest.raises(bl.PatchError, match="review the patch"):
        bl.patch_source(text)


def test_class_release_reads_the_class_file_version() -> None:
    assert bl.class_release(b"\xca\xfe\xba\xbe\x00\x00\x00\x37rest") == 11
    assert bl.class_release(b"\xca\xfe\xba\xbe\x00\x00\x00\x3d") == 17
    with pytest.raises(bl.PatchError):
        bl.class_release(b"PK\x03\x04....")


def test_names_are_keyed_by_version(tmp_path: Path) -> None:
    original = tmp_path / "opt" / "flink-python-2.2.1.jar"
    assert bl.jar_version(original) == "2.2.1"
    assert bl.patched_path(original, tmp_path / "jars").name == "flink-python-2.2.1+beam-loopback.jar"
    assert bl.jars_dir(Layout(home=tmp_path)) == tmp_path / "jars"
    with pytest.raises(bl.PatchError):
        bl.jar_version(tmp_path / "flink-sql-client-2.2.1.jar")


def test_exactly_one_flink_python_jar_is_expected(tmp_path: Path) -> None:
    (tmp_path / "opt").mkdir()
    with pytest.raises(bl.PatchError, match="expected one"):
        bl.flink_python_jar(tmp_path)
    (tmp_path / "opt" / "flink-sql-client-2.2.1.jar").touch()
    (tmp_path / "opt" / "flink-python-2.2.1.jar").touch()
    assert bl.flink_python_jar(tmp_path).name == "flink-python-2.2.1.jar"
    (tmp_path / "opt" / "flink-python-2.3.0.jar").touch()
    with pytest.raises(bl.PatchError, match="expected one"):
        bl.flink_python_jar(tmp_path)


def test_fresh_means_present_and_newer_than_every_input(tmp_path: Path) -> None:
    source, script, out = tmp_path / "in.jar", tmp_path / "patch.py", tmp_path / "out.jar"
    source.touch()
    script.touch()
    assert not bl.is_fresh(out, [source, script])
    out.touch()
    os.utime(out, (1_000, 1_000))
    assert not bl.is_fresh(out, [source, script])
    os.utime(source, (500, 500))
    os.utime(script, (1_000, 1_000))
    assert bl.is_fresh(out, [source, script])


def _jar(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as jar:
        for name, data in entries.items():
            kind = zipfile.ZIP_STORED if name.endswith(".MF") else zipfile.ZIP_DEFLATED
            jar.writestr(name, data, compress_type=kind)
    return path


def test_server_factory_entries_are_the_class_and_its_nested_classes(tmp_path: Path) -> None:
    names = [bl.PACKAGE + n for n in ("ServerFactory.class", "ServerFactory$1.class",
                                      "ServerFactory$InetSocketAddressServerFactory.class",
                                      "ServerFactoryHelper.class", "GrpcFnServer.class")]
    names.append("org/other/ServerFactory.class")
    with zipfile.ZipFile(_jar(tmp_path / "in.jar", dict.fromkeys(names, b""))) as jar:
        assert bl.server_factory_entries(jar) == names[:3]


def test_rewrite_replaces_the_classes_and_keeps_the_rest(tmp_path: Path) -> None:
    cls = bl.PACKAGE + "ServerFactory.class"
    original = _jar(tmp_path / "in.jar", {"META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\n",
                                          cls: b"old", "a/B.class": b"b"})
    out = tmp_path / "out.jar"
    bl.rewrite_jar(original, {cls: b"new"}, out)
    with zipfile.ZipFile(out) as jar:
        assert jar.namelist() == ["META-INF/MANIFEST.MF", cls, "a/B.class"]
        assert jar.read(cls) == b"new"
        assert jar.read("a/B.class") == b"b"
        kinds = [info.compress_type for info in jar.infolist()]
    assert kinds == [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_DEFLATED]
    assert not list(tmp_path.glob("*.partial"))


def test_rewrite_refuses_a_class_the_jar_lacks(tmp_path: Path) -> None:
    original = _jar(tmp_path / "in.jar", {"a/B.class": b"b"})
    out = tmp_path / "out.jar"
    with pytest.raises(bl.PatchError, match="missing"):
        bl.rewrite_jar(original, {bl.PACKAGE + "ServerFactory.class": b"new"}, out)
    assert not out.exists()


def test_build_does_nothing_while_the_patched_jar_is_fresh(tmp_path: Path) -> None:
    """No mvn, javac or javap is run: a fresh jar is returned as it is."""
    pyflink = tmp_path / "pyflink"
    (pyflink / "opt").mkdir(parents=True)
    original = _jar(pyflink / "opt" / "flink-python-2.2.1.jar", {"a/B.class": b"b"})
    out = bl.patched_path(original, tmp_path / "jars")
    out.parent.mkdir()
    out.write_bytes(b"patched")
    os.utime(original, (1_000, 1_000))
    assert bl.build(pyflink, tmp_path / "jars") == out
    assert out.read_bytes() == b"patched"


def _fake_pyflink(layout: Layout) -> Path:
    """The parts of the apache-flink wheel that flink_conf reads, with an opt/flink-python jar."""
    pyflink = layout.flink_venv / "lib" / "python3.11" / "site-packages" / "pyflink"
    for folder in ("conf", "lib", "opt"):
        (pyflink / folder).mkdir(parents=True)
    (pyflink / "conf" / "config.yaml").write_text("env:\n  java:\n    opts:\n      all: --add-exports=x\n")
    (pyflink / "lib" / "flink-dist-2.2.1.jar").touch()
    (pyflink / "opt" / "flink-python-2.2.1.jar").touch()
    return pyflink


def test_flink_lib_links_the_patched_jar_in_place_of_the_wheels(tmp_path: Path) -> None:
    settings = StackSettings(home=tmp_path)  # type: ignore[call-arg]
    layout = Layout.of(settings)
    _fake_pyflink(layout)
    patched = bl.jars_dir(layout) / "flink-python-2.2.1+beam-loopback.jar"
    patched.parent.mkdir(parents=True)
    patched.touch()
    configs.flink_conf(settings, layout)
    links = {path.name: path.resolve() for path in layout.flink_lib.iterdir()}
    assert links == {"flink-dist-2.2.1.jar": links["flink-dist-2.2.1.jar"],
                     patched.name: patched.resolve()}


def test_flink_lib_falls_back_to_the_wheels_jar_with_a_warning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = StackSettings(home=tmp_path)  # type: ignore[call-arg]
    layout = Layout.of(settings)
    pyflink = _fake_pyflink(layout)
    with caplog.at_level(logging.WARNING, logger=bl.__name__):
        configs.flink_conf(settings, layout)
    assert (layout.flink_lib / "flink-python-2.2.1.jar").resolve() == \
        (pyflink / "opt" / "flink-python-2.2.1.jar").resolve()
    assert "every interface" in caplog.text
    assert "scripts/bootstrap.sh" in caplog.text
