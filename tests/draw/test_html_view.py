"""The interactive HTML view (issue 16): `render -o x.html`, `archspec serve`, the notebook views, and the
page itself in a real browser (Debian's Chromium driven by Playwright; skipped with the reason where no
browser can be installed). Figures come from ../shared/ACCEPTANCE.md or from arithmetic written here."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import graphviz
import pytest

import archspec
from archspec.cli import main
from archspec.diagnostics import SpecError
from archspec.draw.html import ASSETS, HtmlView, human_size, view, view_model
from archspec.draw.render import output_format, to_bytes
from archspec.draw.serve import Watcher, make_server, spec_files

sys.path.insert(0, str(Path(__file__).parents[1]))
import browser as chromium

VGG16_PARAMS, VGG16_MACS = "138,357,544", "15,470,264,320"  # ACCEPTANCE.md
VGG16_DENSE1 = f"{25088 * 4096 + 4096:,}"  # 512×7×7 flattened into 4096 units, with biases: 102,764,544
# ResNet-50's stage2.bottleneck1 (paper variant): 1×1 256→128, 3×3 128→128, 1×1 128→512, projection
# 1×1 256→512, no biases; batch norm's scale and shift after each (128, 128, 512, 512 channels)
RESNET50_B21 = f"{256 * 128 + 9 * 128 * 128 + 128 * 512 + 256 * 512 + 2 * (128 + 128 + 512 + 512):,}"

TOY = """use "blocks.arch"

network toy(width = 32):
    input 3x32x32
    conv width 3x3 pad=1 relu
    twice(width)
    gap
    dense 10
"""
BLOCKS = "block twice(c):\n    conv c 3x3 pad=1 relu\n    conv c 3x3 pad=1 relu\n"
BLOCKS_5X5 = "block twice(c):\n    conv c 3x3 pad=1 relu\n    conv c 5x5 pad=2 relu\n"
TOY_PARAMS = f"{(3 * 9 * 32 + 32) + 2 * (32 * 9 * 32 + 32) + (32 * 10 + 10):,}"  # 19,722
TOY_5X5_PARAMS = f"{(3 * 9 * 32 + 32) + (32 * 9 * 32 + 32) + (32 * 25 * 32 + 32) + (32 * 10 + 10):,}"  # 36,106


def _write(path: Path, text: str) -> None:
    """Write a spec so that a watcher sees a new modification time even within one clock tick."""
    old = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text)
    st = path.stat()
    if st.st_mtime_ns <= old:
        os.utime(path, ns=(st.st_atime_ns, old + 1_000_000))


# -- the file and the model (no browser) -------------------------------------------------------------

def test_render_html_writes_one_page_and_reports_its_size(tmp_path, capsys):
    out = tmp_path / "vgg16.html"
    assert main(["render", "vgg16", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    size = out.stat().st_size
    assert err.strip() == f"wrote {out} ({human_size(size)})"
    assert re.fullmatch(r"\d+ KB|\d+\.\d MB", human_size(size))
    text = out.read_text()
    assert text.startswith("<!doctype html>") and "<title>vgg16  (depth=16, classes=1000)</title>" in text
    # self-contained: nothing that a browser would fetch, and a policy that forbids it
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", text, re.I)
    assert not re.search(r"""url\(\s*["']?(?:https?:)?//|@import|<link\b|<iframe\b""", text, re.I)
    assert "default-src 'none'" in text and "connect-src 'self'" in text


def test_render_html_options_and_refusals(tmp_path, capsys):
    assert output_format("x.html", None) == "html" and output_format("x.HTM", None) == "html"
    assert main(["render", "resnet", "--set", "depth=50", "--format", "html", "--depth", "0",
                 "--expand", "stage2", "-o", str(tmp_path / "r.page")]) == 0
    assert main(["render", "vgg16", "--style", "volumes", "-o", str(tmp_path / "v.html")]) == 2
    assert "error[E202]: --style volumes: the HTML view draws the graph style" in capsys.readouterr().err
    assert not (tmp_path / "v.html").exists()
    with pytest.raises(ValueError, match=r"archspec\.view"):
        to_bytes(archspec.render("lenet5"), "html")


def test_render_is_still_a_digraph_and_view_is_the_page():
    assert isinstance(archspec.render("lenet5"), graphviz.Digraph)
    v = archspec.view("lenet5")
    assert isinstance(v, HtmlView) and v.html.startswith("<!doctype html>")
    frame = v._repr_html_()
    assert frame.startswith('<iframe srcdoc="&lt;!doctype html&gt;') and 'style="width:100%;height:640px' in frame


def test_model_figures_are_the_analysis(tmp_path):
    m = view_model(archspec.analyze("vgg16"))
    assert f"{m['totals']['params']:,}" == VGG16_PARAMS and f"{m['totals']['macs']:,}" == VGG16_MACS
    assert f"{sum(e['p'] for e in m['entries']):,}" == VGG16_PARAMS
    dense1 = next(e for e in m["entries"] if e["name"] == "dense1")
    assert f"{dense1['p']:,}" == VGG16_DENSE1 and dense1["sh"] == "4096" and dense1["kind"] == "dense+relu"
    assert m["sources"][dense1["file"]]["lines"][dense1["line"] - 1].strip().startswith("dense 4096 relu")
    r = view_model(archspec.analyze("resnet", depth=50), depth=1)
    b21 = next(s for s in r["scopes"] if s["id"] == "stage2.bottleneck1")
    assert f"{b21['p']:,}" == RESNET50_B21
    run = next(g for g in r["groups"] if r["scopes"][g["members"][0]]["id"] == "stage3.bottleneck2")
    assert [r["scopes"][i]["id"] for i in run["members"]] == [f"stage3.bottleneck{i}" for i in range(2, 7)]


def test_token_ids_say_their_element_type():
    m = view_model(archspec.analyze("lstm_classifier"))
    kinds = {e["kind"]: e for e in m["entries"]}
    assert kinds["input"]["dt"] == "int64" and kinds["embedding"]["dt"] is None
    rows = archspec.analyze("lstm_classifier").to_dict()["layers"]
    assert [r["dtype"] for r in rows[:2]] == ["int64", "float32"]


def test_unknown_expand_is_the_render_diagnostic():
    with pytest.raises(SpecError) as e:
        view("resnet", expand=["stage9"])
    assert e.value.diagnostic.code == "E200"


def test_vendored_graphviz_is_the_npm_file():
    readme = (ASSETS / "README.md").read_text()
    digest = hashlib.sha256((ASSETS / "graphviz-wasm.js").read_bytes()).hexdigest()
    assert f"sha256 {digest}" in readme


# -- notebooks -----------------------------------------------------------------------------------------

def test_analysis_shows_a_collapsed_html_table():
    a = archspec.analyze("resnet", depth=50)
    h = a._repr_html_()
    main_table = h.split("<details>")[0]
    assert "25,557,032 parameters" in h and "3,857,973,248 MACs" in h
    assert main_table.count("<tr") < 60  # collapsed: the full table is 259 rows
    assert "▸ bottleneck2" in main_table and "a.table(depth=2)" in main_table
    assert "<summary>every layer (188)</summary>" in h
    assert a._repr_markdown_().count("\n| ") < 60
    small = archspec.analyze("lenet5")._repr_html_()
    assert "<details>" not in small and "61,706" in small


@pytest.mark.slow  # imports torch
def test_check_report_shows_itself_as_html():
    pytest.importorskip("torch")
    h = archspec.check("lenet5", cpu=False)._repr_html_()
    assert "✓ lenet5: PyTorch agrees with the analysis" in h
    assert '<td class="n">61,706</td><td class="n">61,706</td>' in h  # ACCEPTANCE.md: LeNet-5, 61,706
    assert "<summary>every layer (" in h


# -- serve (no browser) ----------------------------------------------------------------------------------

def test_watcher_follows_the_spec_and_the_files_it_uses(tmp_path):
    spec, blocks = tmp_path / "net.arch", tmp_path / "blocks.arch"
    _write(spec, TOY)
    _write(blocks, BLOCKS)
    assert spec_files(spec) == [spec.resolve(), blocks.resolve()]
    w = Watcher(spec)
    st = w.state(-1)
    assert st["version"] == 1 and f"{st['model']['totals']['params']:,}" == TOY_PARAMS and st["diagnostic"] is None
    assert w.state(1) is None  # nothing changed
    _write(blocks, BLOCKS_5X5)
    st = w.state(1)
    assert st["version"] == 2 and f"{st['model']['totals']['params']:,}" == TOY_5X5_PARAMS
    _write(spec, TOY + "    conv 7 7x7\n")
    st = w.state(2)
    assert st["model"] is None
    assert st["diagnostic"].splitlines()[:5] == [
        "error[E300]: `conv` needs a C×L or C×H×W or C×D×H×W input, got a flat vector of 10",
        f"  --> {spec}:9:5", "   |", " 9 |     conv 7 7x7", "   |     ^^^^^^^^^^"]
    assert w.model is not None  # the last good version stays
    _write(spec, TOY)
    assert w.state(3)["diagnostic"] is None


def test_server_answers_on_localhost(tmp_path):
    spec = tmp_path / "net.arch"
    _write(spec, TOY)
    _write(tmp_path / "blocks.arch", BLOCKS)
    server = make_server(Watcher(spec), port=0)
    host, port = server.server_address[:2]
    assert host == "127.0.0.1"
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10).read().decode()
        assert 'data-mode="serve"' in page
        st = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/state?since=0", timeout=10).read())
        assert f"{st['model']['totals']['params']:,}" == TOY_PARAMS
        assert urllib.request.urlopen(f"http://127.0.0.1:{port}/state?since=1", timeout=10).status == 204
        with pytest.raises(SpecError) as e:
            make_server(Watcher(spec), port=port)
        assert e.value.diagnostic.code == "E202" and "--port" in e.value.diagnostic.message
    finally:
        server.shutdown()
        server.server_close()


# -- in the browser -------------------------------------------------------------------------------------

needs_browser = pytest.mark.skipif(chromium.why_not() is not None, reason=f"browser tests: {chromium.why_not()}")


@pytest.fixture(scope="module")
def ctx():
    if chromium.why_not():
        pytest.skip(chromium.why_not())
    with chromium.browser() as c:
        yield c


@pytest.fixture
def page(ctx):
    p = ctx.new_page()
    p.errors = []
    p.requests = []
    p.on("pageerror", lambda e: p.errors.append(str(e)))
    p.on("request", lambda r: p.requests.append(r.url))
    yield p
    p.close()


def _open(page, spec, tmp_path, **kw):
    out = tmp_path / "page.html"
    view(spec, **kw).save(out)
    page.goto(out.as_uri())
    chromium.wait_drawn(page, 1)
    return out


def _draws(page) -> int:
    return int(page.evaluate("document.body.dataset.ready"))


_TEXTS = "Array.from(document.querySelectorAll('#diagram g.node')).map(g => [g.id, " \
         "Array.from(g.querySelectorAll('text')).map(t => t.textContent.trim()).join(' ')])"


def _boxes(page) -> list[str]:
    """The drawn boxes' texts, their lines joined by spaces: `conv 256 3×3 pad same + relu 256×56×56`."""
    return [t for _, t in page.evaluate(_TEXTS)]


def _node(page, text):
    """The id of the drawn box whose text contains `text`."""
    key = next((k for k, t in page.evaluate(_TEXTS) if text in t), None)
    assert key, f"no box with {text!r}"
    return key


@pytest.mark.slow  # a real browser
@needs_browser
def test_vgg16_page_diagram_table_and_card(page, tmp_path):
    _open(page, "vgg16", tmp_path)
    assert page.errors == []
    assert all(u.startswith(("file:", "blob:", "data:")) for u in page.requests), page.requests
    figures = page.inner_text("#figures")
    assert f"{VGG16_PARAMS} parameters" in figures and VGG16_MACS in figures
    boxes = _boxes(page)
    assert sum(t.startswith("conv") for t in boxes) == 13 and sum(t.startswith("dense") for t in boxes) == 3
    # a row of the table shows its box and its card
    page.fill("#search", "dense1")
    page.wait_for_function("document.getElementById('count').textContent.startsWith('1 of')")
    page.click("#tspacer .tr")
    page.wait_for_selector("#diagram g.node.sel")
    assert page.inner_text("#card h2") == "dense1"
    card = page.inner_text("#card")
    assert VGG16_DENSE1 in card and "flatten1 25088" in card.split("Output")[0] and "vgg16.arch:" in card
    assert "4096" in page.text_content("#diagram g.node.sel")
    # a box in the diagram shows its row and its card
    page.fill("#search", "")
    page.click("#fit")  # the whole network in the window
    page.click(f"#diagram g#{_node(page, 'conv 256')}")
    assert page.inner_text("#card h2") == "stage3.conv1"
    assert page.inner_text("#tspacer .tr.sel").split()[0] == "conv1"
    # sorting by parameters puts the biggest layer first
    page.click("#thead [data-col=p]")
    assert page.inner_text("#tspacer .tr[data-row='0']").split()[0] == "dense1"
    # shading by parameters: the heaviest box is the reddest, a box without parameters white
    page.select_option("#shade", "params")
    fill = "(id) => getComputedStyle(document.getElementById(id).querySelector('path,polygon')).fill"
    assert page.evaluate(fill, _node(page, "dense 4096")) == "rgb(251, 106, 74)"
    assert page.evaluate(fill, _node(page, "input")) == "rgb(255, 255, 255)"
    assert "parameters (log scale)" in page.inner_text("#ramp")


@pytest.mark.slow  # a real browser
@needs_browser
def test_blocks_open_and_close_on_click(page, tmp_path):
    _open(page, "resnet", tmp_path, params={"depth": 50})
    assert page.eval_on_selector_all("#diagram g.node", "gs => gs.length") == 15
    page.click(f"#diagram g#{_node(page, 'bottleneck(128, 2)')}")
    chromium.wait_drawn(page, 2)
    assert any(t.startswith("conv 128 1×1 /2") for t in _boxes(page))
    assert page.inner_text("#card h2") == "stage2.bottleneck1" and RESNET50_B21 in page.inner_text("#card")
    # its frame closes it again
    page.click("#diagram g.cluster.sel > text")
    chromium.wait_drawn(page, 3)
    assert page.eval_on_selector_all("#diagram g.node", "gs => gs.length") == 15
    # a run of like blocks opens into its blocks, in a frame
    page.click(f"#diagram g#{_node(page, 'bottleneck(256, 1) ×5')}")
    chromium.wait_drawn(page, 4)
    assert sum(t.startswith("bottleneck(256, 1)") for t in _boxes(page)) == 5, _boxes(page)
    assert "bottleneck(256, 1) ×5" in page.text_content("#diagram g.cluster.run")
    assert page.errors == []


@pytest.mark.slow  # a real browser
@needs_browser
def test_serve_redraws_when_the_spec_is_saved(page, tmp_path):
    spec, blocks = tmp_path / "net.arch", tmp_path / "blocks.arch"
    _write(spec, TOY)
    _write(blocks, BLOCKS)
    proc = subprocess.Popen([sys.executable, "-m", "archspec", "serve", str(spec), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/", line).group(0)
        assert "and 1 file it uses" in line
        page.goto(url)
        chromium.wait_drawn(page, 1)
        assert f"{TOY_PARAMS} parameters" in page.inner_text("#figures")
        _write(blocks, BLOCKS_5X5)  # a file the spec uses
        chromium.wait_drawn(page, 2, timeout=20_000)
        assert f"{TOY_5X5_PARAMS} parameters" in page.inner_text("#figures")
        assert any(t.startswith("conv 32 5×5 pad 2") for t in _boxes(page))
        _write(spec, TOY + "    conv 7 7x7\n")  # a mistake: the diagnostic, and the last good diagram beside it
        page.wait_for_selector("#diagnostic:not([hidden])", timeout=20_000)
        shown = page.inner_text("#diagnostic pre")
        assert "error[E300]" in shown and f"{spec}:9:5" in shown and " 9 |     conv 7 7x7\n   |     ^^^^^^^^^^" in shown
        assert page.eval_on_selector_all("#diagram g.node", "gs => gs.length") > 0
        _write(spec, TOY)
        page.wait_for_selector("#diagnostic[hidden]", state="attached", timeout=20_000)
        assert page.errors == []
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()


@needs_browser
@pytest.mark.slow
@pytest.mark.parametrize(("spec", "params", "figures"), [
    ("resnet_cifar", {"n": 200}, ("19,421,274", "2,829,238,912")),  # ResNet-1202, ACCEPTANCE.md
    ("densenet", {"depth": 201}, ("20,013,928", "4,291,365,888")),  # DenseNet-201, ACCEPTANCE.md
])
def test_big_networks_stay_small_on_screen(page, tmp_path, spec, params, figures):
    out = _open(page, spec, tmp_path, params=params)
    assert out.stat().st_size < 2_000_000
    text = page.inner_text("#figures")
    assert all(f in text for f in figures)
    assert page.eval_on_selector_all("#diagram g.node", "gs => gs.length") <= 40
    # show a layer deep inside: only its blocks open, their like neighbours stay runs
    name = "stage3.basic150.relu1" if spec == "resnet_cifar" else "dense_block3.dense_layer40.new.conv2"
    page.evaluate(f"archspecView.select({name!r})")
    chromium.wait_drawn(page, 2)
    assert page.inner_text("#card h2") == name
    assert page.eval_on_selector_all("#diagram g.node", "gs => gs.length") <= 60
    assert page.eval_on_selector_all("#diagram g.node.sel", "gs => gs.length") == 1
    assert page.errors == []


@needs_browser
@pytest.mark.slow
def test_every_shipped_spec_draws(page, tmp_path):
    for path in sorted((Path(archspec.__file__).parent / "specs").rglob("*.arch")):
        a = archspec.analyze(path)
        out = tmp_path / f"{path.stem}.html"
        view(a).save(out)
        page.goto(out.as_uri())
        chromium.wait_drawn(page, 1)
        assert f"{a.totals.params:,} parameters" in page.inner_text("#figures"), path.stem
        assert page.eval_on_selector_all("#diagram g.node", "gs => gs.length") > 1, path.stem
    assert page.errors == []
    assert all(u.startswith(("file:", "blob:", "data:")) for u in page.requests)


def test_human_size():
    assert human_size(412_000) == "412 KB" and human_size(1_234_567) == "1.2 MB" and human_size(10) == "1 KB"
