"""A copy of the flink-python jar whose Beam gRPC servers listen on loopback only.

While a Python job runs, the TaskManager starts Apache Beam's gRPC servers (control, data, state,
logging, ...) through ``org.apache.beam.sdk.fn.server.ServerFactory``. Its
``InetSocketAddressServerFactory`` allocates a loopback address, then builds
``NettyServerBuilder.forPort(port)``, which binds every interface; no Flink option reaches it.
The class in the jar is flink-python's own copy of Beam's (it allows keep-alive pings every 19 s
where Beam allows 20), so its source comes from flink-python's sources jar, not Beam's.

:func:`build` (run by scripts/bootstrap.sh as ``python -m harness.stack.beam_loopback``):

1. fetches flink-python's sources jar from Maven Central with mvn and extracts ServerFactory.java;
2. compiles it unchanged (javac ``--release`` = the jar's class file version, classpath = the jar)
   and checks that the bytecode equals the jar's, constant pool numbering aside: the sources are
   those of the classes the jar holds, whatever version they were published under;
3. changes the one ``forPort(socket.getPort())`` call to ``forAddress(socket)`` (failing when
   the text is not found exactly once, so that a new version cannot silently skip the patch),
   compiles again and writes the jar with every compiled ``ServerFactory*.class`` replaced to
   ``<home>/jars/flink-python-<version>+beam-loopback.jar``.

The result is cached: nothing is done while the patched jar is newer than the wheel's jar and
this module. harness/stack/configs.py links it into Flink's lib/ in place of the wheel's.
"""

from __future__ import annotations

import argparse
import difflib
import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
import zipfile
from collections.abc import Iterable
from pathlib import Path

from foundation.layout import SYSTEM_PATH, Layout
from foundation.settings import StackSettings

log = logging.getLogger(__name__)

SCRIPT = "scripts/bootstrap.sh (python -m harness.stack.beam_loopback)"
SUFFIX = "+beam-loopback"
PACKAGE = "org/apache/beam/sdk/fn/server/"
SOURCE = PACKAGE + "ServerFactory.java"
CLASS_ENTRY = re.compile(re.escape(PACKAGE) + r"ServerFactory(\$[\w$]+)?\.class")
PATCH_FROM = "NettyServerBuilder.forPort(socket.getPort())"
PATCH_TO = "NettyServerBuilder.forAddress(socket)"
#: flink-python versions whose sources Maven Central does not hold, and the version whose
#: ServerFactory.java compiles to the same bytecode (checked on every build, see the docstring)
SOURCE_VERSIONS = {"2.2.1": "2.2.0"}
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.7.1"


class PatchError(RuntimeError):
    """The jar or its sources are not what the patch expects: nothing was written."""


def flink_python_jar(pyflink: Path) -> Path:
    """The wheel's opt/flink-python-<version>.jar (exactly one)."""
    found = sorted((pyflink / "opt").glob("flink-python-*.jar"))
    if len(found) != 1:
        raise PatchError(f"expected one flink-python jar in {pyflink / 'opt'}, found {found}")
    return found[0]


def jar_version(jar: Path) -> str:
    match = re.fullmatch(r"flink-python-(.+)\.jar", jar.name)
    if match is None:
        raise PatchError(f"not a flink-python jar: {jar.name}")
    return match.group(1)


def jars_dir(layout: Layout) -> Path:
    """The folder of the jars that bootstrap makes (beside jars/kafka and jars/flink)."""
    return layout.home / "jars"


def patched_path(original: Path, folder: Path) -> Path:
    """flink-python-2.2.1.jar -> <folder>/flink-python-2.2.1+beam-loopback.jar"""
    return folder / f"{original.stem}{SUFFIX}.jar"


def lib_jar(original: Path, layout: Layout) -> Path:
    """The jar to put in Flink's lib/ for the wheel's `original` flink-python jar: its patched
    copy when bootstrap made one, else `original` itself (with a warning: the Beam servers of
    every Python job will then listen on all interfaces)."""
    patched = patched_path(original, jars_dir(layout))
    if patched.exists():
        return patched
    log.warning("%s is missing: PyFlink's Beam gRPC servers will listen on every interface; "
                "run %s", patched, SCRIPT)
    return original


def is_fresh(output: Path, inputs: Iterable[Path]) -> bool:
    """True when `output` exists and is at least as new as every input."""
    if not output.exists():
        return False
    built = output.stat().st_mtime
    return all(path.stat().st_mtime <= built for path in inputs)


def patch_source(text: str) -> str:
    """ServerFactory.java with the one wildcard bind turned into a bind to the given address."""
    count = text.count(PATCH_FROM)
    if count != 1:
        raise PatchError(f"expected {PATCH_FROM!r} once in {SOURCE}, found it {count} times: "
                         "the class changed, review the patch (harness/stack/beam_loopback.py)")
    return text.replace(PATCH_FROM, PATCH_TO)


def class_release(data: bytes) -> int:
    """The Java release a class file targets (major version 55 -> 11)."""
    if data[:4] != b"\xca\xfe\xba\xbe":
        raise PatchError("not a class file")
    return int.from_bytes(data[6:8], "big") - 44


def server_factory_entries(jar: zipfile.ZipFile) -> list[str]:
    return [name for name in jar.namelist() if CLASS_ENTRY.fullmatch(name)]


def _tool(name: str) -> str:
    found = shutil.which(name, path=SYSTEM_PATH) or shutil.which(name)
    if found is None:
        raise PatchError(f"{name} not found: bootstrap installs a JDK (openjdk-17-jdk-headless)")
    return found


def _run(command: list[str]) -> str:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise PatchError(f"{' '.join(command[:3])} ... failed ({result.returncode}):\n"
                         + (result.stdout + result.stderr)[-3000:])
    return result.stdout


def fetch_sources(version: str, folder: Path) -> Path:
    """flink-python-<version>-sources.jar, copied into `folder` by mvn from Maven Central."""
    artifact = f"org.apache.flink:flink-python:{version}:jar:sources"
    _run([_tool("mvn"), "-q", "-B", f"{DEPENDENCY_PLUGIN}:copy", f"-Dartifact={artifact}",
          f"-DoutputDirectory={folder}"])
    return folder / f"flink-python-{version}-sources.jar"


def compile_source(source: str, classpath: Path, release: int, folder: Path) -> dict[str, bytes]:
    """Compile ServerFactory.java; its class files by jar entry name."""
    src = folder / "src" / SOURCE
    out = folder / "classes"
    src.parent.mkdir(parents=True)
    src.write_text(source)
    _run([_tool("javac"), "--release", str(release), "-nowarn", "-cp", str(classpath),
          "-d", str(out), str(src)])
    return {path.relative_to(out).as_posix(): path.read_bytes()
            for path in sorted(out.rglob("*.class"))}


def disassembly(classes: dict[str, bytes], folder: Path) -> str:
    """``javap -c -p`` of the classes, without constant pool indices (two compilers number the
    pool differently) and with runs of blanks made one."""
    folder.mkdir(parents=True)
    files = []
    for name, data in sorted(classes.items()):
        path = folder / name.replace("/", "_")
        path.write_bytes(data)
        files.append(str(path))
    text = _run([_tool("javap"), "-c", "-p", *files])
    text = re.sub(r"#\d+(, *\d+)?", "", text)
    return "\n".join(re.sub(r"\s+", " ", line).strip() for line in text.splitlines())


def check_same_bytecode(ours: dict[str, bytes], theirs: dict[str, bytes], folder: Path) -> None:
    """Fail unless the unpatched sources compile to the jar's classes."""
    mine, jar = disassembly(ours, folder / "ours"), disassembly(theirs, folder / "jar")
    if mine != jar:
        diff = "\n".join(list(difflib.unified_diff(jar.splitlines(), mine.splitlines(),
                                                   "jar", "sources", lineterm=""))[:40])
        raise PatchError("the sources do not compile to the jar's ServerFactory classes:\n" + diff)


def rewrite_jar(original: Path, replacements: dict[str, bytes], output: Path) -> None:
    """Copy `original` to `output` with the entries in `replacements` replaced (all must exist),
    entry order and compression kept; written to a temporary file, then renamed."""
    partial = output.with_name(output.name + ".partial")
    with zipfile.ZipFile(original) as src:
        missing = set(replacements) - set(src.namelist())
        if missing:
            raise PatchError(f"compiled classes missing from {original.name}: {sorted(missing)}")
        stamp = time.localtime()[:6]
        try:
            with zipfile.ZipFile(partial, "w") as dst:
                for info in src.infolist():
                    data = replacements.get(info.filename)
                    if data is None:
                        dst.writestr(info, src.read(info))
                    else:
                        entry = zipfile.ZipInfo(info.filename, date_time=stamp)
                        entry.compress_type = info.compress_type
                        entry.external_attr = info.external_attr
                        dst.writestr(entry, data)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    os.replace(partial, output)


def build(pyflink: Path, folder: Path) -> Path:
    """The patched copy of the wheel's flink-python jar in `folder`, built unless fresh."""
    original = flink_python_jar(pyflink)
    output = patched_path(original, folder)
    if is_fresh(output, [original, Path(__file__)]):
        log.debug("%s is up to date", output)
        return output
    started = time.monotonic()
    version = jar_version(original)
    source_version = SOURCE_VERSIONS.get(version, version)
    with zipfile.ZipFile(original) as jar:
        entries = server_factory_entries(jar)
        theirs = {name: jar.read(name) for name in entries}
    if PACKAGE + "ServerFactory.class" not in theirs:
        raise PatchError(f"{original.name} holds no {PACKAGE}ServerFactory.class")
    release = class_release(theirs[PACKAGE + "ServerFactory.class"])
    with tempfile.TemporaryDirectory(prefix="beam-loopback-") as tmp:
        work = Path(tmp)
        with zipfile.ZipFile(fetch_sources(source_version, work)) as sources:
            text = sources.read(SOURCE).decode("utf-8")
        patched = patch_source(text)
        unpatched = compile_source(text, original, release, work / "unpatched")
        extra = set(unpatched) - set(theirs)
        if extra:
            raise PatchError(f"the sources compile to classes the jar lacks: {sorted(extra)}")
        check_same_bytecode(unpatched, {name: theirs[name] for name in unpatched}, work / "javap")
        classes = compile_source(patched, original, release, work / "patched")
        if set(classes) != set(unpatched):
            raise PatchError(f"the patch changed the set of classes: {sorted(classes)}")
        for kept in sorted(set(theirs) - set(classes)):
            # e.g. ServerFactory$1: a synthetic class of Beam's own (Java 8) build, shaded in
            # beside flink-python's copy; harmless while none of the new classes names it
            internal = kept.removesuffix(".class").encode()
            if any(internal in data for data in classes.values()):
                raise PatchError(f"{kept} is not recompiled but a patched class refers to it")
            log.info("kept %s (no compiled class refers to it)", kept)
        folder.mkdir(parents=True, exist_ok=True)
        rewrite_jar(original, classes, output)
    log.info("wrote %s (%d classes from flink-python %s sources, release %d) in %.1f s",
             output, len(classes), source_version, release, time.monotonic() - started)
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness.stack.beam_loopback",
        description="Write the flink-python jar whose Beam gRPC servers bind loopback only "
                    "(into <home>/jars; skipped while up to date).")
    parser.add_argument("--home", type=Path, default=None,
                        help="the state folder (default: HARNESS_HOME or .state)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[beam-loopback] %(message)s")
    layout = Layout(home=args.home.resolve()) if args.home else Layout.of(StackSettings())
    try:
        build(layout.pyflink_dir(), jars_dir(layout))
    except (PatchError, FileNotFoundError) as exc:
        log.error("%s", exc)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
