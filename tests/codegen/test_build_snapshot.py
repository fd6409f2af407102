"""Content-addressed build caches compile the bytes they hash (tinyml.build.snapshot).

Before, the host library, the icount firmware and the footprint archive hashed the kernel files
and then compiled them from their places: an edit in between (seen with two engineers in one
checkout) stored a binary built from the new text under the old text's key, and every later build
of the old text got it (a "layout-dependent" wrong ResNet-8 output that was really a stale cache
entry)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tinyml import resources
from tinyml.build import snapshot
from tinyml.codegen.aot import generate, host
from tinyml.model.tflite import parse
from tinyml.profile.variants import variants_graph

pytestmark = pytest.mark.codegen


def test_an_edit_during_a_build_cannot_poison_the_cache(tmp_path: Path, monkeypatch) -> None:
    files = generate(parse(variants_graph(0)[0]), target="host")
    root = tmp_path / "tinyml"
    shutil.copytree(resources.ROOT / "firmware", root / "firmware")
    monkeypatch.setattr(resources, "ROOT", root)
    monkeypatch.setenv("TINYML_CACHE", str(tmp_path / "cache"))
    kernel = root / "firmware" / "src" / "kernels" / "relu.c"
    real_write = snapshot.write

    def edit_then_write(fw: dict[str, bytes], dest: Path) -> Path:
        kernel.write_text("this is not C\n")  # someone saves a half-done edit mid-build
        return real_write(fw, dest)

    monkeypatch.setattr(snapshot, "write", edit_then_write)
    lib = host.build_library(files)  # compiles the text it hashed: the edit does not break it
    monkeypatch.setattr(snapshot, "write", real_write)
    assert lib.exists()
    # the edited tree has another key: it is compiled (and fails), never served the old library
    with pytest.raises(Exception, match="compiling the aot model for the host failed"):
        host.build_library(files)


def test_digest_covers_names_contents_and_flags() -> None:
    a = {"src/a.c": b"int a;\n"}
    assert snapshot.digest(a, "-O2") == snapshot.digest(dict(a), "-O2")
    assert snapshot.digest(a, "-O2") != snapshot.digest(a, "-Os")
    assert snapshot.digest(a) != snapshot.digest({"src/b.c": b"int a;\n"})
    assert snapshot.digest(a) != snapshot.digest({"src/a.c": b"int b;\n"})
