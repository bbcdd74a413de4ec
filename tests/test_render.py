"""`archspec render`: every shipped spec in every format, the structure of the DOT it writes (nodes,
clusters, edges and their labels), the volumes' geometry, collapsing, and the command line's errors."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import graphviz
import pytest

import archspec
from archspec.backends.render import DotNotFound, heat, output_format, to_bytes
from archspec.backends.render_view import PALETTE, build_view
from archspec.backends.render_volumes import parallelogram
from archspec.cli import main
from archspec.diagnostics import SpecError

SPECS = sorted((Path(archspec.__file__).parent / "specs").rglob("*.arch"))
SVG = "{http://www.w3.org/2000/svg}"

RESIDUAL = """network toy:
    input 3x32x32
    block res(c):
        add:
            branch: conv c 3x3 pad=1; bn; relu
            branch: identity
    conv 64 3x3 pad=1 relu
    res(64)
    res(64)
    res(64)
    concat:
        branch: conv 64 1x1 relu
        branch:
            conv 96 1x1 relu
            conv 128 3x3 pad=1 relu
    gap
    dense 10
"""


# -- a small reader of the DOT that python-graphviz writes -------------------------------------------

_ID = r'"(?:[^"\\]|\\.)*"|[\w.~]+'


def _attrs(text: str) -> dict[str, str]:
    """key=value pairs: values quoted, bare, or HTML-like (`<...>`, nested to any depth)."""
    out, i = {}, 0
    while m := re.compile(r"\s*(\w+)=").match(text, i):
        i = m.end()
        if text.startswith("<", i):
            depth, j = 0, i
            while True:
                depth += {"<": 1, ">": -1}.get(text[j], 0)
                j += 1
                if depth == 0:
                    break
            out[m.group(1)], i = text[i + 1:j - 1], j
        elif text.startswith('"', i):
            v = re.compile(r'"((?:[^"\\]|\\.)*)"').match(text, i)
            assert v is not None
            out[m.group(1)], i = v.group(1), v.end()
        else:
            v = re.compile(r"[^\s\]]+").match(text, i)
            assert v is not None
            out[m.group(1)], i = v.group(0), v.end()
    return out


def _unq(s: str) -> str:
    return s[1:-1] if s.startswith('"') else s


class Dot:
    """Nodes (with attributes and their cluster path), edges (with attributes), clusters (with labels)."""

    def __init__(self, source: str) -> None:
        self.nodes: dict[str, dict[str, str]] = {}
        self.where: dict[str, list[str]] = {}
        self.edges: list[tuple[str, str, dict[str, str]]] = []
        self.clusters: dict[str, dict[str, str]] = {}
        self.graph: dict[str, str] = {}
        stack: list[str] = []
        for line in source.splitlines()[1:]:
            s = line.strip()
            if m := re.fullmatch(rf"subgraph ({_ID}) {{", s):
                stack.append(_unq(m.group(1)))
                if stack[-1].startswith("cluster"):
                    self.clusters[stack[-1]] = {}
            elif s == "}":
                if stack:
                    stack.pop()
            elif m := re.fullmatch(rf"({_ID}) -> ({_ID})(?: \[(.*)\])?", s):
                self.edges.append((_unq(m.group(1)), _unq(m.group(2)), _attrs(m.group(3) or "")))
            elif s.startswith(("node [", "edge [", "graph [")):
                continue
            elif m := re.fullmatch(rf"({_ID}) \[(.*)\]", s):
                name = _unq(m.group(1))
                self.nodes[name] = _attrs(m.group(2))
                self.where[name] = [c for c in stack if c.startswith("cluster")]
            elif "=" in s:
                target = self.clusters.get(stack[-1]) if stack and stack[-1].startswith("cluster") else self.graph
                if target is not None:
                    target.update(_attrs(s))

    def labelled(self, text: str) -> list[str]:
        return [n for n, a in self.nodes.items() if text in _plain(a.get("label", ""))]

    def edge(self, src: str, dst: str) -> dict[str, str]:
        hits = [a for s, d, a in self.edges if s == src and d == dst]
        assert len(hits) == 1, (src, dst, hits)
        return hits[0]


def _shown(attrs: dict[str, str]) -> str:
    """The shape an edge prints (an empty label, which only steers dot's ordering, prints none)."""
    return attrs.get("label", "").strip()


def _plain(label: str) -> str:
    return re.sub(r"<[^>]*>", " ", label)


def dot(spec, **kw) -> Dot:
    g = archspec.render(spec, **kw)
    assert isinstance(g, graphviz.Digraph)
    return Dot(g.source)


# -- every shipped spec --------------------------------------------------------------------------

@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_every_spec_renders(path):
    a = archspec.analyze(path)
    for style in ("graph", "volumes"):
        g = archspec.render(a, style=style, depth=None if style == "volumes" or len(a.graph) < 300 else 2)
        root = ET.fromstring(to_bytes(g, "svg"))
        assert root.tag == SVG + "svg"
        assert root.findall(f".//{SVG}g[@class='node']")
        assert to_bytes(g, "dot").decode().startswith("digraph")
        assert to_bytes(g, "png")[:4] == b"\x89PNG"
        assert to_bytes(g, "pdf")[:4] == b"%PDF"


@pytest.mark.parametrize(("spec", "style", "fmt", "magic"), [
    ("lenet5", "graph", "png", b"\x89PNG"), ("vgg16", "volumes", "png", b"\x89PNG"),
    ("lenet5", "volumes", "pdf", b"%PDF"), ("resnet", "graph", "pdf", b"%PDF"),
])
def test_png_and_pdf(spec, style, fmt, magic):
    assert to_bytes(archspec.render(spec, style=style, depth=1), fmt)[:4] == magic


# -- the graph view's structure ---------------------------------------------------------------------

def test_lenet5_nodes_edges_and_folded_activations():
    d = dot("lenet5")
    kinds = [_plain(a["label"]).split()[0] for n, a in d.nodes.items()]
    assert kinds == ["input", "conv", "avgpool", "conv", "avgpool", "conv", "flatten", "dense", "dense", "output"]
    assert not d.labelled("tanh ") or all("conv" in _plain(d.nodes[n]["label"]) or "dense" in _plain(d.nodes[n]["label"])
                                          for n in d.labelled("tanh"))
    assert "conv 6 5×5 + tanh" in " ".join(_plain(d.nodes["conv1"]["label"]).split())
    assert "6×28×28" in _plain(d.nodes["conv1"]["label"])
    assert "dense 10 + softmax" in " ".join(_plain(d.nodes["dense2"]["label"]).split())
    # each shape is printed once, in its box (issue 16): no edge repeats it, and the output box shows
    # none (its tensor is the one in the box before it)
    assert not any(_shown(a) for _, _, a in d.edges)
    assert _plain(d.nodes["output__out"]["label"]).split() == ["output"]
    assert "1×32×32" in _plain(d.nodes["input"]["label"]) and "120×1×1" in _plain(d.nodes["conv3"]["label"])
    assert len(d.edges) == 9 and not d.clusters
    assert d.nodes["conv1"]["fillcolor"] == PALETTE["conv"] and d.nodes["avgpool1"]["fillcolor"] == PALETTE["pool"]
    assert "lenet5" in _plain(d.graph["label"]) and "convolution" in _plain(d.graph["label"])  # legend under the title


def test_residual_blocks_and_a_concat():
    d = dot(RESIDUAL, wrap=1)
    assert set(d.clusters) == {"cluster_res1", "cluster_res2", "cluster_res3", "cluster_res1.branch1",
                               "cluster_res2.branch1", "cluster_res3.branch1", "cluster_branch1", "cluster_branch2"}
    assert d.clusters["cluster_res2"]["label"] == "<B>res(64)</B>"
    assert d.where["res2.branch1.conv1"] == ["cluster_res2", "cluster_res2.branch1"]
    assert d.where["res2.add1"] == ["cluster_res2"]
    assert not [n for n in d.nodes if "identity" in n]  # the shortcut is an edge
    assert d.nodes["res2.add1"]["shape"] == "circle" and d.nodes["res2.add1"]["label"] == "+"
    # a merge circle prints no shape: one edge out of it does (along the main path), the skip does not
    assert d.edge("res1.add1", "res2.branch1.conv1")["label"].strip() == "64×32×32"
    assert not _shown(d.edge("res1.add1", "res2.add1"))
    assert not _shown(d.edge("res2.branch1.relu1", "res2.add1"))  # the relu's box prints its shape
    assert "64×32×32" in _plain(d.nodes["res2.branch1.relu1"]["label"])
    assert {s for s, t, a in d.edges if t == "concat1" and not _shown(a)} == {"branch1.conv1", "branch2.conv2"}
    assert "192×32×32" in _plain(d.nodes["concat1"]["label"])
    # the main path is kept straight: it runs through the longer branch
    assert d.nodes["branch2.conv2"].get("group") == "spine0" and "group" not in d.nodes["branch1.conv1"]


def test_depth_collapses_runs_of_blocks():
    d = dot(RESIDUAL, depth=0, wrap=1)
    blocks = [n for n, a in d.nodes.items() if a.get("shape") == "box3d"]
    assert blocks == ["res1"]
    assert " ".join(_plain(d.nodes["res1"]["label"]).split()).startswith("res(64) ×3 12 layers · 64×32×32")
    assert not any(_shown(a) for _, _, a in d.edges)  # every box prints its shape
    assert set(d.clusters) == {"cluster_branch1", "cluster_branch2"}


def test_resnet152_fits_with_depth_1():
    a = archspec.analyze("resnet", depth=152)
    d = dot(a, depth=1)
    titles = sorted(" ".join(_plain(x["label"]).split()[:3]) for x in d.nodes.values() if x.get("shape") == "box3d")
    assert "bottleneck(256, 1) ×35" in titles and "bottleneck(256, 2) 12" in titles
    assert len(d.nodes) < 25 and len(d.clusters) == 4
    assert d.clusters["cluster_stage3"]["label"] == "<B>stage(256, 36, 2)</B>"


def test_expand_one_block():
    d = dot("resnet", depth=0, expand=["stage3.bottleneck2"])
    assert "cluster_stage3" in d.clusters and "cluster_stage3.bottleneck2" in d.clusters
    assert "cluster_stage3.bottleneck2.residual" in d.clusters
    assert d.where["stage3.bottleneck2.add1"] == ["cluster_stage3", "cluster_stage3.bottleneck2"]
    boxes = {n: " ".join(_plain(a["label"]).split()) for n, a in d.nodes.items() if a.get("shape") == "box3d"}
    assert boxes["stage3.bottleneck1"].startswith("bottleneck(256, 2) 12 layers")
    assert boxes["stage3.bottleneck3"].startswith("bottleneck(256, 1) ×4")
    assert boxes["stage2"].startswith("stage(128, 4, 2)")
    # a block name opens every instance
    d = dot("googlenet", depth=0, expand=["inception"])
    assert "cluster_inception4a" in d.clusters and "cluster_aux1" not in d.clusters


def test_frozen_blocks():
    d = dot("vgg16_transfer", params={"frozen_stages": 4}, depth=0)
    text = {n: " ".join(_plain(a["label"]).split()) for n, a in d.nodes.items() if a.get("shape") == "box3d"}
    assert text["stage4"] == "stage(512, 3) 4 layers · 512×9×9 frozen" and "dashed" in d.nodes["stage4"]["style"]
    assert text["stage5"] == "stage(512, 3) 4 layers · 512×4×4"  # not grouped with the frozen stage 4


def test_unknown_expand_and_negative_depth():
    with pytest.raises(SpecError) as e:
        archspec.render("resnet", expand=["stage9"])
    assert e.value.diagnostic.code == "E200" and "stage" in (e.value.diagnostic.hint or "")
    with pytest.raises(SpecError):
        archspec.render("lenet5", depth=-1)


def test_costs_and_rankdir():
    d = dot("vgg16", costs="macs", rankdir="LR")
    assert d.graph["rankdir"] == "LR"
    label = " ".join(_plain(d.nodes["stage1.conv2"]["label"]).split())
    assert "36.9 K params · 1.85 G MACs" in label
    assert d.nodes["stage1.conv2"]["fillcolor"] == heat(1, 1)  # the heaviest layer: the end of the scale
    assert d.nodes["stage1.maxpool1"]["fillcolor"] == "#ffffff"  # no MACs
    assert d.nodes["stage1.conv1"]["color"] == PALETTE["conv"]  # the category stays on the border
    assert "MACs" in _plain(d.graph["label"])  # the legend's scale
    d = dot("vgg16", costs="params", legend=False, edge_labels=False, title="VGG")
    assert "convolution" not in _plain(d.graph["label"]) and not any(_shown(a) for _, _, a in d.edges)
    assert d.nodes["dense1"]["fillcolor"] == heat(1, 1) and "VGG" in _plain(d.graph["label"])
    assert "label" not in dot("vgg16", legend=False, title=False).graph


def test_auxiliary_heads_branch_off_the_straight_main_path():
    d = dot("googlenet", depth=0)
    spine = [n for n, a in d.nodes.items() if a.get("group", "").startswith("spine")]
    assert "inception4e" in spine and "output__out" in spine
    assert "aux1" not in spine and "output__aux1" in d.nodes
    # an auxiliary head stays in the row (column) of the block it leaves from
    assert d.nodes["aux1"].get("group") is None
    assert "512×14×14" in _plain(d.nodes["inception4a"]["label"]) and not _shown(d.edge("inception4a", "aux1"))


def test_view_model():
    v = build_view(archspec.analyze(RESIDUAL).graph)
    assert [v.boxes[b].title for b in v.main_path()][:3] == ["input", "conv", "conv"]
    assert v.box_of("res1.relu1") is None or v.box_of("res1.branch1.relu1") is not None


# -- the volumes view -------------------------------------------------------------------------------

def test_vgg16_volumes():
    d = dot("vgg16", style="volumes")
    fronts = [n for n in d.nodes if n.endswith("_front")]
    assert len(fronts) == 1 + 13 + 5 + 3  # input, convolutions, pools, dense layers
    assert all(d.nodes[n.replace("_front", "_top")]["shape"] == "polygon" for n in fronts if "dense" not in n)
    labels = [" ".join(_plain(a["label"]).split()) for n, a in d.nodes.items() if n.startswith("label")]
    assert labels[:3] == ["input 3×224×224", "conv 64 3×3 ×2 64×224×224", "maxpool 2 64×112×112"]
    assert labels[-2:] == ["dense 4096 ×2 4096", "dense 1000 1000"]
    w = {n: float(d.nodes[n]["width"]) for n in fronts}
    h = {n: float(d.nodes[n]["height"]) for n in fronts}
    assert w["v_input_front"] > w["v_stage5_conv1_front"] > 0 and h["v_stage1_conv1_front"] > h["v_stage3_conv1_front"]
    assert all(a.get("pos", "").endswith("!") for n, a in d.nodes.items() if n.startswith("v_"))


def test_volumes_refuse_graph_options():
    with pytest.raises(SpecError) as e:
        archspec.render("lenet5", style="volumes", costs="macs")
    assert e.value.diagnostic.code == "E202" and "graph style" in e.value.diagnostic.message


def test_branching_networks_draw_stage_outputs():
    labels = [" ".join(_plain(a["label"]).split()) for n, a in dot("resnet", style="volumes").nodes.items()
              if n.startswith("label")]
    assert labels[3:7] == ["stage(64, 3, 1) 256×56×56", "stage(128, 4, 2) 512×28×28",
                           "stage(256, 6, 2) 1024×14×14", "stage(512, 3, 2) 2048×7×7"]
    d = dot("unet", style="volumes")
    skips = [(s, t) for s, t, a in d.edges if a.get("style") == "dashed"]
    assert len(skips) == 4 and ("skip_e4_twice1_conv2__up1_0", "skip_e4_twice1_conv2__up1_1") in skips


def _polygons(svg: bytes) -> dict[str, list[tuple[float, float]]]:
    out = {}
    for g in ET.fromstring(svg).iter(SVG + "g"):
        title, poly = g.find(SVG + "title"), next(g.iter(SVG + "polygon"), None)
        if g.get("class") == "node" and title is not None and poly is not None:
            out[title.text or ""] = [tuple(map(float, p.split(","))) for p in (poly.get("points") or "").split()]
    return out


@pytest.mark.parametrize("spec", ["alexnet", "vgg16", "resnet", "unet", "mnist_mlp"])
def test_volume_faces_meet_without_seams(spec):
    polys = _polygons(to_bytes(archspec.render(spec, style="volumes"), "svg"))
    checked = 0
    for name, front in polys.items():
        if not name.endswith("_front") or name.replace("_front", "_top") not in polys:
            continue
        xs, ys = [p[0] for p in front], [p[1] for p in front]
        top_left, top_right, bottom_right = (min(xs), min(ys)), (max(xs), min(ys)), (max(xs), max(ys))
        top, side = polys[name.replace("_front", "_top")], polys[name.replace("_front", "_side")]
        for corner, face in ((top_left, top), (top_right, top), (top_right, side), (bottom_right, side)):
            assert min(max(abs(corner[0] - x), abs(corner[1] - y)) for x, y in face) < 0.15, (name, corner, face)
        checked += 1
    assert checked >= 3


def test_parallelogram_matches_graphviz():
    # a thin top face (a 3-channel input seen from above), a wide one, a side face
    for u, v in (((20.0, 0.0), (30.0, 30.0)), ((100.0, 0.0), (6.0, 6.0)), ((0.0, 60.0), (25.0, 25.0)),
                 ((37.0, 0.0), (39.56, 39.56))):
        p = parallelogram(u, v)
        assert p is not None
        g = graphviz.Digraph(engine="neato")
        g.attr(inputscale="72")
        g.node("p", label="", shape="polygon", sides="4", skew=str(p.skew), orientation=str(p.orientation),
               fixedsize="true", regular="false", width=str(p.width / 72), height=str(p.height / 72), pos="100,100!")
        pts = _polygons(g.pipe(format="svg"))["p"][:4]
        cx, cy = sum(x for x, _ in pts) / 4, sum(y for _, y in pts) / 4
        want = [(sx * u[0] / 2 + sy * v[0] / 2, -(sx * u[1] / 2 + sy * v[1] / 2)) for sx in (1, -1) for sy in (1, -1)]
        for x, y in pts:
            assert min(abs(x - cx - a) + abs(y - cy - b) for a, b in want) <= 2 * p.error + 0.05, (u, v, pts, want)
    assert parallelogram((5.0, 0.0), (60.0, 60.0)) is None  # graphviz cannot shear that far


# -- the command line -------------------------------------------------------------------------------

def test_cli_formats(tmp_path, capsys):
    for name in ("net.svg", "net.png", "net.pdf", "net.dot", "net.gv"):
        assert main(["render", "lenet5", "-o", str(tmp_path / name)]) == 0
    ET.parse(tmp_path / "net.svg")
    assert (tmp_path / "net.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "net.pdf").read_bytes()[:4] == b"%PDF"
    assert (tmp_path / "net.dot").read_text().startswith("digraph lenet5")
    assert main(["render", "vgg16", "--style", "volumes", "--format", "svg", "-o", str(tmp_path / "v.picture")]) == 0
    ET.parse(tmp_path / "v.picture")
    capsys.readouterr()
    assert main(["render", "resnet", "--set", "depth=18", "--depth", "1", "--format", "dot", "--rankdir", "LR",
                 "--costs", "params", "--expand", "stage2.basic1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("digraph resnet") and "rankdir=LR" in out and "cluster_stage2.basic1" in out
    assert not list(Path.cwd().glob("resnet.*"))


def test_cli_format_errors(tmp_path, capsys):
    assert main(["render", "lenet5", "-o", str(tmp_path / "x.jpeg")]) == 2
    assert "E202" in capsys.readouterr().err
    with pytest.raises(SpecError):
        output_format("x.bmp", None)
    assert output_format(None, None) == "svg" and output_format("x.GV", None) == "dot"


def test_cli_spec_with_an_error_renders_nothing(tmp_path, capsys):
    spec = tmp_path / "bad.arch"
    spec.write_text("network bad:\n    input 3x8x8\n    conv 16 11x11\n")
    out = tmp_path / "bad.svg"
    assert main(["--no-color", "render", str(spec), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "E300" in err and "bad.arch:3" in err
    assert not out.exists()


def test_cli_without_the_dot_program(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    out = tmp_path / "net.svg"
    assert main(["render", "lenet5", "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "apt-get install graphviz" in err and "brew install graphviz" in err
    assert not out.exists()
    assert main(["render", "lenet5", "-o", str(tmp_path / "net.dot")]) == 0  # DOT text needs no program
    assert (tmp_path / "net.dot").read_text().startswith("digraph")
    with pytest.raises(DotNotFound):
        to_bytes(archspec.render("lenet5"), "png")


def test_rendering_does_not_import_torch():
    import subprocess
    import sys

    code = ("import sys, archspec; from archspec.backends.render import to_bytes; "
            "to_bytes(archspec.render('resnet', depth=1), 'svg'); "
            "to_bytes(archspec.render('vgg16', style='volumes'), 'svg'); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
