import pytest

from tinyml.errors import ErrorKind, TinymlError
from tinyml.writer import write_file, write_tree

pytestmark = pytest.mark.unit


def test_write_tree_is_atomic_and_refuses_existing(tmp_path):
    dest = tmp_path / "out"
    write_tree(dest, {"a.txt": "x", "sub/b.bin": b"\x00\x01"})
    assert (dest / "a.txt").read_text() == "x"
    assert (dest / "sub/b.bin").read_bytes() == b"\x00\x01"
    with pytest.raises(TinymlError) as e:
        write_tree(dest, {"a.txt": "y"})
    assert e.value.kind is ErrorKind.OUTPUT
    write_tree(dest, {"c.txt": "z"}, force=True)
    assert not (dest / "a.txt").exists() and (dest / "c.txt").read_text() == "z"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temp dirs left behind


def test_write_tree_merge_keeps_other_files(tmp_path):
    write_tree(tmp_path / "o", {"a": "1"})
    write_tree(tmp_path / "o", {"b": "2"}, merge=True)
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["a", "b"]


def test_unwritable_parent_is_a_clean_error():
    # /proc refuses new entries even for root.
    with pytest.raises(TinymlError) as e:
        write_tree("/proc/tinyml-out", {"a": "1"})
    assert e.value.kind is ErrorKind.OUTPUT
    with pytest.raises(TinymlError):
        write_file("/proc/tinyml-out.txt", "x")


def test_missing_parent_is_a_clean_error(tmp_path):
    with pytest.raises(TinymlError) as e:
        write_file(tmp_path / "nope" / "f.txt", "x")
    assert "does not exist" in e.value.message


def test_paths_may_not_escape(tmp_path):
    with pytest.raises(ValueError):
        write_tree(tmp_path / "o", {"../evil": "x"})


def test_files_get_the_usual_permissions(tmp_path):
    import os
    import stat

    mask = os.umask(0o022)
    try:
        f = write_file(tmp_path / "f.txt", "x")
        d = write_tree(tmp_path / "d", {"a": "1"})
    finally:
        os.umask(mask)
    assert stat.S_IMODE(f.stat().st_mode) == 0o644
    assert stat.S_IMODE(d.stat().st_mode) == 0o755
