"""Writing a file whole or not at all (uprez.atomic), on real files, threads and processes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from uprez.atomic import atomic_path, temporary_path, write_bytes_atomic, write_text_atomic

PLUGIN = Path(__file__).resolve().parents[2] / "plugin"


def entries(folder: Path) -> list[str]:
    """Every name in ``folder``, hidden ones too."""
    return sorted(os.listdir(folder))


# -- the temporary name ----------------------------------------------------------------------------


def test_the_temporary_name_is_hidden_beside_the_target_and_ends_in_part(tmp_path: Path) -> None:
    target = tmp_path / "shot_4k.mp4"

    temp = temporary_path(target)

    assert temp.parent == target.parent
    assert temp.name.startswith(".shot_4k.mp4.")
    assert temp.name.endswith(".part")
    assert temp.suffix != target.suffix
    assert f".{os.getpid()}." in temp.name


def test_each_call_gets_a_fresh_temporary_name(tmp_path: Path) -> None:
    target = tmp_path / "a.json"

    names = {temporary_path(target) for _ in range(500)}

    assert len(names) == 500


def test_the_block_is_given_the_temporary_path_and_the_target_appears_only_at_its_end(
    tmp_path: Path,
) -> None:
    target = tmp_path / "out.json"
    with atomic_path(target) as temp:
        assert temp.parent == tmp_path
        assert temp.name.startswith(".") and temp.name.endswith(".part")
        temp.write_text('{"half": ')
        # Half written: nothing at the target yet.
        assert not target.exists()
        assert entries(tmp_path) == [temp.name]
        with temp.open("a") as handle:
            handle.write("1}")
        assert not target.exists()

    assert target.read_text() == '{"half": 1}'
    assert entries(tmp_path) == ["out.json"]


# -- normal ends -----------------------------------------------------------------------------------


def test_write_text_atomic_writes_the_whole_text_in_its_encoding(tmp_path: Path) -> None:
    target = tmp_path / "notes.txt"

    write_text_atomic(target, "café ünïcode\n", encoding="latin-1")

    assert target.read_bytes() == "café ünïcode\n".encode("latin-1")
    assert entries(tmp_path) == ["notes.txt"]


def test_write_text_atomic_defaults_to_utf8(tmp_path: Path) -> None:
    target = tmp_path / "notes.txt"

    write_text_atomic(target, "naïve → ok")

    assert target.read_bytes() == "naïve → ok".encode()


def test_write_bytes_atomic_writes_every_byte(tmp_path: Path) -> None:
    target = tmp_path / "blob.bin"
    data = bytes(range(256)) * 4096  # 1 MiB, every byte value

    write_bytes_atomic(target, data)

    assert target.read_bytes() == data
    assert entries(tmp_path) == ["blob.bin"]


@pytest.mark.parametrize("writer", ["bytes", "text", "path"])
def test_fsync_still_writes_the_file_whole(tmp_path: Path, writer: str) -> None:
    target = tmp_path / "durable.dat"
    if writer == "bytes":
        write_bytes_atomic(target, b"x" * 70_000, fsync=True)
    elif writer == "text":
        write_text_atomic(target, "x" * 70_000, fsync=True)
    else:
        with atomic_path(target, fsync=True) as temp:
            temp.write_bytes(b"x" * 70_000)

    assert target.read_bytes() == b"x" * 70_000
    assert entries(tmp_path) == ["durable.dat"]


def test_fsync_with_a_failing_block_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "durable.dat"
    with pytest.raises(OSError, match="disk full"), atomic_path(target, fsync=True) as temp:
        temp.write_bytes(b"half")
        raise OSError(28, "disk full")

    assert entries(tmp_path) == []


def test_an_existing_target_is_replaced(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    target.write_text("old")

    write_text_atomic(target, "new")

    assert target.read_text() == "new"
    assert entries(tmp_path) == ["state.json"]


@pytest.mark.skipif(sys.platform != "linux", reason="open files keep their inode on Linux")
def test_a_reader_of_the_old_file_keeps_reading_the_old_content(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    old = b"O" * 100_000
    target.write_bytes(old)
    old_inode = target.stat().st_ino

    with target.open("rb") as reader:
        first = reader.read(10)
        write_bytes_atomic(target, b"N" * 50_000)
        rest = reader.read()

    assert first + rest == old
    assert target.read_bytes() == b"N" * 50_000
    # Replaced by a rename, not rewritten in place.
    assert target.stat().st_ino != old_inode


def test_the_block_ending_normally_without_writing_is_an_error_and_leaves_the_old_file(
    tmp_path: Path,
) -> None:
    target = tmp_path / "state.json"
    target.write_text("old")

    with pytest.raises(FileNotFoundError), atomic_path(target):
        pass

    assert target.read_text() == "old"
    assert entries(tmp_path) == ["state.json"]


# -- failures --------------------------------------------------------------------------------------


@pytest.mark.parametrize("existing", [True, False], ids=["old-target", "no-target"])
@pytest.mark.parametrize(
    "error", [ValueError("boom"), OSError(28, "No space left"), KeyboardInterrupt()]
)
def test_a_failing_block_leaves_the_target_as_it_was_and_no_temp_file(
    tmp_path: Path, existing: bool, error: BaseException
) -> None:
    target = tmp_path / "shot.mp4"
    if existing:
        target.write_bytes(b"the old, finished file")
    seen: list[Path] = []

    with pytest.raises(type(error)) as caught, atomic_path(target) as temp:
        seen.append(temp)
        temp.write_bytes(b"half a new fi")
        assert temp.exists()
        raise error

    assert caught.value is error  # the same exception, not a wrapper
    assert not seen[0].exists()
    if existing:
        assert target.read_bytes() == b"the old, finished file"
        assert entries(tmp_path) == ["shot.mp4"]
    else:
        assert entries(tmp_path) == []


def test_a_failure_before_anything_was_written_re_raises_it(tmp_path: Path) -> None:
    target = tmp_path / "shot.mp4"
    error = RuntimeError("before the first byte")

    with pytest.raises(RuntimeError) as caught, atomic_path(target):
        raise error

    assert caught.value is error
    assert entries(tmp_path) == []


def test_write_bytes_atomic_given_no_bytes_leaves_the_old_target(tmp_path: Path) -> None:
    target = tmp_path / "blob.bin"
    target.write_bytes(b"old")

    with pytest.raises(TypeError):
        write_bytes_atomic(target, "not bytes")  # type: ignore[arg-type]

    assert target.read_bytes() == b"old"
    assert entries(tmp_path) == ["blob.bin"]


def test_write_text_atomic_that_cannot_encode_leaves_the_old_target(tmp_path: Path) -> None:
    target = tmp_path / "notes.txt"
    target.write_text("old")

    with pytest.raises(UnicodeEncodeError):
        write_text_atomic(target, "plain, then \u2603", encoding="ascii")

    assert target.read_text() == "old"
    assert entries(tmp_path) == ["notes.txt"]


def test_a_temp_that_cannot_be_removed_does_not_hide_the_original_failure(
    tmp_path: Path,
) -> None:
    target = tmp_path / "out.json"
    error = ValueError("the real failure")

    # The block makes the temporary path a non-empty folder: unlinking it fails (OSError).
    with pytest.raises(ValueError) as caught, atomic_path(target) as temp:
        temp.mkdir()
        (temp / "inside").write_text("x")
        raise error

    assert caught.value is error
    assert not target.exists()


def test_a_missing_folder_fails_and_creates_nothing(tmp_path: Path) -> None:
    target = tmp_path / "absent" / "out.json"

    with pytest.raises(FileNotFoundError):
        write_text_atomic(target, "x")

    assert entries(tmp_path) == []


def test_a_target_with_a_long_but_legal_name_can_be_written(tmp_path: Path) -> None:
    target = tmp_path / ("n" * 240 + ".mp4")
    target.write_bytes(b"old")  # the name itself is fine on this file system

    write_bytes_atomic(target, b"new")

    assert target.read_bytes() == b"new"
    assert entries(tmp_path) == [target.name]


def test_a_replaced_file_keeps_its_permissions(tmp_path: Path) -> None:
    target = tmp_path / "private.json"
    target.write_text("old")
    target.chmod(0o600)

    write_text_atomic(target, "new", fsync=True)

    assert target.read_text() == "new"
    assert target.stat().st_mode & 0o777 == 0o600


# -- two writers at once ---------------------------------------------------------------------------


def test_two_threads_inside_the_block_at_once_use_different_temp_files(tmp_path: Path) -> None:
    target = tmp_path / "shared.bin"
    both_inside = threading.Barrier(2, timeout=10)
    temps: dict[str, Path] = {}
    errors: list[BaseException] = []
    contents = {"a": b"A" * 300_000, "b": b"B" * 300_000}

    def writer(name: str) -> None:
        try:
            with atomic_path(target) as temp:
                temps[name] = temp
                with temp.open("wb") as handle:
                    handle.write(contents[name][:1000])
                    both_inside.wait()  # both hold a half-written temp file now
                    handle.write(contents[name][1000:])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in contents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert errors == []
    assert temps["a"] != temps["b"]
    assert temps["a"].parent == temps["b"].parent == tmp_path
    assert target.read_bytes() in contents.values()
    assert entries(tmp_path) == ["shared.bin"]


def _whole_reads(target: Path, stop: threading.Event, sizes: set[int]) -> list[str]:
    """Read ``target`` until ``stop``; return a description of every read that was not one
    writer's whole content (a single repeated byte of one of ``sizes``)."""
    bad: list[str] = []
    while not stop.is_set():
        try:
            data = target.read_bytes()
        except FileNotFoundError:
            continue
        if len(data) not in sizes or len(set(data)) != 1:
            bad.append(f"{len(data)} bytes of {sorted(set(data))[:4]}")
    return bad


def test_threads_racing_on_one_target_never_leave_a_mix(tmp_path: Path) -> None:
    target = tmp_path / "shared.bin"
    payloads = [bytes([65 + i]) * (200_000 + i * 1000) for i in range(4)]
    stop = threading.Event()
    bad: list[str] = []
    reader = threading.Thread(
        target=lambda: bad.extend(_whole_reads(target, stop, {len(p) for p in payloads}))
    )
    errors: list[BaseException] = []

    def writer(data: bytes) -> None:
        try:
            for _ in range(40):
                write_bytes_atomic(target, data)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    writers = [threading.Thread(target=writer, args=(p,)) for p in payloads]
    reader.start()
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join(30)
    stop.set()
    reader.join(10)

    assert errors == []
    assert bad == []
    assert target.read_bytes() in payloads
    assert entries(tmp_path) == ["shared.bin"]


CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from uprez.atomic import atomic_path

    target, letter, start = Path(sys.argv[1]), sys.argv[2].encode(), float(sys.argv[3])
    size = int(sys.argv[4])
    while time.time() < start:
        time.sleep(0.001)
    for _ in range(30):
        with atomic_path(target) as temp:
            print(temp.name, flush=True)
            with open(temp, "wb") as handle:
                for _ in range(4):
                    handle.write(letter * (size // 4))
    """
)


def test_two_processes_writing_one_target_use_their_own_temps_and_never_mix(
    tmp_path: Path,
) -> None:
    target = tmp_path / "shared.bin"
    sizes = {"A": 400_000, "B": 480_000}
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(PLUGIN), os.environ.get("PYTHONPATH", "")]),
    }
    start = time.time() + 0.5  # both begin writing together, after their start-up
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(target), letter, str(start), str(size)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for letter, size in sizes.items()
    ]
    stop = threading.Event()
    bad: list[str] = []
    reader = threading.Thread(
        target=lambda: bad.extend(_whole_reads(target, stop, set(sizes.values())))
    )
    reader.start()
    outputs = [child.communicate(timeout=15) for child in children]
    stop.set()
    reader.join(10)

    for child, (_, err) in zip(children, outputs, strict=True):
        assert child.returncode == 0, err
    names = [set(out.split()) for out, _ in outputs]
    assert all(len(n) == 30 for n in names)  # a fresh temp name every write
    assert not names[0] & names[1]  # never shared between the processes
    for child, used in zip(children, names, strict=True):
        assert all(f".shared.bin.{child.pid}." in n and n.endswith(".part") for n in used)
    assert bad == []
    final = target.read_bytes()
    assert final in (b"A" * sizes["A"], b"B" * sizes["B"])
    assert entries(tmp_path) == ["shared.bin"]
