"""Security (issue 7): a spec is data. Nothing in a spec, a YAML file, a `--set` value, a name or a
checkpoint can run code, read arbitrary files or reach Python objects.

- arithmetic is evaluated by archspec's own evaluator: no `eval`/`exec`, no attribute access, a fixed
  table of functions;
- YAML is composed with the safe loader, and any tag (`!!python/object`, ...) or alias is a diagnostic;
- `use` resolves relative to the spec's folder, reads spec files only, and reports missing or cyclic files;
- generated PyTorch code cannot be injected into by names, strings or numbers of a spec;
- checkpoints load with `weights_only=True`.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from fuzz_helpers import ROOT, analyse_text, check_cli

import archspec
from archspec.diagnostics import SpecError
from archspec.lang.expr import FUNCTIONS

NET = "network n:\n    input 3x8x8\n"
PACKAGE = ROOT / "archspec"


def _code(text: str, name: str = "<sec>") -> str:
    out = analyse_text(text, name)
    assert isinstance(out, SpecError), f"accepted: {text!r}"
    return out.diagnostic.code


# -- our own evaluator ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("expr", "code"), [
    ('__import__("os")', "E205"),
    ('__import__("os").system("touch PWNED")', "E100"),
    ("().__class__", "E100"),
    ("().__class__.__bases__[0].__subclasses__()", "E100"),
    ("x.y", "E100"),
    ("channels.real", "E100"),
    ('eval("1")', "E205"),
    ('exec("import os")', "E205"),
    ('open("/etc/passwd")', "E205"),
    ('getattr(1, "real")', "E205"),
    ('globals()', "E205"),
    ("lambda: 1", "E100"),
    ("[x for x in range(3)]", "E202"),  # the language's own comprehension (issue 13): a tuple, not a conv width
    ("[x.__class__ for x in range(3)]", "E100"),
    ("[c for c in ().__class__.__bases__]", "E100"),
    ("[__import__ for x in range(3)][0]", None),  # a bare name again, never Python's
    ('[open("PWNED", "w") for x in range(3)]', "E205"),
    ("(yield)", None),
    ('"{0.__class__}".format(1)', "E100"),
    ('"%s" % 1', "E206"),
    ("print(1)", "E205"),
    ("type(1)", "E205"),
    ("__builtins__", None),  # a bare name: not a parameter, so a tensor name or keyword, never Python's
    ("__class__", None),
])
def test_expressions_cannot_reach_python(expr: str, code: str | None) -> None:
    marker = Path("PWNED")
    got = _code(NET + f"    let a = {expr}\n    conv a 3x3\n")
    assert code is None or got == code
    assert not marker.exists()


def test_the_functions_are_a_fixed_table() -> None:
    documented = {"min", "max", "abs", "int", "round", "float", "floor", "ceil", "len", "sum", "range",
                  "make_divisible", "log", "zip", "enumerate"}
    assert set(FUNCTIONS) == documented
    for name in ("eval", "exec", "compile", "open", "getattr", "__import__", "globals", "type"):
        assert name not in FUNCTIONS


def test_set_values_go_through_the_same_evaluator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for value in ['__import__("os").system("touch PWNED")', "().__class__", 'open("x", "w")',
                  "exec('open(\"PWNED\", \"w\")')"]:
        rc, _, err = check_cli(["--no-color", "analyze", "resnet", "--set", f"depth={value}"])
        assert rc == 2 and "error[E" in err
    assert not (tmp_path / "PWNED").exists() and not (tmp_path / "x").exists()


def _calls(tree: ast.AST) -> list[tuple[str, ast.Call]]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.id if isinstance(f, ast.Name) else f"{ast.unparse(f.value)}.{f.attr}" if isinstance(
                f, ast.Attribute) else ""
            out.append((name, node))
    return out


def test_no_eval_or_exec_of_spec_text_anywhere_in_archspec() -> None:
    """`exec` appears once: the compiler runs the code it generated (its names sanitised, its values
    written with `repr`); `eval`, `compile` of text, unsafe YAML or pickle loading nowhere."""
    allowed_exec = {("pytorch/compile.py", "exec")}
    found = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).as_posix()
        for name, call in _calls(ast.parse(path.read_text(encoding="utf-8"))):
            short = name.rsplit(".", 1)[-1]
            if name in ("eval", "exec", "builtins.eval", "builtins.exec") and (rel, short) not in allowed_exec:
                found.append(f"{rel}:{call.lineno} {name}")
            if name in ("yaml.load", "yaml.unsafe_load", "yaml.full_load", "pickle.load", "pickle.loads",
                        "os.system", "os.popen"):
                found.append(f"{rel}:{call.lineno} {name}")
            if name.endswith(("subprocess.run", "subprocess.Popen")) and any(k.arg == "shell" for k in call.keywords):
                found.append(f"{rel}:{call.lineno} {name} with shell=")
    assert not found, found


def test_every_torch_load_is_weights_only() -> None:
    found = []
    for path in PACKAGE.rglob("*.py"):
        for name, call in _calls(ast.parse(path.read_text(encoding="utf-8"))):
            if name == "torch.load":
                kw = {k.arg: k.value for k in call.keywords}
                ok = isinstance(kw.get("weights_only"), ast.Constant) and kw["weights_only"].value is True
                if not ok:
                    found.append(f"{path.relative_to(PACKAGE)}:{call.lineno}")
    assert not found, f"torch.load without weights_only=True: {found}"


# -- YAML ---------------------------------------------------------------------------------------------

YAML_NET = "network: n\nbody:\n  - input 3x8x8\n"


@pytest.mark.parametrize("item", [
    '  - dense: !!python/object/apply:os.system ["touch PWNED"]\n',
    "  - !!python/object:__main__.Evil {}\n",
    "  - !!python/name:os.system\n",
    '  - !!python/object/new:subprocess.Popen [["touch", "PWNED"]]\n',
    "  - dense: !!binary aGVsbG8=\n",
    "  - dense: !custom 3\n",
    "  - dense: !!set {a, b}\n",
    "  - dense: !!timestamp 2001-12-14\n",
])
def test_yaml_tags_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, item: str) -> None:
    monkeypatch.chdir(tmp_path)
    assert _code(YAML_NET + item, "spec.yaml") == "E110"
    assert not (tmp_path / "PWNED").exists()


def test_yaml_bombs_are_refused() -> None:
    laughs = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(9))
    assert _code(laughs, "bomb.yaml") == "E110"
    assert _code(YAML_NET + "  - let: {a: &x 3}\n  - conv: [*x, 3x3]\n", "alias.yaml") == "E110"


def test_the_yaml_front_uses_the_safe_loader_only() -> None:
    src = (PACKAGE / "lang" / "yaml_front.py").read_text()
    assert "yaml.SafeLoader" in src and "yaml.Loader" not in src.replace("yaml.SafeLoader", "")
    assert "construct_document" not in src and "unsafe" not in src


# -- `use` ----------------------------------------------------------------------------------------------

def test_use_resolves_relative_to_the_specs_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "project" / "lib").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "project" / "lib" / "blocks.arch").write_text("block unit(c):\n    conv c 1x1\n")
    (tmp_path / "project" / "lib" / "more.arch").write_text('use "blocks.arch"\nblock twice(c):\n    unit(c); unit(c)\n')
    (tmp_path / "elsewhere" / "blocks.arch").write_text("block unit(c):\n    conv c 7x7\n")  # a decoy in the cwd
    spec = tmp_path / "project" / "net.arch"
    spec.write_text('use "lib/more.arch"\n' + NET + "    twice(5)\n")
    monkeypatch.chdir(tmp_path / "elsewhere")
    a = archspec.analyze(str(spec))
    assert [r.args for r in a.rows if r.kind == "conv"] == ["5 1×1", "5 1×1"]


def test_use_of_a_missing_file_is_reported_at_the_use(tmp_path: Path) -> None:
    spec = tmp_path / "net.arch"
    spec.write_text('# blocks\nuse "nope.arch"\n' + NET)
    rc, _, err = check_cli(["--no-color", "analyze", str(spec)])
    assert rc == 2 and "error[E500]" in err and "net.arch:2:1" in err


@pytest.mark.parametrize("files", [
    {"a.arch": 'use "a.arch"\n' + NET},
    {"a.arch": 'use "b.arch"\n' + NET, "b.arch": 'use "a.arch"\n'},
    {"a.arch": 'use "b.yaml"\n' + NET, "b.yaml": "use: [c.arch]\n", "c.arch": 'use "sub/../b.yaml"\n'},
])
def test_cyclic_use_is_reported(tmp_path: Path, files: dict[str, str]) -> None:
    (tmp_path / "sub").mkdir()
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    rc, _, err = check_cli(["--no-color", "analyze", str(tmp_path / "a.arch")])
    assert rc == 2 and "error[E501]" in err, err


@pytest.mark.parametrize("target", ["/etc/passwd", "../../../../../../etc/hostname", "secret.txt", "id_rsa",
                                    "std/../../../../../../../etc/passwd", "/dev/zero", "/proc/self/environ"])
def test_use_reads_spec_files_only(tmp_path: Path, target: str) -> None:
    """`use` of a file that is not a spec would parse it and quote its first line in the diagnostic."""
    (tmp_path / "secret.txt").write_text("the secret\n")
    (tmp_path / "id_rsa").write_text("-----BEGIN PRIVATE KEY-----\n")
    spec = tmp_path / "net.arch"
    spec.write_text(f'use "{target}"\n' + NET)
    rc, _, err = check_cli(["--no-color", "analyze", str(spec)], seconds=10)
    assert rc == 2 and "error[E500]" in err
    assert "secret" not in err.replace("secret.txt", "") and "PRIVATE" not in err and "root:" not in err


SHADOW = "root:$6$rounds=5000$SECRETSALT$HASHHASHHASH:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n"
ENVIRON = "SECRET_TOKEN=tok-123456\x00PATH=/usr/bin\x00HOME=/root\x00"
LEAKS = ("root:", "SECRET", "HASH", "daemon", "tok-", "PATH", "/usr/bin", "/secret", "password", "hunter2")


@pytest.mark.parametrize("content", [SHADOW, ENVIRON], ids=["shadow", "environ"])
def test_use_of_a_link_to_a_file_that_is_not_a_spec(tmp_path: Path, content: str) -> None:
    """`blocks.arch` a link to /etc/shadow or /proc/self/environ: the suffix check looked at the link's
    name, and the syntax error quoted the target's first line (password hashes, environment variables)."""
    secret = tmp_path / "private" / "shadow"
    secret.parent.mkdir()
    secret.write_text(content)
    (tmp_path / "blocks.arch").symlink_to(secret)
    spec = tmp_path / "net.arch"
    spec.write_text('use "blocks.arch"\n' + NET)
    rc, _, err = check_cli(["--no-color", "analyze", str(spec)], seconds=10)
    assert rc == 2 and "error[E500]" in err and "net.arch:1:1" in err, err
    assert not any(w in err for w in LEAKS), err


@pytest.mark.parametrize("content", [SHADOW, ENVIRON, "PATH=/usr/bin:/secret/dir\n", "password: hunter2\n"],
                         ids=["shadow", "environ", "env line", "yaml-like"])
@pytest.mark.parametrize("suffix", [".arch", ".yaml", ""])
def test_a_file_that_is_not_a_spec_is_never_quoted(tmp_path: Path, content: str, suffix: str) -> None:
    """A spec file that does not start like a spec (first line not `network`, `block`, `use` or a YAML spec's
    key): the diagnostic gives the place, and no byte of the text (docs/reliability.md)."""
    path = tmp_path / f"given{suffix}"
    path.write_text(content)
    rc, _, err = check_cli(["--no-color", "analyze", str(path)], seconds=10)
    assert rc == 2 and f"given{suffix}:1:" in err, err
    assert not any(w in err for w in LEAKS), err
    # through a link named like a spec, too
    link = tmp_path / "link.arch"
    link.symlink_to(path)
    rc, _, err = check_cli(["--no-color", "analyze", str(link)], seconds=10)
    assert rc == 2 and not any(w in err for w in LEAKS), err


def test_a_spec_is_still_quoted(tmp_path: Path) -> None:
    spec = tmp_path / "net.arch"
    spec.write_text("# a comment first\n" + NET + "    conv 8 3x3 pad=\n")
    rc, _, err = check_cli(["--no-color", "analyze", str(spec)])
    assert rc == 2 and "net.arch:4:" in err and " 4 |     conv 8 3x3 pad=" in err, err


# -- generated code ----------------------------------------------------------------------------------

Q3 = '"' * 3  # a triple quote, which would close a docstring
HOSTILE = "\n".join([
    'network evil(note = "ok"):',
    "    input 3x8x8",
    "    block os(c):",
    "        conv c 3x3 pad=1",
    "    block exec(c):",
    "        os(c)",
    "    block __init__(c):",
    "        exec(c)",
    "    import_ = conv 4 3x3 pad=1",
    "    __class__ = relu",
    "    self = bn",
    "    eval = __init__(4)",
    "    forward = relu",
    "    x = add eval _",
    "    output name='x\"): __import__(\"os\").system(\"touch PWNED\") #'",
    "    output import_ name=\"'''\"",
    f"    output self name='{Q3}; import os; os.system(\"touch PWNED\")'",
]) + "\n"


@pytest.mark.slow  # a fresh process, a whole export or training run: seconds
def test_hostile_names_and_strings_do_not_reach_the_generated_code(tmp_path: Path) -> None:
    """Names, output names and a string parameter (through the API, so it can hold any text) that look
    like code: the generated file, imported and run in a fresh process under an audit hook, starts no
    process, opens nothing for writing and creates no file."""
    torch = pytest.importorskip("torch")
    hostile_note = '"""\nimport os\nos.system("touch PWNED")\n"""\\\n\x00\u2028'
    spec = archspec.load("evil.arch", text=HOSTILE)
    code = archspec.generate_code(spec, note=hostile_note)
    tree = ast.parse(code)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "system":
            raise AssertionError("os.system reached the code:\n" + code)
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            assert all(m.split(".")[0] in ("torch", "typing", "math", "collections") for m in mods), mods
    (tmp_path / "evil_model.py").write_text(code)
    model = archspec.compile(spec, note=hostile_note).eval()
    torch.save(model.state_dict(), tmp_path / "w.pt")
    runner = textwrap.dedent(f"""
        import sys
        import torch
        blocked = ("os.system", "os.exec", "os.posix_spawn", "os.spawn", "subprocess.Popen", "socket.",
                   "os.remove", "os.rename", "shutil.")
        def audit(event, args):
            if event.startswith(blocked):
                raise RuntimeError("blocked " + event)
            if event == "open" and isinstance(args[1], str) and any(m in args[1] for m in "wax+"):
                raise RuntimeError(f"blocked open for writing: {{args[0]}}")
        sys.addaudithook(audit)
        import evil_model
        net = evil_model.{type(model).__name__}().eval()
        net.load_state_dict(torch.load("w.pt", weights_only=True))
        with torch.no_grad():
            y = net(torch.ones(1, 3, 8, 8))
        print(tuple(y.shape))
    """)
    (tmp_path / "run.py").write_text(runner)
    r = subprocess.run([sys.executable, "run.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                       env={**os.environ, "PYTHONPATH": str(tmp_path), "PYTHONDONTWRITEBYTECODE": "1"})
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.strip() == "(1, 4, 8, 8)"
    assert not (tmp_path / "PWNED").exists()
    assert not Path("PWNED").exists()


# -- checkpoints ---------------------------------------------------------------------------------------

class _Evil:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("touch PWNED",))


def test_a_checkpoint_with_code_in_it_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    torch = pytest.importorskip("torch")
    checkpoint = pytest.importorskip("archspec.pytorch.train.checkpoint")
    monkeypatch.chdir(tmp_path)
    torch.save({"model": {"w": torch.zeros(1)}, "extra": _Evil()}, tmp_path / "evil.pt")
    with pytest.raises(SpecError) as e:
        checkpoint.load(tmp_path / "evil.pt")
    assert e.value.diagnostic.code == "E700" and "weights_only" in (e.value.diagnostic.hint or "")
    assert "GLOBAL posix.system" in e.value.diagnostic.message
    assert not (tmp_path / "PWNED").exists()
    (tmp_path / "junk.pt").write_bytes(os.urandom(200))
    with pytest.raises(SpecError):
        checkpoint.load(tmp_path / "junk.pt")


# -- output files (issue 18): never onto an input, never replacing a device, a FIFO, a socket or a link ----------

def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    from archspec.cli import main

    status = main(["--no-color", *argv])
    out, err = capsys.readouterr()
    return status, out, err


SPEC = 'use "lib/blocks.arch"\nnetwork n:\n    input 3x8x8\n    unit(4)\n    flatten\n    dense 2\n'


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "blocks.arch").write_text("block unit(c):\n    conv c 3x3 pad=1 relu\n")
    (tmp_path / "net.arch").write_text(SPEC)
    (tmp_path / "net.yaml").write_text("network: n\nbody:\n  - input 3x8x8\n  - conv 4 3x3\n")
    (tmp_path / "w.pt").write_bytes(b"weights")
    (tmp_path / "d.npz").write_bytes(b"data")
    (tmp_path / "c.json").write_text("{}")
    (tmp_path / "link.txt").symlink_to("net.arch")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(("argv", "what"), [
    (["compile", "net.arch", "-o", "net.arch"], "the spec net.arch"),
    (["analyze", "net.arch", "-o", "net.arch"], "the spec net.arch"),
    (["analyze", "net.arch", "--format", "json", "-o", "./lib/../net.arch"], "the spec net.arch"),
    (["analyze", "net.arch", "-o", "link.txt"], "the spec net.arch"),
    (["render", "net.arch", "--format", "svg", "-o", "net.arch"], "the spec net.arch"),
    (["fmt", "net.arch", "-o", "net.arch"], "the spec net.arch"),
    (["fmt", "net.yaml", "--to", "yaml", "-o", "net.yaml"], "the spec net.yaml"),
    (["compare", "net.yaml", "net.arch", "-o", "net.arch"], "the spec net.arch"),
    (["analyze", "net.arch", "-o", "lib/blocks.arch"], "blocks.arch, a file the spec net.arch uses"),
    (["compile", "net.arch", "-o", "lib/blocks.arch"], "blocks.arch, a file the spec net.arch uses"),
    (["compile", "net.arch", "--init", "w.pt", "-o", "w.pt"], "the checkpoint of --init"),
    (["compile", "net.arch", "--train", "--data", "npz:d.npz", "-o", "d.npz"], "the data (--data)"),
    (["compile", "net.arch", "--train", "--config", "c.json", "-o", "c.json"], "the settings file (--config)"),
])
def test_an_output_onto_an_input_is_refused(project: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
                                            what: str) -> None:
    before = {p: p.read_bytes() for p in project.rglob("*") if p.is_file()}
    status, out, err = _cli(capsys, *argv)
    option, path = argv[-2:]
    assert status == 2 and out == ""
    assert err.startswith(f"error[E511]: {option} {path} is {what}, an input of this command\n"), err
    assert {p: p.read_bytes() for p in project.rglob("*") if p.is_file()} == before
    assert (project / "link.txt").is_symlink()


def test_two_outputs_onto_one_file_are_refused(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = _cli(capsys, "compile", "net.arch", "-o", "m.py", "--onnx", "./m.py")
    assert status == 2
    assert err.startswith("error[E511]: --onnx ./m.py is also the -o output: one would overwrite the other\n")
    assert not (project / "m.py").exists()


def test_the_output_may_share_a_name_with_an_input_elsewhere(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "out").mkdir()
    assert _cli(capsys, "analyze", "net.arch", "-o", "out/net.arch")[0] == 0
    assert (project / "out" / "net.arch").read_text().startswith("n")
    assert (project / "net.arch").read_text() == SPEC


def test_an_output_onto_a_fifo_is_written_into_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json
    import stat
    import threading

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    status, _, err = _cli(capsys, "analyze", "lenet5", "--format", "json", "-o", str(fifo))
    reader.join(timeout=60)
    assert status == 0, err
    assert json.loads(got[0])["totals"]["params"] == 61_706
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert [p.name for p in tmp_path.iterdir()] == ["pipe"]


def test_an_output_onto_a_character_device_writes_into_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A twin of /dev/null made in tmp_path first (where the machine can make one): only once it has
    stayed a device is the real /dev/null used, and then only checked to be the same device after."""
    import stat

    twin = tmp_path / "null"
    try:
        os.mknod(twin, stat.S_IFCHR | 0o666, os.stat("/dev/null").st_rdev)
    except (PermissionError, OSError):
        twin = None  # not root: the real /dev/null cannot be replaced by us either
    if twin is not None:
        assert _cli(capsys, "analyze", "lenet5", "-o", str(twin))[0] == 0
        st = os.lstat(twin)
        assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.stat("/dev/null").st_rdev
        assert [p.name for p in tmp_path.iterdir()] == ["null"]
    real = os.lstat("/dev/null")
    assert stat.S_ISCHR(real.st_mode)
    for argv in (["analyze", "lenet5", "-o"], ["fmt", "lenet5", "-o"], ["render", "lenet5", "--format", "dot", "-o"]):
        status, _, err = _cli(capsys, *argv, "/dev/null")
        assert status == 0, err
        after = os.lstat("/dev/null")
        assert stat.S_ISCHR(after.st_mode) and after.st_rdev == real.st_rdev and after.st_ino == real.st_ino


def test_an_output_onto_a_socket_or_block_device_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import socket
    import stat

    sock = tmp_path / "s.sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(sock))
    s.close()
    status, out, err = _cli(capsys, "analyze", "lenet5", "-o", str(sock))
    assert status == 2 and out == ""
    assert err.startswith(f"error[E512]: cannot write -o {sock}: it is a socket\n")
    assert stat.S_ISSOCK(os.lstat(sock).st_mode)
    block = tmp_path / "disk"
    try:
        os.mknod(block, stat.S_IFBLK | 0o600, os.makedev(7, 200))
    except (PermissionError, OSError):
        return
    status, _, err = _cli(capsys, "fmt", "lenet5", "-o", str(block))
    assert status == 2 and err.startswith(f"error[E512]: cannot write -o {block}: it is a block device\n")
    assert stat.S_ISBLK(os.lstat(block).st_mode)
    from archspec.files import write_atomic

    with pytest.raises(SpecError) as e:  # the library's writer refuses it too
        write_atomic(block, "x")
    assert e.value.diagnostic.code == "E512"


def test_an_output_through_a_symbolic_link_replaces_its_file_and_keeps_the_link(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    (tmp_path / "data").mkdir()
    target = tmp_path / "data" / "real.json"
    target.write_text("old")
    target.chmod(0o640)
    link = tmp_path / "link.json"
    link.symlink_to(target)
    assert _cli(capsys, "analyze", "lenet5", "--format", "json", "-o", str(link))[0] == 0
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert json.loads(target.read_text())["network"] == "lenet5"
    assert target.stat().st_mode & 0o777 == 0o640  # a replaced file keeps its permissions
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["data", "link.json", "real.json"]  # no temporary left
    dangling = tmp_path / "new.json"
    dangling.symlink_to(tmp_path / "data" / "sub" / "made.json")
    assert _cli(capsys, "analyze", "lenet5", "--format", "json", "-o", str(dangling))[0] == 0
    assert dangling.is_symlink() and (tmp_path / "data" / "sub" / "made.json").is_file()


def test_an_output_that_cannot_be_written_is_a_diagnostic(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "file").write_text("x")
    status, _, err = _cli(capsys, "analyze", "lenet5", "-o", str(tmp_path / "file" / "t.txt"))
    assert status == 2 and err == f"error[E513]: cannot write -o {tmp_path / 'file' / 't.txt'}: " \
                                  f"{tmp_path / 'file'} is not a folder\n"


def test_every_output_option_goes_through_the_checked_writer() -> None:
    """Each command's file options are the ones `check_outputs` checks, and the command line writes
    files only through `write_output` (archspec.files.write_atomic)."""
    import argparse

    from archspec import cli

    checked = {"output", "plot", "onnx"}
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    seen = set()
    for name, p in sub.choices.items():
        for action in p._actions:
            if action.metavar == "FILE" and action.dest != "config":  # --config FILE is read
                assert action.dest in checked, f"archspec {name} {action.option_strings}: not checked"
                seen.add((name, action.dest))
    assert {c for c, _ in seen} == {"analyze", "render", "compare", "zoo", "fmt", "compile", "sweep", "import"}
    assert seen >= {("compare", "plot"), ("compile", "onnx")}
    tree = ast.parse(Path(cli.app.__file__).read_text(encoding="utf-8"))
    writes = [(n, c.lineno) for n, c in _calls(tree) if n.endswith(("write_atomic", "write_text", "write_bytes"))
              or (n == "open" and len(c.args) > 1)]
    assert [n for n, _ in writes] == ["write_atomic"], writes  # once, in write_output
@pytest.mark.parametrize("use", ["resume", "evaluate", "init"])
def test_a_checkpoint_with_code_in_it_runs_nothing_in_any_use(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str], use: str) -> None:
    """`--resume`, `archspec evaluate` and `--init` on a checkpoint whose pickle calls os.system, nested
    in an entry (the optimizer's state): refused (E700) before anything is checked, no code run, no
    traceback."""
    torch = pytest.importorskip("torch")
    from archspec.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "n.arch").write_text("network n:\n    input 4\n    dense 2 softmax\n")
    assert main(["train", "n.arch", "--out", "run", "--epochs", "1", "--data", "synthetic:40", "--threads", "1",
                 "--no-progress"]) == 0
    ck = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    ck["optimizer"]["state"][0]["evil"] = _Evil()
    torch.save(ck, tmp_path / "run" / "last.pt")
    capsys.readouterr()
    args = {"resume": ["train", "n.arch", "--out", "run", "--resume"],
            "evaluate": ["evaluate", "n.arch", "run/last.pt"],
            "init": ["train", "n.arch", "--out", "new", "--init", "run/last.pt", "--epochs", "1"]}[use]
    assert main(["--no-color", *args, "--threads", "1"]) == 2
    err = capsys.readouterr().err
    assert "error[E700]: the checkpoint run/last.pt holds objects other than tensors" in err
    assert "Traceback" not in err and not (tmp_path / "PWNED").exists()


def test_dataset_files_are_never_unpickled_or_opened_as_pipes(tmp_path: Path) -> None:
    """An npz of Python objects is refused from its header (allow_pickle=False is never reached), and a
    FIFO among the images is refused before anything opens it (opening it would block)."""
    np = pytest.importorskip("numpy")
    data = pytest.importorskip("archspec.pytorch.train.data")
    np.savez(tmp_path / "objects.npz", x=np.array([_Evil()], dtype=object), y=np.zeros(1))
    with pytest.raises(SpecError) as e:
        data.load(f"npz:{tmp_path / 'objects.npz'}", (4,), classes=2)
    assert e.value.diagnostic.code == "E710" and "Python objects (a pickle)" in e.value.diagnostic.message
    assert not (tmp_path / "PWNED").exists()
    for cls in ("a", "b"):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
    os.mkfifo(tmp_path / "imgs" / "a" / "x.png")
    with pytest.raises(SpecError) as e:
        data.load(f"folder:{tmp_path / 'imgs'}", (1, 8, 8), classes=2)
    assert e.value.diagnostic.code == "E710" and "is a FIFO" in e.value.diagnostic.message
