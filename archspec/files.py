"""Files archspec writes, and the command-line values every command parses (--set, --input).

Below the rest of archspec: it imports only the diagnostics at module level, so that the library
(backends, training) can write files without importing the command line.

`write_atomic` writes a file whole or not at all, and never replaces something that is not a regular
file: a symbolic link is written through (the file it points to is replaced, the link stays), a
character device (`/dev/null`, a terminal) or a FIFO is opened and written, and a folder, a socket or a
block device is refused with a diagnostic. `check_output` is the command line's check before it does
any work: an output that is a folder, a socket or one of the command's own inputs is refused.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from archspec.diagnostics import Diagnostic, SpecError

Shape = tuple[int, ...]


# -- writing ------------------------------------------------------------------------------------------

def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    return "not a regular file"


def _refusal(path: str | Path, mode: int, option: str | None = None) -> SpecError:
    """The diagnostic for an output path that names something archspec does not write into."""
    what = f"{option} {path}" if option else str(path)
    if stat.S_ISDIR(mode):
        return SpecError(Diagnostic("E510", f"cannot write {what}: it is a folder",
                                    expected="a file name", hint=f"name a file in it, e.g. {os.path.join(str(path), 'NAME')}"))
    return SpecError(Diagnostic("E512", f"cannot write {what}: it is {_kind(mode)}",
                                expected="a regular file, a character device such as /dev/null, or a FIFO",
                                hint="write to a file, or to standard output (leave out the option) and redirect it"))


def write_atomic(path: str | Path, data: str | bytes) -> None:
    """Write a file whole or not at all: a temporary file in the same folder, then a rename.

    A symbolic link is followed: its target is replaced atomically and the link stays a link. An
    existing file keeps its permission bits. A character device or a FIFO (nothing to replace) is
    opened and written directly; a folder, socket or block device raises SpecError (E510, E512)."""
    path = Path(path)
    payload = data.encode() if isinstance(data, str) else data
    try:
        st: os.stat_result | None = os.stat(path)  # through symbolic links (/dev/stdout too)
    except (FileNotFoundError, NotADirectoryError):
        st = None
    if st is not None and not stat.S_ISREG(st.st_mode):
        if not (stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode)):
            raise _refusal(path, st.st_mode)
        fd = os.open(path, os.O_WRONLY | getattr(os, "O_NOCTTY", 0))  # no O_CREAT, no O_TRUNC: no new node
        try:
            mode = os.fstat(fd).st_mode
            if not (stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)):  # swapped since the stat: write nothing
                raise _refusal(path, mode)
            with os.fdopen(fd, "wb", closefd=False) as stream:
                stream.write(payload)
        finally:
            os.close(fd)
        return
    target = Path(os.path.realpath(path))  # a link's file is replaced, not the link (a dangling one: created)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
        if st is not None:
            os.chmod(tmp, stat.S_IMODE(st.st_mode))  # replacing a file: keep its permissions
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)  # as `open` would create it (mkstemp makes it private)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them is not there: compare where they would be
        return os.path.realpath(a) == os.path.realpath(b)


def check_output(path: str | Path, option: str, inputs: Iterable[tuple[str | Path, str]] = ()) -> None:
    """Refuse an output path before any work is done: a folder (E510), one of the command's inputs
    (E511: `inputs` are (path, what it is) pairs, e.g. the spec, the files it uses, a checkpoint), or
    a socket or block device (E512)."""
    p = Path(path)
    if str(path) == "":
        raise SpecError(Diagnostic("E510", f"{option} needs a file name, got an empty one", expected="a file name"))
    try:
        st = os.stat(p)
    except OSError:
        st = None
    if st is not None and not (stat.S_ISREG(st.st_mode) or stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode)):
        raise _refusal(path, st.st_mode, option)
    if st is not None and stat.S_ISCHR(st.st_mode):
        return  # /dev/null, a terminal: writing cannot destroy an input
    for q, what in inputs:
        if _same(p, Path(q)):
            raise SpecError(Diagnostic("E511", f"{option} {path} is {what}, an input of this command",
                                       expected="an output file that is not one of the command's inputs",
                                       hint="write to another file (the input would be replaced)"))


# -- command-line values ------------------------------------------------------------------------------

def parse_shape(text: str) -> Shape:
    """`3x224x224` (or `3×224×224`) → (3, 224, 224); ValueError for anything else."""
    try:
        shape = tuple(int(x) for x in text.lower().replace("×", "x").split("x"))
    except ValueError:
        raise ValueError(f"a shape is written like 3x224x224, got {text!r}") from None
    if not shape or min(shape) < 1:
        raise ValueError(f"a shape is positive sizes like 3x224x224, got {text!r}")
    return shape


def parse_inputs(items: Sequence[str]) -> dict[str, Shape] | None:
    """`--input 3x299x299` → {"*": (3, 299, 299)}; `--input image=3x64x64` names one of several inputs."""
    if not items:
        return None
    out: dict[str, Shape] = {}
    for item in items:
        name, eq, shape = item.rpartition("=")
        try:
            out[name if eq else "*"] = parse_shape(shape)
        except ValueError as e:
            raise SpecError(Diagnostic("E202", f"--input: {e}", hint="for example --input 3x299x299")) from None
    return out
