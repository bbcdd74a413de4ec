"""`archspec render`: every shipped spec in every format, the structure of the DOT it writes (nodes,
clusters, edges and their labels), the volumes' geometry, collapsing, and the command line's errors."""

from __future__ import annotations

import itertools
import math
import re
import shlex
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import graphviz
import pytest

import archspec
from archspec.cli import main
from archspec.diagnostics import SpecError
from archspec.draw.figures import figure
from archspec.draw.fit import parse_aspect, parse_width
from archspec.draw.render import DotNotFound, heat, output_format, to_bytes
from archspec.draw.view import PALETTE, build_view
from archspec.draw.volumes import parallelogram

SPECS = sorted((Path(archspec.__file__).parent / "specs").rglob("*.arch"))
SVG = "{http://www.w3.org/2000/svg}"
SLIDE_PT = (13.333 * 72, 7.5 * 72)  # a 16:9 slide as PowerPoint, Keynote and Google Slides make it: 13.33 × 7.5 in
MIN_PT = 8.0  # the smallest text on it

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


# -- geometry of the drawn picture, read back from graphviz's own output ------------------------------

def svg_geometry(g: graphviz.Digraph) -> tuple[float, float, float, list[float]]:
    """The SVG's width and height (points), the scale graphviz drew at, and every text's font size."""
    root = ET.fromstring(to_bytes(g, "svg"))
    width, height = (float((root.get(k) or "").removesuffix("pt")) for k in ("width", "height"))
    view = [float(x) for x in (root.get("viewBox") or "").split()]
    assert abs(view[2] - width) <= 1 and abs(view[3] - height) <= 1
    group = root.find(SVG + "g")
    assert group is not None
    m = re.search(r"scale\(([\d.]+)", group.get("transform") or "")
    assert m is not None
    return width, height, float(m.group(1)), [float(t.get("font-size") or 0) for t in root.iter(SVG + "text")]


def assert_fits_slide(g: graphviz.Digraph, frame: tuple[float, float] = SLIDE_PT, min_pt: float = MIN_PT) -> None:
    width, height, scale, fonts = svg_geometry(g)
    assert width <= frame[0] + 1 and height <= frame[1] + 1, (width, height, frame)
    assert min(fonts) * scale >= min_pt - 0.06, (min(fonts), scale)  # graphviz prints the scale to 2 places


def plain_positions(g: graphviz.Digraph) -> dict[str, tuple[float, float]]:
    """Node centres (inches, y up) as graphviz lays them out (`-Tplain`)."""
    out = {}
    for line in g.pipe(format="plain").decode().splitlines():
        if line.startswith("node "):
            name, x, y = shlex.split(line)[1:4]
            out[name] = (float(x), float(y))
    return out


def plain_edges(g: graphviz.Digraph) -> dict[tuple[str, str], list[tuple[float, float]]]:
    """Edge control points (inches, y up) by (tail, head)."""
    out = {}
    for line in g.pipe(format="plain").decode().splitlines():
        if line.startswith("edge "):
            f = shlex.split(line)
            n = int(f[3])
            out[f[1], f[2]] = [(float(f[4 + 2 * i]), float(f[5 + 2 * i])) for i in range(n)]
    return out


def svg_texts(g: graphviz.Digraph) -> list[tuple[str, float, float, bool]]:
    """Every text: its string, x, y (SVG: y down), and whether it belongs to a node."""
    root = ET.fromstring(to_bytes(g, "svg"))
    in_node = {id(t) for n in root.iter(SVG + "g") if n.get("class") == "node" for t in n.iter(SVG + "text")}
    return [(t.text or "", float(t.get("x") or 0), float(t.get("y") or 0), id(t) in in_node) for t in root.iter(SVG + "text")]


# -- every shipped spec --------------------------------------------------------------------------

@pytest.mark.slow  # every shipped network through dot
@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_every_spec_renders(path):
    a = archspec.analyze(path)
    for style in ("graph", "volumes"):
        g = archspec.render(a, style=style, depth=None if style == "volumes" or len(a.ir) < 300 else 2)
        root = ET.fromstring(to_bytes(g, "svg"))
        assert root.tag == SVG + "svg"
        assert root.findall(f".//{SVG}g[@class='node']")
        assert to_bytes(g, "dot").decode().startswith("digraph")
        assert to_bytes(g, "png")[:4] == b"\x89PNG"
        assert to_bytes(g, "pdf")[:4] == b"%PDF"
        if style == "volumes":  # every network's feature maps fit a 16:9 slide, its text readable there
            assert_fits_slide(g)


@pytest.mark.parametrize(("spec", "style", "fmt", "magic"), [
    ("lenet5", "graph", "png", b"\x89PNG"), ("vgg16", "volumes", "png", b"\x89PNG"),
    ("lenet5", "volumes", "pdf", b"%PDF"), ("resnet", "graph", "pdf", b"%PDF"),
])
def test_png_and_pdf(spec, style, fmt, magic):
    assert to_bytes(archspec.render(spec, style=style, depth=1), fmt)[:4] == magic


# -- the graph view's structure ---------------------------------------------------------------------

def test_lenet5_nodes_edges_and_folded_activations():
    d = dot("lenet5", wrap=1)
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
    v = build_view(archspec.analyze(RESIDUAL).ir)
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


# -- figures for slides and papers (issue 16) ----------------------------------------------------------

# Machado, Oliveira & Fernandes (2009), "A physiologically-based model for simulation of color vision
# deficiency", IEEE TVCG 15(6): the matrices for severity 1.0, on linear RGB.
CVD = {
    "normal": ((1, 0, 0), (0, 1, 0), (0, 0, 1)),
    "protanopia": ((0.152286, 1.052583, -0.204868), (0.114503, 0.786281, 0.099216), (-0.003882, -0.048116, 1.051998)),
    "deuteranopia": ((0.367322, 0.860646, -0.227968), (0.280085, 0.672501, 0.047413), (-0.011820, 0.042940, 0.968881)),
    "tritanopia": ((1.255528, -0.076749, -0.178779), (-0.078411, 0.930809, 0.147602), (0.004733, 0.691367, 0.303900)),
}


def _lab(color: str, m: tuple[tuple[float, ...], ...]) -> tuple[float, float, float]:
    """CIELAB (D65) of an sRGB colour as seen with the vision `m`."""
    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    rgb = [linear(int(color[i:i + 2], 16) / 255) for i in (1, 3, 5)]
    r, g, b = (min(1.0, max(0.0, sum(m[i][j] * rgb[j] for j in range(3)))) for i in range(3))
    x, y, z = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047, 0.2126 * r + 0.7152 * g + 0.0722 * b, \
        (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883

    def f(t: float) -> float:
        return t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116

    return 116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))


def test_every_category_has_a_distinct_colour_blind_safe_colour():
    # issue 16: three categories were near-identical greys (ΔE 5 apart; conv and norm 4 apart with deuteranopia)
    from archspec.kinds import KINDS

    assert {k.category for k in KINDS.values()} <= set(PALETTE)  # no category falls back to a spare colour
    assert len(set(PALETTE.values())) == len(PALETTE) == 15
    for vision, m in CVD.items():
        labs = {c: _lab(color, m) for c, color in PALETTE.items()}
        worst = min((math.dist(labs[a], labs[b]), a, b) for a, b in itertools.combinations(labs, 2))
        assert worst[0] >= 10, (vision, worst)


def test_each_shape_is_printed_once():
    # issue 16: every shape was printed twice, in the box and on the edge; LeNet-5's nine tensors differ
    shapes = Counter(t for t, *_ in svg_texts(archspec.render("lenet5")) if re.fullmatch(r"\d+(×\d+)*", t))
    assert shapes == Counter(["1×32×32", "6×28×28", "6×14×14", "16×10×10", "16×5×5", "120×1×1", "120", "84", "10"])


def test_the_legend_sits_under_the_title_within_the_drawing():
    texts = svg_texts(archspec.render("vgg16"))
    legend = [(x, y) for t, x, y, node in texts if not node and t in ("convolution", "pooling", "dense")]
    boxes = [(x, y) for t, x, y, node in texts if node]
    assert len(legend) == 3
    assert max(y for _, y in legend) < min(y for _, y in boxes)  # above every box (SVG's y grows downwards)
    assert min(x for x, _ in boxes) - 60 <= min(x for x, _ in legend) and max(x for x, _ in legend) <= max(x for x, _ in boxes)


@pytest.mark.slow  # twelve whole networks drawn and measured
@pytest.mark.parametrize(("spec", "options"), [
    ("vgg16", {}), ("vgg16", {"rankdir": "LR"}), ("alexnet", {}), ("alexnet", {"rankdir": "LR"}), ("lenet5", {}),
    ("zfnet", {}), ("mnist_mlp", {"rankdir": "LR"}), ("googlenet", {"depth": 0}), ("resnet", {"depth": 1}),
    ("resnet", {"depth": 1, "rankdir": "LR"}), ("densenet", {"depth": 1}), ("vgg16_transfer", {"depth": 0}),
], ids=lambda v: v if isinstance(v, str) else "-".join(f"{k}{w}" for k, w in v.items()))
def test_graph_view_fits_a_slide(spec, options):
    g, layout = figure(spec, **options)
    assert_fits_slide(g)
    assert layout.fits() and layout.note() is None


def test_graph_view_wraps_left_to_right_into_rows():
    g = archspec.render("vgg16", rankdir="LR")
    pos = plain_positions(g)
    starts = sorted((n for n in pos if re.fullmatch(r"wrap~\d+~in", n)), key=lambda n: int(n.split("~")[1]))
    assert len(starts) >= 3 and {f"wrap~{n.split('~')[1]}~out" for n in starts} <= set(pos)
    # every row starts at the left edge, each below the one before, under the first row's input
    assert all(abs(pos[n][0] - pos["input"][0]) < 0.05 for n in starts)
    ys = [pos["input"][1]] + [pos[n][1] for n in starts]
    assert all(a > b for a, b in itertools.pairwise(ys))
    # each row runs left to right along the network: the convolutions of stage 3 share a row, in order
    stage3 = [pos[f"stage3.conv{i}"] for i in (1, 2, 3)] + [pos["stage3.maxpool1"]]
    assert len({round(y, 2) for _, y in stage3}) == 1 and [x for x, _ in stage3] == sorted(x for x, _ in stage3)
    d = Dot(g.source)
    assert not [c for c in d.clusters if "~" in c]  # rows break between VGG's stages, not inside one
    assert d.nodes["wrap~0~out"]["label"] == d.nodes["wrap~0~in"]["label"] == "A"  # connectors pair up by letter


def test_graph_view_wraps_top_to_bottom_into_columns():
    pos = plain_positions(archspec.render("vgg16"))
    starts = [n for n in pos if re.fullmatch(r"wrap~\d+~in", n)]
    assert starts and all(abs(pos[n][1] - pos["input"][1]) < 0.05 for n in starts)  # columns start at the top
    assert sorted(pos[n][0] for n in starts) == [pos[f"wrap~{k}~in"][0] for k in range(len(starts))]


def test_wrap_count_and_natural_size():
    def connectors(g: graphviz.Digraph) -> set[str]:
        return {n for n in Dot(g.source).nodes if n.startswith("wrap~")}

    assert connectors(archspec.render("vgg16", wrap=3)) == {"wrap~0~out", "wrap~0~in", "wrap~1~out", "wrap~1~in"}
    one = archspec.render("vgg16", wrap=1)
    assert not connectors(one)
    d = Dot(archspec.render("vgg16", width=None).source)
    assert "size" not in d.graph and not [n for n in d.nodes if n.startswith("wrap~")]
    _, height, scale, fonts = svg_geometry(one)
    assert height > 2 * SLIDE_PT[1] and min(fonts) * scale >= MIN_PT - 0.06  # unwrapped, VGG-16 is slides tall


def test_a_network_too_big_for_the_frame_stays_readable():
    chain = "network chain:\n    input 3x32x32\n    repeat 150:\n        conv 8 3x3 pad=1 relu\n    gap\n    dense 10\n"
    g, layout = figure(chain)
    _, height, scale, fonts = svg_geometry(g)
    assert min(fonts) * scale >= MIN_PT - 0.06  # never shrunk below 8 pt
    assert height > SLIDE_PT[1] + 1 and not layout.fits()
    assert "--depth" in (layout.note() or "") and "larger --width" in (layout.note() or "")


def test_font_scale_and_a_smaller_frame():
    _, _, _, fonts = svg_geometry(archspec.render("lenet5", width=None))
    _, _, _, bigger = svg_geometry(archspec.render("lenet5", width=None, font_scale=1.5))
    assert all(f * 1.5 in bigger or math.ceil(f * 1.5) in bigger for f in fonts)  # HTML labels take whole points
    assert min(bigger) >= 1.5 * min(fonts) and max(bigger) == 1.5 * max(fonts)
    # a 4:3 slide 10 in wide, text 1.5 times larger: the graph is shrunk to fit (the volumes draw their
    # boxes smaller instead), and no text is under 8 pt
    for style in ("graph", "volumes"):
        g = archspec.render("vgg16", style=style, width="10in", aspect="4:3", font_scale=1.5)
        assert_fits_slide(g, (10 * 72, 7.5 * 72))
        assert (svg_geometry(g)[2] < 1) == (style == "graph")


def test_lengths_and_ratios():
    assert parse_width("13.33in") == 13.33 and parse_width("1920px", dpi=150) == 12.8
    assert parse_width("33.867cm") == pytest.approx(13.333, abs=1e-3) and parse_width("960pt") == pytest.approx(13.333, abs=1e-3)
    assert parse_width("none") is None and parse_width(6) == 6.0
    assert parse_aspect("16:9") == 16 / 9 and parse_aspect("4:3") == 4 / 3 and parse_aspect("1.5") == 1.5
    for bad in ("12 parsecs", "0.1in", "-3in"):
        with pytest.raises(SpecError) as e:
            parse_width(bad)
        assert e.value.diagnostic.code == "E202"
    with pytest.raises(SpecError):
        parse_aspect("16:0")


def test_volumes_wrap_into_rows():
    # issue 16: VGG-16 was one row 4416 px wide (29 in at 150 dpi), its labels a few pixels high on a slide
    g = archspec.render("vgg16", style="volumes")
    assert_fits_slide(g)
    pos = plain_positions(g)
    fronts = [pos[n] for n in pos if n.endswith("_front")]
    rows = sorted({round(y, 2) for _, y in fronts}, reverse=True)
    assert len(rows) >= 2
    order = [n for n in Dot(g.source).nodes if n.endswith("_front")]  # the network's order
    row_of = [rows.index(round(pos[n][1], 2)) for n in order]
    assert row_of == sorted(row_of)  # rows read top to bottom
    for r in range(len(rows)):
        xs = [pos[n][0] for n, k in zip(order, row_of) if k == r]
        assert xs == sorted(xs)  # and each left to right
    assert archspec.render("vgg16", style="volumes", wrap=1).source.count("wrap1") == 0


def _check_u(spec: str, pairs: list[tuple[str, str]], bottom: tuple[str, ...]) -> None:
    g = archspec.render(spec, style="volumes")
    assert_fits_slide(g)
    pos = plain_positions(g)
    levels = []
    for left, right in pairs:  # a level: the contracting side's map and the expanding side's, side by side
        (xl, yl), (xr, yr) = pos[f"v_{left}_front"], pos[f"v_{right}_front"]
        assert abs(yl - yr) < 0.01 and xr > xl + 1, (left, right)
        levels.append(yl)
    assert all(a > b for a, b in itertools.pairwise(levels))  # each level below the one before
    bottom_row = [pos[f"v_{b}_front"] for b in bottom]
    assert all(y < levels[-1] for _, y in bottom_row)  # the bottom of the U, in its middle
    assert pos[f"v_{pairs[0][0]}_front"][0] < sum(x for x, _ in bottom_row) / len(bottom) < pos[f"v_{pairs[0][1]}_front"][0]
    edges = plain_edges(g)
    for _, right in pairs:  # the skips: straight across their level
        points = next(p for (t, h), p in edges.items() if t.startswith("skip_") and t.endswith(f"__{right}_0"))
        assert abs(points[0][1] - points[-1][1]) < 0.01 and abs(points[0][1] - pos[f"v_{right}_front"][1]) < 0.01


def test_unet_is_drawn_as_a_u():
    # issue 16: U-Net came out as a straight row 6860 × 1303 px with faint arcs
    _check_u("unet", [("e1_conv2", "up4"), ("e2_twice1_conv2", "up3"), ("e3_twice1_conv2", "up2"),
                      ("e4_twice1_conv2", "up1")], ("down1_maxpool1", "down1_twice1_conv1", "down1_twice1_conv2"))


def test_vnet_is_drawn_as_a_u():
    _check_u("vnet", [("s1", "up4"), ("s2", "up3"), ("s3", "up2"), ("s4", "up1")], ("down1",))


HOURGLASS = """network hourglass:
    input 3x64x64
    block down(c):
        maxpool 2
        conv c 3x3 pad=1 relu
    block up(c, skip):
        upconv c 2x2 stride=2
        concat _ skip
        conv c 3x3 pad=1 relu
    a = conv 16 3x3 pad=1 relu
    b = down(32)
    down(64)
    up(32, b)
    up(16, a)
    conv 2 1x1
"""


def test_any_encoder_decoder_is_a_u_and_a_residual_chain_is_not():
    _check_u(HOURGLASS, [("a", "up2"), ("b_conv1", "up1")], ("down1_maxpool1", "down1_conv1"))
    # skips at one resolution with nothing deeper between them are brackets above a row, not a U
    g = archspec.render(RESIDUAL, style="volumes", depth=2)
    edges = plain_edges(g)
    assert not [e for e in edges if e[0].startswith(("down", "up"))]
    corners = [n for n in plain_positions(g) if n.startswith("skip_")]
    assert any(n.endswith("_3") for n in corners)  # brackets over the maps


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

    code = ("import sys, archspec; from archspec.draw.render import to_bytes; "
            "to_bytes(archspec.render('resnet', depth=1), 'svg'); "
            "to_bytes(archspec.render('vgg16', style='volumes'), 'svg'); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_cli_slide_options(tmp_path, capsys):
    out = tmp_path / "v.png"
    assert main(["render", "vgg16", "--style", "volumes", "--width", "1920px", "-o", str(out)]) == 0
    w, h = _png_size(out.read_bytes())
    assert w <= 1920 and h <= 1080  # a full-HD 16:9 slide at the default 150 dpi
    assert main(["render", "vgg16", "--width", "10in", "--aspect", "4:3", "--font-scale", "1.5", "--dpi", "100",
                 "-o", str(out)]) == 0
    w, h = _png_size(out.read_bytes())
    assert w <= 1000 and h <= 750  # shrunk to the frame: 10 × 7.5 in at 100 dpi
    capsys.readouterr()
    # a frame too small for readable text: the figure stays readable, and the command says so
    assert main(["render", "vgg16", "--width", "4in", "-o", str(tmp_path / "s.svg")]) == 0
    err = capsys.readouterr().err
    assert "note:" in err and "larger --width" in err and "8 pt" in err
    assert main(["render", "vgg16", "--width", "none", "--wrap", "2", "--format", "dot"]) == 0
    text = capsys.readouterr().out
    assert not re.search(r"\bsize=", text) and '"wrap~0~in"' in text and '"wrap~1~in"' not in text
    for args, what in ((["--width", "12parsec"], "--width 12parsec"), (["--wrap", "0"], "--wrap 0"),
                       (["--aspect", "16:0"], "--aspect 16:0"), (["--font-scale", "0"], "--font-scale 0")):
        assert main(["render", "lenet5", *args, "-o", str(tmp_path / "e.svg")]) == 2
        err = capsys.readouterr().err
        assert "E202" in err and what in err and "Traceback" not in err
    assert not (tmp_path / "e.svg").exists()


ATTENTION_SPEC = "network t:\n    input 6x16\n    layernorm\n    attention 4\n    dense 8 axis=-1\n"


def test_attention_is_one_box_until_expanded():
    a = archspec.analyze(ATTENTION_SPEC)
    shut = build_view(a.ir)
    assert [b.title for b in shut.boxes.values() if b.category == "attention"] == ["attention"]
    view = build_view(a.ir, expand=["attention"])
    parts = [b for b in view.boxes.values() if b.category == "attention"]
    assert [b.title for b in parts] == ["q, k, v", "QKᵀ", "softmax", "AV", "output"]
    assert parts[1].shape == (4, 6, 6) and parts[-1].shape == (6, 16)
    row = a.row("attention1")
    # the parts share the layer's figures: 4·L·D² + 2·L²·D MACs, 4·D² + 4·D parameters
    assert sum(b.macs for b in parts) == row.macs == 4 * 6 * 16 * 16 + 2 * 6 * 6 * 16
    assert sum(b.params for b in parts) == row.params == 4 * 16 * 16 + 4 * 16
    assert {b.cluster for b in parts} == {"attention1"} and view.clusters["attention1"].label == "attention 4 heads"
    pairs = {(view.boxes[e.src].title, view.boxes[e.dst].title) for e in view.edges}
    assert {("layernorm", "q, k, v"), ("output", "dense"), ("QKᵀ", "softmax")} <= pairs
    assert ("layernorm", "attention") not in pairs
    dot = archspec.render(ATTENTION_SPEC, expand=["attention1"]).source
    assert "QKᵀ" in dot and "cluster_" in dot


def test_window_attention_expands_into_windows():
    a = archspec.analyze("network t:\n    input 5x5x8\n    window_attention 2 window=3 shift=1\n")
    parts = [b for b in build_view(a.ir, expand=["window_attention"]).boxes.values() if b.category == "attention"]
    assert parts[0].title == "windows" and parts[-1].title == "merge windows"
    assert parts[0].shape == (4, 9, 8)  # the map padded to 6×6: four windows of 3×3
    row = a.row("window_attention1")
    assert sum(b.macs for b in parts) == row.macs and sum(b.params for b in parts) == row.params


def test_expand_names_an_attention_layer_or_a_block():
    with pytest.raises(SpecError) as e:
        archspec.render(ATTENTION_SPEC, expand=["atention"])
    assert "attention" in str(e.value.diagnostic.hint)


def test_block_labels_round_long_floats():
    """Swin's drop rates are computed (`0.2 * i / 11`): a block's label shows four significant digits."""
    d = dot("swin", depth=1)
    text = " ".join(" ".join(_plain(a["label"]).split()) for a in [*d.clusters.values(), *d.nodes.values()])
    assert "swin_block(6, 0, 0.03636)" in text and "0.036363" not in text
