"""Reading specs: a path, a shipped spec's name, or source text; `.arch` or YAML; `use` imports resolved.

`use "blocks.arch"` resolves relative to the importing file's folder; `use "std/NAME"` names a file of
the standard library shipped in `archspec/stdlib/`. A missing or cyclic import is a diagnostic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

from archspec.diagnostics import Diagnostic, SpecError, remember_source
from archspec.lang import ast

MAX_FILE_BYTES = 2**20  # parsing runs at tens of KB/s at worst (`1+1+...`): 1 MiB is under a minute, 16 MiB was
# a quarter of an hour. The largest shipped spec is 2 KB; `repeat` and blocks make big networks small.
SPEC_SUFFIXES = (".arch", ".yaml", ".yml")


@dataclass
class Source:
    """A spec file with every block it can see: its own and those of the files it uses."""

    spec: ast.SpecFile
    blocks: dict[str, ast.BlockDef] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)  # the files read: the spec's own (if a file) and those it uses


def shipped_specs_dir() -> Path:
    return Path(str(files("archspec").joinpath("specs")))


def stdlib_dir() -> Path:
    return Path(str(files("archspec").joinpath("stdlib")))


def resolve_spec_path(name: str) -> Path | None:
    """A path as given, else a shipped spec by name (`vgg16`, `vgg16.arch`)."""
    if not name.strip():
        return None
    p = Path(name)
    if p.is_file():
        return p
    if not p.is_absolute() and ".." not in p.parts:
        for cand in (p, p.with_name(p.name + ".arch"), p.with_name(p.name + ".yaml")):
            q = shipped_specs_dir() / cand
            if q.is_file():
                return q
    return None


def read_text(path: Path) -> str:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise SpecError(Diagnostic("E600", f"{path} is {size:,} bytes, over the {MAX_FILE_BYTES:,}-byte limit"))
        with path.open("rb") as f:  # a size of 0 can hide an endless file (/proc, a device): read at most the limit
            data = f.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise SpecError(Diagnostic("E600", f"{path} holds more than {MAX_FILE_BYTES:,} bytes, the limit"))
    except IsADirectoryError:
        raise SpecError(Diagnostic("E102", f"{path} is a folder, not a spec file")) from None
    except OSError as e:
        raise SpecError(Diagnostic("E102", f"cannot read {path}: {e.strerror}")) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        col = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        from archspec.diagnostics import Span

        raise SpecError(Diagnostic("E102", f"{path} is not UTF-8 text (byte 0x{data[e.start]:02x})",
                                   Span(str(path), line, col, line, col + 1),
                                   hint="save the spec as UTF-8")) from None


_PARSED: dict[tuple[str, str], ast.SpecFile] = {}  # (name, text) → AST: the AST is immutable
_PARSED_MAX = 256
_PARSED_CHARS = 2**20  # and at most this much source text: an AST weighs some 400 bytes per character


def parse_any(text: str, name: str) -> ast.SpecFile:
    """Parse text as YAML when the name says so (or the text starts like YAML), else as .arch.
    Parses are cached by name and content: analysing the same spec again does not parse it again."""
    key = (name, text)
    hit = _PARSED.get(key)
    if hit is not None:
        remember_source(name, text)
        return hit
    spec = _parse_uncached(text, name)
    if len(text) <= _PARSED_CHARS:
        while _PARSED and (len(_PARSED) >= _PARSED_MAX or
                           sum(len(t) for _, t in _PARSED) + len(text) > _PARSED_CHARS):
            _PARSED.pop(next(iter(_PARSED)))
        _PARSED[key] = spec
    return spec


def _parse_uncached(text: str, name: str) -> ast.SpecFile:
    if len(text) > MAX_FILE_BYTES:
        raise SpecError(Diagnostic("E600", f"{name} is {len(text):,} characters, over the {MAX_FILE_BYTES:,} limit"))
    remember_source(name, text)
    if name.endswith((".yaml", ".yml")) or (not name.endswith(".arch") and _looks_like_yaml(text)):
        from archspec.lang.yaml_front import parse_yaml

        return parse_yaml(text, name)
    from archspec.lang.parser import parse

    return parse(text, name)


_YAML_KEYS = ("network:", "use:", "blocks:", "params:", "body:", "---")


def _looks_like_yaml(text: str) -> bool:
    """The first line that is not blank or a comment starts with a YAML spec's top-level key."""
    for line in text.splitlines():
        s = line.strip()
        if s and not s.startswith("#"):
            return s.startswith(_YAML_KEYS)
    return False


def load_source(spec: str | Path, *, text: str | None = None) -> Source:
    """Load a spec given as a path, a shipped spec's name, or (with `text=`) source text named `spec`."""
    if text is None:
        s = str(spec)
        if "\n" in s:  # source text, not a path
            text, name, path = s, "<string>", None
        else:
            path = resolve_spec_path(s)
            if path is None:
                raise SpecError(_not_found(s))
            text, name = read_text(path), str(path)
    else:
        name, path = str(spec), Path(str(spec)) if Path(str(spec)).exists() else None
    file = parse_any(text, name)
    blocks: dict[str, ast.BlockDef] = {}
    origin: dict[str, str] = {}
    read = [str(path.resolve())] if path else []
    _import(file, path.parent if path else Path.cwd(), blocks, origin, [name], read)
    for b in file.blocks:
        blocks[b.name] = b
    return Source(file, blocks, read)


def _not_found(name: str) -> Diagnostic:
    """E500 for a spec that is neither a file nor a shipped spec, with the closest shipped names."""
    from archspec.diagnostics import did_you_mean

    hint = "give a path to a .arch or .yaml file, or a shipped spec's name (`archspec zoo` lists them)"
    if not name.strip():
        return Diagnostic("E500", "no spec given: the spec's name is empty", hint=hint)
    folder = shipped_specs_dir()
    shipped = [p.stem for p in folder.iterdir() if p.suffix in SPEC_SUFFIXES] if folder.is_dir() else []
    close = did_you_mean(Path(name).stem if name.endswith(SPEC_SUFFIXES) else name, shipped)
    return Diagnostic("E500", f"no spec file `{name}`",
                      hint=f"{close} (`archspec zoo` lists the shipped specs)" if close else hint)


def _import(file: ast.SpecFile, base: Path, blocks: dict[str, ast.BlockDef], origin: dict[str, str],
            stack: list[str], read: list[str] | None = None) -> None:
    for use in file.uses:
        if use.path.startswith("std/"):
            target = stdlib_dir() / use.path[4:]
            if not target.suffix:
                target = target.with_suffix(".arch")
        else:
            target = base / use.path
        if target.suffix.lower() not in SPEC_SUFFIXES:  # not a way to read (and quote) any file on the disk
            raise SpecError(Diagnostic("E500", f"`use` names a spec file, not {use.path}", use.span,
                                       expected="a path ending in " + ", ".join(SPEC_SUFFIXES) + ", or std/NAME",
                                       hint="for example `use \"blocks.arch\"` (relative to this file's folder)"))
        if not target.is_file():
            avail = ", ".join(sorted("std/" + p.stem for p in stdlib_dir().glob("*.arch")))
            raise SpecError(Diagnostic("E500", f"`use` of a file that is not there: {use.path}", use.span,
                                       expected=f"a file relative to {base}, or one of {avail}",
                                       received=str(target)))
        key = str(target.resolve())
        if key in stack:
            chain = " → ".join(Path(s).name for s in [*stack[stack.index(key):], key])
            raise SpecError(Diagnostic("E501", f"cyclic `use`: {chain}", use.span,
                                       hint="move the shared blocks into a third file that both use"))
        sub = parse_any(read_text(target), str(target))
        if read is not None and key not in read:
            read.append(key)
        _import(sub, target.parent, blocks, origin, [*stack, key], read)
        for b in sub.blocks:
            if b.name in blocks and origin[b.name] != key:
                raise SpecError(Diagnostic("E208", f"block `{b.name}` is defined in two used files",
                                           use.span, notes=[f"{origin[b.name]}", f"{key}"]))
            blocks[b.name], origin[b.name] = b, key
