/* archspec's interactive view: the diagram (laid out by Graphviz in WebAssembly, in a Web Worker),
   blocks that open and close, a card for the selected layer or block, and the table, linked both
   ways. The model comes inlined (gzip + base64) or, under `archspec serve`, from the server, which
   the page polls for changes. See archspec/draw/html.py for the model. */
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const MODE = document.body.dataset.mode;
  const ROW = 22;
  const NUM = new Intl.NumberFormat("en-US");
  const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
  const num = (n) => (n === null || n === undefined ? "" : NUM.format(n));

  function compact(n) {
    for (const [u, s] of [["T", 1e12], ["G", 1e9], ["M", 1e6], ["K", 1e3]]) {
      if (Math.abs(n) >= s) return String(+(n / s).toPrecision(3)) + " " + u;
    }
    return String(n);
  }
  function bytes(n) {
    for (const [u, s] of [["GiB", 2 ** 30], ["MiB", 2 ** 20], ["KiB", 2 ** 10]]) {
      if (Math.abs(n) >= s) return (n / s).toFixed(n / s >= 100 ? 0 : n / s >= 10 ? 1 : 2) + " " + u;
    }
    return n + " B";
  }

  // -- the layout engine: Graphviz (WebAssembly) in a worker, else in the page ---------------------
  const Engine = (function () {
    let worker = null, direct = null, seq = 0;
    const pending = new Map();
    const cache = new Map();
    const lib = () => $("archspec-graphviz").textContent;
    function inPage() {
      if (!direct) {
        const s = document.createElement("script");
        s.textContent = lib();
        document.head.appendChild(s);
        direct = window.ArchspecGraphviz.Graphviz.load();
      }
      return direct;
    }
    function fallback() {
      if (worker) worker.terminate();
      worker = null;
      for (const [id, p] of pending) {
        pending.delete(id);
        inPage().then((gv) => p.resolve(gv.dot(p.dot))).catch(p.reject);
      }
    }
    function start() {
      try {
        const src = lib() + "\n;const gvp=ArchspecGraphviz.Graphviz.load();" +
          "onmessage=async(e)=>{try{const gv=await gvp;postMessage({id:e.data.id,svg:gv.dot(e.data.dot)})}" +
          "catch(err){postMessage({id:e.data.id,error:String(err&&err.message||err)})}};";
        worker = new Worker(URL.createObjectURL(new Blob([src], { type: "text/javascript" })));
        worker.onmessage = (e) => {
          const p = pending.get(e.data.id);
          if (!p) return;
          pending.delete(e.data.id);
          if (e.data.error) p.reject(new Error(e.data.error)); else p.resolve(e.data.svg);
        };
        worker.onerror = (e) => { e.preventDefault(); fallback(); };
      } catch (err) {
        worker = null;
      }
    }
    function layout(dot) {
      if (cache.has(dot)) return Promise.resolve(cache.get(dot));
      return new Promise((resolve, reject) => {
        const id = ++seq;
        const done = (svg) => {
          cache.set(dot, svg);
          if (cache.size > 24) cache.delete(cache.keys().next().value);
          resolve(svg);
        };
        if (worker) {
          pending.set(id, { resolve: done, reject, dot });
          worker.postMessage({ id, dot });
        } else {
          inPage().then((gv) => done(gv.dot(dot))).catch(reject);
        }
      });
    }
    return { start, layout };
  })();

  // -- state ------------------------------------------------------------------------------------
  let M = null; // the model
  const S = { open: new Set(), split: new Set(), sel: null, shade: "", sort: null, query: "", level: null };
  let V = null; // the current view: boxes, clusters, edges, DOT
  let rows = []; // the table's visible rows
  let svg = null, vb = null, full = null; // the drawn SVG, its view box, and the whole graph's box
  let busy = 0;

  function prepare(model) {
    // block chains (outermost first) per scope; groups' parents
    for (const s of model.scopes) {
      const p = s.parent >= 0 ? model.scopes[s.parent] : null;
      s.chain = p ? p.chain.concat([model.scopes.indexOf(s)]) : [model.scopes.indexOf(s)];
    }
    model.scopes.forEach((s, i) => { s.i = i; s.blocks = s.chain.filter((c) => model.scopes[c].k === "block"); });
    model.groups.forEach((g, i) => {
      g.i = i;
      g.parent = model.scopes[g.members[0]].parent;
      g.members.forEach((m, k) => { model.scopes[m].gpos = k; });
    });
    model.byName = new Map(model.entries.map((e, i) => [e.name, i]));
    model.nodeById = new Map(model.nodes.map((n, i) => [n.id, i]));
    model.scopeById = new Map(model.scopes.map((s, i) => [s.id, i]));
    return model;
  }

  let runMemo = null; // per drawing: scope -> [first, last] positions of its stretch of closed blocks in its run
  function runOf(c) {
    // the stretch of closed like blocks around block c that is drawn as one box, as [from, to] in its run, or null
    const s = M.scopes[c];
    if (s.g === null || S.split.has(s.g)) return null;
    if (runMemo && runMemo.has(c)) return runMemo.get(c);
    const mem = M.groups[s.g].members;
    let a = s.gpos, b = s.gpos;
    while (a > 0 && !S.open.has(mem[a - 1])) a--;
    while (b < mem.length - 1 && !S.open.has(mem[b + 1])) b++;
    const r = b > a ? [a, b] : null;
    if (runMemo) for (let k = a; k <= b; k++) runMemo.set(mem[k], r);
    return r;
  }
  function runMembers(c) {
    const r = runOf(c);
    if (!r) return [c];
    return M.groups[M.scopes[c].g].members.slice(r[0], r[1] + 1);
  }
  function closedAt(si) {
    // the outermost closed block around scope si (itself included), or -1
    if (si < 0) return -1;
    for (const b of M.scopes[si].blocks) if (!S.open.has(b)) return b;
    return -1;
  }
  function collapsedKey(c) {
    const r = runOf(c);
    return r ? "r" + M.groups[M.scopes[c].g].members[r[0]] : "s" + c;
  }
  function clusterParent(key) {
    // the cluster a cluster (cs<i> or cg<i>) is drawn in: a scope's parent, or the run of blocks it is part of
    if (key.startsWith("cg")) {
      const p = M.groups[+key.slice(2)].parent;
      return p >= 0 ? "cs" + p : "";
    }
    const s = M.scopes[+key.slice(2)];
    if (s.g !== null && S.split.has(s.g)) return "cg" + s.g; // a split run is framed
    return s.parent >= 0 ? "cs" + s.parent : "";
  }

  // -- the view: which boxes, clusters and edges are drawn (archspec's render_view.build_view) -------
  function buildView() {
    runMemo = new Map();
    const nodes = M.nodes;
    const keyOf = new Array(nodes.length).fill(null);
    const boxes = new Map(); // key -> {key, where, first}
    for (let n = 0; n < nodes.length; n++) {
      const d = nodes[n];
      const c = closedAt(d.s);
      let key = null, where = "";
      if (c >= 0) {
        key = collapsedKey(c);
        where = clusterParent("cs" + c);
      } else if (d.b !== null) {
        key = "b" + d.b;
        const s = M.boxes[d.b].s;
        where = s >= 0 ? "cs" + s : "";
      }
      keyOf[n] = key;
      if (key && !boxes.has(key)) boxes.set(key, { key, where, first: n });
    }
    const find = (n) => {
      let guard = 0;
      while (keyOf[n] === null && nodes[n].al !== null && guard++ < 100000) n = nodes[n].al;
      return keyOf[n];
    };
    const edges = [];
    const seen = new Set();
    for (let n = 0; n < nodes.length; n++) {
      for (const i of nodes[n].in) {
        const u = find(i), v = find(n);
        if (u === null || v === null || u === v || seen.has(u + ">" + v)) continue;
        seen.add(u + ">" + v);
        edges.push({ u, v, sh: nodes[i].sh });
      }
    }
    const clusters = new Map(); // key -> {key, parent, first}
    for (const b of boxes.values()) {
      let c = b.where;
      while (c && !clusters.has(c)) {
        const parent = clusterParent(c);
        clusters.set(c, { key: c, parent, first: b.first });
        c = parent;
      }
    }
    for (const c of clusters.values()) {
      c.first = c.key.startsWith("cs") ? M.scopes[+c.key.slice(2)].first : M.scopes[M.groups[+c.key.slice(2)].members[0]].first;
    }
    runMemo = null;
    return { boxes, edges, clusters, keyOf, order: Array.from(boxes.keys()) };
  }

  function mainPath(view) {
    const preds = new Map();
    for (const e of view.edges) { if (!preds.has(e.v)) preds.set(e.v, []); preds.get(e.v).push(e.u); }
    const pos = new Map(view.order.map((k, i) => [k, i]));
    const best = new Map();
    for (const k of view.order) {
      const ps = (preds.get(k) || []).filter((p) => best.has(p));
      if (!ps.length) { best.set(k, [1, null]); continue; }
      let top = ps[0];
      for (const p of ps) {
        const a = best.get(p)[0], b = best.get(top)[0];
        if (a > b || (a === b && pos.get(p) < pos.get(top))) top = p;
      }
      best.set(k, [best.get(top)[0] + 1, top]);
    }
    const outputs = view.order.filter((k) => k[0] === "b" && M.boxes[+k.slice(1)].role === "output");
    let end = outputs.length ? outputs[0] : view.order[view.order.length - 1];
    const path = [];
    while (end !== null && end !== undefined) { path.push(end); end = best.get(end)[1]; }
    return path.reverse();
  }

  function boxInfo(key) {
    // what a drawn box shows: its DOT attributes, title and costs
    const i = +key.slice(1);
    if (key[0] === "b") return M.boxes[i];
    const members = key[0] === "s" ? [i] : runMembers(i);
    const f = scopeFigures(members.map((m) => M.scopes[m]));
    if (key[0] === "s") return Object.assign({ a: M.scopes[i].box.a, title: M.scopes[i].box.title, members }, f);
    const g = M.groups[M.scopes[i].g];
    const a = {};
    for (const [k, v] of Object.entries(g.a)) {
      a[k] = v.replace("@@N@@", String(members.length)).replace("@@L@@", String(f.layers)).replace("@@S@@", esc(f.sh));
    }
    return Object.assign({ a, title: g.base + " ×" + members.length, members }, f);
  }

  const q = (v) => {
    v = String(v);
    if (v.length > 1 && v[0] === "<" && v[v.length - 1] === ">") return v;
    return '"' + v.replace(/"/g, '\\"') + '"';
  };
  const attrList = (o) => Object.entries(o).map(([k, v]) => k + "=" + q(v)).join(" ");

  function toDot(view) {
    const spine = new Set(mainPath(view));
    const out = ["digraph " + q(M.network) + " {"];
    out.push(M.dot.prelude);
    const members = new Map(), children = new Map();
    for (const k of view.order) {
      const w = view.boxes.get(k).where;
      if (!members.has(w)) members.set(w, []);
      members.get(w).push(k);
    }
    const cl = Array.from(view.clusters.values()).sort((a, b) => a.first - b.first);
    for (const c of cl) {
      if (!children.has(c.parent)) children.set(c.parent, []);
      children.get(c.parent).push(c.key);
    }
    const fill = (scope, level, indent) => {
      for (const k of members.get(scope) || []) {
        const info = boxInfo(k);
        const a = Object.assign({}, info.a, { id: k });
        if (spine.has(k)) a.group = "spine";
        if (k[0] !== "b") a.class = "block"; else a.class = "layer";
        out.push(indent + k + " [" + attrList(a) + "]");
      }
      for (const c of children.get(scope) || []) {
        let a, inner = level + 1;
        if (c.startsWith("cs")) {
          const s = M.scopes[+c.slice(2)];
          a = Object.assign({}, s.cl || { label: "" });
          if (s.k === "block") { a.fillcolor = level % 2 === 0 ? "#f7f7f7" : "#ededed"; a.class = "block"; }
          else a.class = "branch";
        } else {
          const g = M.groups[+c.slice(2)];
          a = { label: "<<I>" + esc(g.base + " ×" + g.members.length).replace(/&quot;/g, '"') + "</I>>", style: "dashed,rounded", color: "#7a7a7a",
            fontsize: "10", fontcolor: "#444444", labeljust: "l", penwidth: "0.9", class: "run" };
          inner = level;
        }
        a.id = c;
        out.push(indent + "subgraph cluster_" + c + " {");
        out.push(indent + "  graph [" + attrList(a) + "]");
        fill(c, inner, indent + "  ");
        out.push(indent + "}");
      }
    };
    fill("", 0, "");
    // a tensor read by several boxes is labelled once, on the edge along the main path if there is one
    const along = new Set();
    const sp = Array.from(spine);
    for (let i = 1; i < sp.length; i++) along.add(sp[i - 1] + ">" + sp[i]);
    const labelled = new Map();
    for (const e of view.edges) {
      const key = e.u + "|" + e.sh;
      if (!labelled.has(key) || along.has(e.u + ">" + e.v)) labelled.set(key, e);
    }
    view.edgeIds = new Map();
    view.edges.forEach((e, k) => {
      const show = M.dot.edge_labels && labelled.get(e.u + "|" + e.sh) === e;
      view.edgeIds.set("e" + k, e);
      out.push(e.u + " -> " + e.v + ' [id="e' + k + '"' + (show ? ' label=" ' + e.sh + ' "' : "") + "]");
    });
    out.push("}");
    return out.join("\n");
  }

  // -- drawing ------------------------------------------------------------------------------------
  async function draw(anchor) {
    V = buildView();
    V.dot = toDot(V);
    const token = ++busy;
    const t0 = performance.now();
    setStatus("laying out " + V.boxes.size + " boxes…");
    let text;
    try {
      text = await Engine.layout(V.dot);
    } catch (err) {
      setStatus("layout failed: " + err.message);
      return;
    }
    if (token !== busy) return; // a newer drawing is on its way
    const holder = $("diagram");
    const before = anchor && anchor.el ? screenBox(anchor.el) : null;
    holder.innerHTML = text.slice(text.indexOf("<svg"));
    svg = holder.querySelector("svg");
    svg.querySelectorAll("title").forEach((t) => t.remove());
    svg.removeAttribute("width");
    svg.removeAttribute("height");
    const b = svg.viewBox.baseVal;
    full = { x: b.x, y: b.y, w: b.width, h: b.height };
    const ms = Math.round(performance.now() - t0);
    document.body.dataset.boxes = V.boxes.size;
    setStatus(V.boxes.size + " boxes · laid out in " + ms + " ms");
    for (const g of svg.querySelectorAll("g.node, g.cluster")) {
      const k = g.id;
      if (k.startsWith("cs") && M.scopes[+k.slice(2)].k === "block") g.classList.add("block");
      else if (k.startsWith("cg")) g.classList.add("run");
      else if (k[0] === "s" || k[0] === "r") g.classList.add("block");
    }
    if (before && anchor.key && svg.getElementById(anchor.key)) {
      placeAt(svg.getElementById(anchor.key), before);
    } else if (!vb || !anchor) {
      fit(true);
    } else {
      setViewBox(vb);
    }
    applyShade();
    markSelection(false);
    markMatches();
    renderTable();
    document.body.dataset.ready = String(+(document.body.dataset.ready || 0) + 1);
  }

  function setStatus(t) { $("status").textContent = t; }

  // -- pan and zoom ---------------------------------------------------------------------------------
  function holderSize() {
    const r = $("diagram").getBoundingClientRect();
    return { w: Math.max(r.width, 1), h: Math.max(r.height, 1) };
  }
  function setViewBox(v) {
    const { w, h } = holderSize();
    const scale = Math.max(v.w / w, v.h / h);
    vb = { x: v.x + (v.w - w * scale) / 2, y: v.y + (v.h - h * scale) / 2, w: w * scale, h: h * scale };
    if (svg) svg.setAttribute("viewBox", vb.x + " " + vb.y + " " + vb.w + " " + vb.h);
  }
  function scaleNow() { return vb ? vb.w / holderSize().w : 1; }
  function fit(initial) {
    if (!svg) return;
    const { w, h } = holderSize();
    const pad = 12;
    let scale = Math.max(full.w / (w - 2 * pad), full.h / (h - 2 * pad));
    scale = Math.max(scale, 1 / 1.6); // no bigger than 1.6× the natural size
    if (initial && scale > 1.3) {
      // too large to read when fitted: show where it starts (the top, or the left when drawn left to
      // right), as much of its breadth as fits, at a readable size
      if (/rankdir=(LR|RL)/.test(M.dot.prelude)) {
        scale = Math.min(Math.max(full.h / (h - 2 * pad), 1 / 1.4), 1.6);
        const vh = h * scale;
        setViewBox({ x: full.x - pad * scale, y: full.y + (full.h - vh) / 2, w: w * scale, h: vh });
      } else {
        scale = Math.min(Math.max(full.w / (w - 2 * pad), 1 / 1.4), 1.6);
        const vw = w * scale;
        setViewBox({ x: full.x + (full.w - vw) / 2, y: full.y, w: vw, h: h * scale });
      }
      return;
    }
    const vw = w * scale, vh = h * scale;
    setViewBox({ x: full.x + (full.w - vw) / 2, y: full.y + (full.h - vh) / 2, w: vw, h: vh });
  }
  function toSvg(px, py) {
    const r = $("diagram").getBoundingClientRect();
    return { x: vb.x + (px - r.left) / r.width * vb.w, y: vb.y + (py - r.top) / r.height * vb.h };
  }
  function zoomAt(px, py, factor) {
    if (!vb) return;
    const p = toSvg(px, py);
    const s = Math.min(Math.max(scaleNow() * factor, 0.08), Math.max(40, 2 * full.w / holderSize().w, 2 * full.h / holderSize().h));
    const f = s / scaleNow();
    setViewBox({ x: p.x - (p.x - vb.x) * f, y: p.y - (p.y - vb.y) * f, w: vb.w * f, h: vb.h * f });
  }
  function elementBox(el) {
    // an element's box in the SVG's user space
    const b = el.getBBox();
    const m = svg.getScreenCTM().inverse().multiply(el.getScreenCTM());
    const p1 = new DOMPoint(b.x, b.y).matrixTransform(m), p2 = new DOMPoint(b.x + b.width, b.y + b.height).matrixTransform(m);
    return { x: Math.min(p1.x, p2.x), y: Math.min(p1.y, p2.y), w: Math.abs(p2.x - p1.x), h: Math.abs(p2.y - p1.y) };
  }
  function screenBox(el) {
    if (!el || !svg) return null;
    const b = elementBox(el);
    const r = $("diagram").getBoundingClientRect();
    return { x: (b.x - vb.x) / vb.w * r.width, y: (b.y - vb.y) / vb.h * r.height, scale: scaleNow() };
  }
  function placeAt(el, before) {
    // keep an opened or closed block where it was on the screen, at the same zoom
    const b = elementBox(el);
    const { w, h } = holderSize();
    const s = before.scale;
    setViewBox({ x: b.x - before.x * s, y: b.y - before.y * s, w: w * s, h: h * s });
  }
  function centerOn(el) {
    const b = elementBox(el);
    const { w, h } = holderSize();
    let s = scaleNow();
    if (s > 2.2) s = 1.1; // zoomed too far out to read it: come closer
    if (b.w / s > w * 0.9 || b.h / s > h * 0.9) s = Math.max(b.w / (w * 0.9), b.h / (h * 0.9), s);
    // a box is shown in its context: centred across the widest frame around it that fits the window
    let cx = b.x + b.w / 2;
    const box = V && V.boxes.get(el.id);
    for (let c = box ? box.where : ""; c; c = clusterParent(c)) {
      const ce = svg.getElementById(c);
      if (!ce) continue;
      const cb = elementBox(ce);
      if (cb.w / s > w * 0.96) break;
      cx = cb.x + cb.w / 2;
    }
    setViewBox({ x: cx - w * s / 2, y: b.y + b.h / 2 - h * s / 2, w: w * s, h: h * s });
  }
  function visible(el) {
    const b = elementBox(el);
    return b.x >= vb.x && b.y >= vb.y && b.x + b.w <= vb.x + vb.w && b.y + b.h <= vb.y + vb.h && scaleNow() <= 2.2;
  }

  function setupPanZoom() {
    const d = $("diagram");
    let drag = null;
    d.addEventListener("wheel", (e) => {
      e.preventDefault();
      const f = Math.exp((e.deltaMode === 1 ? e.deltaY * 16 : e.deltaY) * 0.0015);
      zoomAt(e.clientX, e.clientY, f);
    }, { passive: false });
    d.addEventListener("pointerdown", (e) => {
      if (e.button !== 0 || !vb) return;
      drag = { x: e.clientX, y: e.clientY, vb: Object.assign({}, vb), moved: false, id: e.pointerId };
    });
    window.addEventListener("pointermove", (e) => {
      if (!drag) { hover(e); return; }
      const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
      if (!drag.moved && Math.hypot(dx, dy) < 4) return;
      if (!drag.moved) { drag.moved = true; d.classList.add("dragging"); $("hover").hidden = true; }
      const r = d.getBoundingClientRect();
      vb.x = drag.vb.x - dx / r.width * vb.w;
      vb.y = drag.vb.y - dy / r.height * vb.h;
      svg.setAttribute("viewBox", vb.x + " " + vb.y + " " + vb.w + " " + vb.h);
    });
    window.addEventListener("pointerup", (e) => {
      if (!drag) return;
      const moved = drag.moved;
      drag = null;
      d.classList.remove("dragging");
      if (!moved && d.contains(e.target)) clickDiagram(e);
    });
    d.addEventListener("keydown", (e) => {
      if (e.key === "f" || e.key === "F") fit(false);
      else if (e.key === "+" || e.key === "=") { const r = d.getBoundingClientRect(); zoomAt(r.left + r.width / 2, r.top + r.height / 2, 1 / 1.25); }
      else if (e.key === "-") { const r = d.getBoundingClientRect(); zoomAt(r.left + r.width / 2, r.top + r.height / 2, 1.25); }
    });
    window.addEventListener("resize", () => { if (vb) setViewBox(vb); renderTable(); });
  }

  // -- clicking, selecting, opening and closing --------------------------------------------------------
  function clickDiagram(e) {
    const g = e.target.closest && e.target.closest("g.node, g.cluster");
    if (!g) { select(null); return; }
    activate(g.id, g);
  }

  function activate(key, el) {
    // a click on a drawn thing: a layer is selected; a closed block opens; an open block's frame closes
    const i = +key.slice(key.startsWith("c") ? 2 : 1);
    $("hover").hidden = true;
    if (key[0] === "b") { select({ k: "b", i }, false); return; }
    if (key[0] === "s") { S.open.add(i); S.sel = { k: "S", i }; redraw(el, "cs" + i); return; }
    if (key[0] === "r") {
      const g = M.scopes[i].g;
      S.split.add(g);
      S.sel = { k: "G", i: g };
      redraw(el, "cg" + g);
      return;
    }
    if (key.startsWith("cs")) {
      if (M.scopes[i].k !== "block") { select({ k: "S", i }, false); return; }
      S.open.delete(i);
      const nk = collapsedKey(i);
      S.sel = nk[0] === "r" ? { k: "R", i: +nk.slice(1) } : { k: "S", i };
      redraw(el, nk);
      return;
    }
    if (key.startsWith("cg")) {
      S.split.delete(i);
      for (const m of M.groups[i].members) S.open.delete(m);
      S.sel = { k: "R", i: M.groups[i].members[0] };
      redraw(el, "r" + M.groups[i].members[0]);
    }
  }

  function redraw(el, newKey) {
    S.level = null;
    updateLevels();
    renderCard();
    return draw(el ? { el, key: newKey } : null);
  }

  function selectedKey() {
    // the drawn element that shows the selection
    const sel = S.sel;
    if (!sel || !V) return null;
    if (sel.k === "b") return "b" + sel.i;
    if (sel.k === "e") {
      const e = M.entries[sel.i];
      if (e.b !== null) { const c = closedAt(e.s); return c >= 0 ? collapsedKey(c) : "b" + e.b; }
      return null;
    }
    if (sel.k === "S") {
      const c = closedAt(M.scopes[sel.i].parent >= 0 ? M.scopes[sel.i].parent : -1);
      if (c >= 0) return collapsedKey(c);
      if (M.scopes[sel.i].k === "block" && !S.open.has(sel.i)) return collapsedKey(sel.i);
      return "cs" + sel.i;
    }
    if (sel.k === "G") return S.split.has(sel.i) ? "cg" + sel.i : null;
    if (sel.k === "R") return closedAt(M.scopes[sel.i].parent) < 0 && !S.open.has(sel.i) ? collapsedKey(sel.i) : null;
    return null;
  }

  function markSelection(center) {
    if (!svg) return;
    svg.querySelectorAll(".sel, .hot").forEach((el) => el.classList.remove("sel", "hot"));
    const key = selectedKey();
    const el = key && svg.getElementById(key);
    if (el) {
      el.classList.add("sel");
      if (key[0] !== "c") {
        // the edges in and out of it
        for (const g of svg.querySelectorAll("g.edge")) {
          const t = g.id && V.edgeIds && V.edgeIds.get(g.id);
          if (t && (t.u === key || t.v === key)) g.classList.add("hot");
        }
      }
      if (center && !visible(el)) centerOn(el);
    }
  }

  function entryOf(sel) {
    if (!sel) return null;
    if (sel.k === "e") return sel.i;
    if (sel.k === "b") return M.boxes[sel.i].e;
    return null;
  }

  function select(sel, center) {
    S.sel = sel;
    renderCard();
    markSelection(center);
    renderTable(true);
  }

  function reveal(si) {
    // open every block around scope si; returns whether anything changed
    let changed = false;
    if (si < 0) return false;
    for (const b of M.scopes[si].blocks) {
      if (!S.open.has(b)) { S.open.add(b); changed = true; }
    }
    return changed;
  }

  function showEntry(i) {
    const e = M.entries[i];
    const changed = reveal(e.s);
    S.sel = e.b !== null ? { k: "b", i: e.b } : { k: "e", i };
    if (changed) {
      S.level = null;
      updateLevels();
      renderCard();
      draw(null).then(() => { markSelection(true); renderTable(true); });
    } else select(S.sel, true);
  }

  function setLevel(level) {
    S.level = level;
    S.open = new Set(M.scopes.filter((s) => s.k === "block" && s.lvl <= level).map((s) => s.i));
    S.split = new Set();
    updateLevels();
    draw(null);
  }

  function updateLevels() {
    for (const b of $("levels").querySelectorAll("button")) b.setAttribute("aria-pressed", String(+b.dataset.level === S.level));
  }

  // -- shading by cost --------------------------------------------------------------------------------
  function heat(value, top) {
    if (top <= 0 || value <= 0) return "#ffffff";
    const t = Math.min(Math.max(1 + Math.log10(value / top) / 4, 0), 1);
    const lo = [255, 245, 240], hi = [251, 106, 74];
    return "#" + lo.map((a, i) => Math.round(a + (hi[i] - a) * t).toString(16).padStart(2, "0")).join("");
  }
  function costOf(key, metric) {
    const b = boxInfo(key);
    return metric === "params" ? b.p : metric === "macs" ? b.m : b.mem;
  }
  function applyShade() {
    if (!svg) return;
    const metric = S.shade;
    const nodes = svg.querySelectorAll("g.node");
    let top = 0;
    if (metric) for (const g of nodes) top = Math.max(top, costOf(g.id, metric) || 0);
    for (const g of nodes) {
      const color = metric ? heat(costOf(g.id, metric) || 0, top) : "";
      for (const s of g.querySelectorAll("polygon, path, ellipse")) {
        if (s.getAttribute("fill") && s.getAttribute("fill") !== "none") s.style.fill = color;
      }
    }
    const ramp = $("ramp");
    ramp.hidden = !metric;
    $("legend").hidden = !!metric;
    if (metric) {
      const name = { params: "parameters", macs: "MACs", memory: "memory" }[metric];
      const fmt = metric === "memory" ? bytes : compact;
      ramp.innerHTML = "≤ " + esc(fmt(top / 1e4)) + ' <span class="bar" style="background:linear-gradient(90deg,' +
        heat(top / 1e4, top) + "," + heat(top, top) + ')"></span> ' + esc(fmt(top)) + " " + name + " (log scale)";
    }
  }

  function renderLegend() {
    $("legend").innerHTML = Object.values(M.categories).map(([name, color]) =>
      '<span><span class="swatch" style="background:' + esc(color) + '"></span>' + esc(name) + "</span>").join("");
  }

  // -- the hover card ------------------------------------------------------------------------------
  function hover(e) {
    const box = $("hover");
    const g = svg && e.target && e.target.closest && e.target.closest("#diagram g.node");
    if (!g) { box.hidden = true; return; }
    const key = g.id, info = boxInfo(key);
    let head, lines = [];
    if (key[0] === "b") {
      const en = info.e !== null ? M.entries[info.e] : null;
      head = en ? en.name : info.title;
      if (en) lines.push(esc(en.kind) + " " + esc(en.args), "output " + esc(en.sh));
    } else {
      head = info.title;
      lines.push(num(info.layers) + " layers · click to open");
    }
    if (info.p) lines.push(num(info.p) + " parameters");
    if (info.m) lines.push(num(info.m) + " MACs");
    box.innerHTML = '<div class="h">' + esc(head) + '</div><div class="d">' + lines.join("<br>") + "</div>";
    const r = $("pane").getBoundingClientRect();
    box.hidden = false;
    const x = Math.min(e.clientX - r.left + 14, r.width - box.offsetWidth - 6);
    const y = Math.min(e.clientY - r.top + 14, r.height - box.offsetHeight - 6);
    box.style.left = x + "px";
    box.style.top = y + "px";
  }

  // -- the card ------------------------------------------------------------------------------------
  function srcBlock(file, line) {
    if (!file || !line || !M.sources[file]) return "";
    const src = M.sources[file];
    const out = [];
    for (let l = Math.max(1, line - 1); l <= Math.min(src.lines.length, line + 1); l++) {
      const text = '<span class="ln">' + String(l).padStart(3) + "  </span>" + esc(src.lines[l - 1] || "");
      out.push(l === line ? '<span class="at">' + text + "</span>" : text);
    }
    return '<tr><td>Spec</td><td><span class="link" data-file="1">' + esc(src.name) + ":" + line + "</span></td></tr>" +
      '<tr><td colspan="2"><pre class="src">' + out.join("\n") + "</pre></td></tr>";
  }
  function rf(size, stride, off) {
    if (!size) return "the whole input (global)";
    return size.join("×") + (stride ? '  <span class="small">stride ' + stride.map((s) => +(+s).toFixed(3)).join("×") + "</span>" : "");
  }
  function kindChip(cat, text) {
    const c = M.categories[cat];
    return '<span class="kind" style="background:' + (c ? esc(c[1]) : "#eee") + '">' + esc(text) + "</span>";
  }
  function blockPath(si) {
    if (si < 0) return "";
    return M.scopes[si].chain.filter((c) => M.scopes[c].k === "block")
      .map((c) => '<a data-scope="' + c + '">' + esc(M.scopes[c].id.split(".").pop()) + "</a> " +
        '<span class="small">' + esc(M.scopes[c].label) + "</span>").join(" › ");
  }
  function producer(id) {
    // the table row that makes a tensor: an identity passes its input's on; a fused activation is its producer's row
    let n = M.nodeById.get(id), guard = 0;
    while (n !== undefined && M.nodes[n].e === null && M.nodes[n].al !== null && guard++ < 1e5) n = M.nodes[n].al;
    return n === undefined ? null : M.nodes[n].e;
  }
  function tensorLink(id) {
    const e = producer(id);
    return e === null ? esc(id) : '<a data-entry="' + e + '">' + esc(M.entries[e].name) + "</a>";
  }
  function tr(k, v, cls) { return "<tr><td>" + k + '</td><td class="' + (cls || "") + '">' + v + "</td></tr>"; }

  function renderCard() {
    const c = $("card");
    const sel = S.sel;
    let h = "";
    if (!sel) {
      h = "<h2>" + esc(M.title) + '</h2><div class="sub">' + num(M.totals.layers) + " layers · click a box or a row</div><table>";
      for (const [k, v] of M.summary) h += tr(esc(k), esc(v), "num");
      h += "</table>";
      for (const w of M.warnings || []) h += '<pre class="warning">' + esc(w) + "</pre>";
    } else if (sel.k === "b" || sel.k === "e") {
      const ei = entryOf(sel);
      if (ei === null) {
        const b = M.boxes[sel.i];
        const node = M.nodes.find((n) => n.b === sel.i);
        const src = node && node.in.length ? M.nodes[node.in[0]] : null;
        h = "<h2>" + esc(b.title) + '</h2><div class="sub">' + kindChip("io", b.role) + "</div><table>" +
          (src ? tr("Returns", tensorLink(src.id)) : "") + tr("Shape", esc(node ? node.sh : "")) + "</table>";
      } else {
        const e = M.entries[ei];
        h = "<h2>" + esc(e.name) + '</h2><div class="sub">' + kindChip(e.cat, e.kind) + esc(e.args) +
          (e.frozen ? ' <span class="small">❄ frozen</span>' : "") + "</div><table>";
        if (e.s >= 0) h += tr("Block", blockPath(e.s));
        h += tr("Input" + (e.in.length > 1 ? "s" : ""), e.in.map(([n, s]) => tensorLink(n) + " " + esc(s)).join("<br>") || "—");
        h += tr("Output", esc(e.sh) + ' <span class="small">' + num(e.el) + " values" + (e.dt ? ", " + esc(e.dt) : "") + "</span>");
        h += tr("Parameters", num(e.p) + (e.fp || e.buf ? ' <span class="small">trainable ' + num(e.tp) +
          (e.fp ? ", fixed " + num(e.fp) : "") + (e.buf ? ", buffers " + num(e.buf) : "") + "</span>" : ""), "num");
        h += tr("MACs", num(e.m), "num") + tr("FLOPs", num(e.f), "num");
        h += tr("Memory", bytes(e.mem) + ' <span class="small">output' + (e.nodes.length > 1 ? "s" : "") + ", float32 · weights " + bytes(e.p * 4) + "</span>", "num");
        h += tr("Receptive field", rf(e.rf, e.st, e.off));
        if (e.b === null) h += tr("Drawn", "as an edge (an identity passes its input on)");
        h += srcBlock(e.file, e.line) + "</table>";
      }
    } else {
      // a block or branch, a run of like blocks drawn as one box (R), or a split run in its frame (G)
      const isRun = sel.k === "R" || sel.k === "G";
      const memberIds = sel.k === "G" ? M.groups[sel.i].members : sel.k === "R" ? runMembers(sel.i) : [sel.i];
      const members = memberIds.map((m) => M.scopes[m]);
      const s = members[0];
      const f = scopeFigures(members);
      const last = members[members.length - 1];
      const base = s.g !== null ? M.groups[s.g].base : s.label;
      const state = sel.k === "G" ? "open" : sel.k === "R" ? "closed" : s.k === "branch" ? "branch" : S.open.has(s.i) && closedAt(s.i) < 0 ? "open" : "closed";
      const name = isRun ? s.id + (members.length > 1 ? " … " + last.id.split(".").pop() : "") : s.id;
      h = "<h2>" + esc(name) + '</h2><div class="sub">' +
        kindChip("block", s.k === "branch" ? "branch" : isRun ? members.length + " blocks" : "block") +
        esc(isRun ? base + " ×" + members.length : s.label) + "</div><table>";
      if (s.parent >= 0) h += tr("In", blockPath(s.parent));
      h += tr("Input" + (s.in.length > 1 ? "s" : ""), s.in.map(([n, sh]) => tensorLink(n) + " " + esc(sh)).join("<br>") || "—");
      h += tr("Output", esc(last.sh));
      h += tr("Layers", num(f.layers));
      h += tr("Parameters", num(f.p), "num") + tr("MACs", num(f.m), "num") + tr("FLOPs", num(f.f), "num");
      h += tr("Memory", bytes(f.mem) + ' <span class="small">outputs, float32</span>', "num");
      h += tr("Receptive field", rf(last.rf, null, null));
      h += srcBlock(s.file, s.line) + "</table>";
      if (s.k === "block" && selectedKey()) {
        h += '<div class="actions"><button type="button" data-act="toggle">' + (state === "open" ? "Close" : "Open") +
          (isRun ? " the run" : " the block") + "</button></div>";
      }
    }
    c.innerHTML = h;
  }

  function setupCard() {
    $("card").addEventListener("click", (e) => {
      const a = e.target.closest("[data-entry], [data-scope], [data-act]");
      if (!a) return;
      if (a.dataset.entry !== undefined) showEntry(+a.dataset.entry); else if (a.dataset.scope !== undefined) {
        const si = +a.dataset.scope;
        const changed = reveal(M.scopes[si].parent);
        S.sel = { k: "S", i: si };
        if (changed) { renderCard(); draw(null).then(() => markSelection(true)); } else select(S.sel, true);
      } else if (a.dataset.act === "toggle") {
        const key = selectedKey();
        if (key) activate(key, svg.getElementById(key));
      }
    });
  }

  // -- the table ---------------------------------------------------------------------------------------
  const COLS = [
    { key: "name", title: "Layer", text: true },
    { key: "kind", title: "Kind", text: true },
    { key: "el", title: "Output", num: false },
    { key: "p", title: "Params", num: true },
    { key: "m", title: "MACs", num: true },
    { key: "mem", title: "Memory", num: true },
  ];

  function scopeFigures(members) {
    const sum = (k) => members.reduce((a, m) => a + m[k], 0);
    return { p: sum("p"), m: sum("m"), f: sum("f"), mem: sum("mem"), sh: members[members.length - 1].sh, layers: sum("layers") };
  }

  function matches(e, qy) {
    // a search for "3x3" finds "3×3"
    const x = (t) => t.toLowerCase().replace(/×/g, "x");
    const q2 = x(qy);
    return x(e.name).includes(q2) || x(e.kind).includes(q2) || x(e.args).includes(q2) || x(e.sh).includes(q2);
  }

  function tableRows() {
    const out = [];
    if (S.query || S.sort) {
      const qy = S.query.toLowerCase();
      let list = [];
      M.entries.forEach((e, i) => { if (!qy || matches(e, qy)) list.push(i); });
      if (S.sort) {
        const { key, dir } = S.sort;
        const val = (i) => M.entries[i][key];
        list.sort((a, b) => {
          const x = val(a), y = val(b);
          const c = typeof x === "string" ? x.localeCompare(y) : x - y;
          return (c || a - b) * (c ? dir : 1);
        });
      }
      for (const i of list) out.push({ t: "e", i, depth: 0, full: true });
      return out;
    }
    // the tree, as the diagram is open: block headers, closed blocks and runs as one row each
    let path = [];
    const emitted = new Set();
    const clusterPath = (where) => {
      const p = [];
      while (where) { p.unshift(where); where = clusterParent(where); }
      return p;
    };
    const enter = (target) => {
      let k = 0;
      while (k < path.length && k < target.length && path[k] === target[k]) k++;
      path = path.slice(0, k);
      for (; k < target.length; k++) {
        path.push(target[k]);
        out.push({ t: "h", key: target[k], depth: k });
      }
    };
    M.entries.forEach((e, i) => {
      const c = closedAt(e.s);
      if (c >= 0) {
        const key = collapsedKey(c);
        if (emitted.has(key)) return;
        emitted.add(key);
        const p = clusterPath(clusterParent("cs" + c));
        enter(p);
        out.push({ t: "c", key, depth: p.length });
        return;
      }
      const p = clusterPath(e.s >= 0 ? "cs" + e.s : "");
      enter(p);
      out.push({ t: "e", i, depth: p.length });
    });
    return out;
  }

  function renderHead() {
    $("thead").innerHTML = COLS.map((c) => {
      const arrow = S.sort && S.sort.key === c.key ? (S.sort.dir > 0 ? " ▲" : " ▼") : "";
      return '<div data-col="' + c.key + '" class="' + (c.num ? "num " : "") + c.key + '">' + c.title + '<span class="arrow">' + arrow + "</span></div>";
    }).join("");
  }

  let lastRows = "";
  function renderTable(keepScroll) {
    if (!M) return;
    rows = tableRows();
    const sig = rows.length + ":" + (rows[0] ? rows[0].t + rows[0].i : "");
    $("tspacer").style.height = rows.length * ROW + "px";
    $("count").textContent = S.query ? num(rows.length) + " of " + num(M.entries.length) + " layers" : num(M.entries.length) + " layers";
    if (!keepScroll || sig !== lastRows) lastRows = sig;
    paintRows();
    if (keepScroll) scrollToSelection();
  }

  function rowIsSelected(r) {
    const sel = S.sel;
    if (!sel) return false;
    if (r.t === "e") { const ei = entryOf(sel); return ei === r.i; }
    const key = selectedKey();
    if (r.t === "c") return key === r.key;
    if (r.t === "h") return key === r.key;
    return false;
  }

  function paintRows() {
    const body = $("tbody");
    const top = body.scrollTop, height = body.clientHeight || 400;
    const from = Math.max(0, Math.floor(top / ROW) - 8), to = Math.min(rows.length, Math.ceil((top + height) / ROW) + 8);
    const qy = S.query.toLowerCase();
    const mark = (text) => {
      const t = esc(text);
      if (!qy) return t;
      const idx = text.toLowerCase().replace(/×/g, "x").indexOf(qy.replace(/×/g, "x"));
      if (idx < 0) return t;
      return esc(text.slice(0, idx)) + "<mark>" + esc(text.slice(idx, idx + qy.length)) + "</mark>" + esc(text.slice(idx + qy.length));
    };
    const html = [];
    for (let k = from; k < to; k++) {
      const r = rows[k];
      const pad = 4 + r.depth * 12;
      let cls = "tr", cells;
      if (r.t === "e") {
        const e = M.entries[r.i];
        const name = r.full ? e.name : e.name.split(".").pop();
        if (!(e.p || e.m)) cls += " dim";
        cells = ['<div class="name" style="padding-left:' + (pad + 14) + 'px" title="' + esc(e.name) + '">' + mark(name) + "</div>",
          '<div class="k" title="' + esc(e.kind + " " + e.args) + '">' + mark(e.kind) + "</div>",
          "<div>" + mark(e.sh) + "</div>", '<div class="num">' + (e.p ? num(e.p) : "") + "</div>",
          '<div class="num">' + (e.m ? num(e.m) : "") + "</div>", '<div class="num mem">' + (e.mem ? bytes(e.mem) : "") + "</div>"];
      } else if (r.t === "c") {
        const info = boxInfo(r.key);
        const members = info.members.map((m) => M.scopes[m]);
        const f = scopeFigures(members);
        const name = r.key[0] === "r" ? info.title : members[0].id.split(".").pop();
        cls += " box";
        const what = r.key[0] === "r" ? members[0].id.split(".").pop() + " … " + members[members.length - 1].id.split(".").pop() : members[0].label;
        cells = ['<div class="name span2" style="padding-left:' + pad + 'px" title="' + esc(members[0].id + ": " + what) + '"><span class="tog" data-tog="1">▸</span>' +
          esc(name) + ' <span class="lab">' + esc(what) + " · " + num(f.layers) + " layers</span></div>", "<div>" + esc(f.sh) + "</div>",
          '<div class="num">' + (f.p ? num(f.p) : "") + "</div>", '<div class="num">' + (f.m ? num(f.m) : "") + "</div>",
          '<div class="num mem">' + bytes(f.mem) + "</div>"];
      } else {
        let title, label, members, branch = false;
        if (r.key.startsWith("cg")) {
          const g = M.groups[+r.key.slice(2)];
          members = g.members.map((m) => M.scopes[m]);
          title = g.base + " ×" + members.length; label = "";
        } else {
          const s = M.scopes[+r.key.slice(2)];
          members = [s];
          branch = s.k === "branch";
          title = s.id.split(".").pop(); label = branch ? "" : s.label;
        }
        const f = scopeFigures(members);
        cls += " head" + (branch ? " branch" : "");
        cells = ['<div class="name span2" style="padding-left:' + pad + 'px" title="' + esc(members[0].id + (label ? ": " + label : "")) + '">' +
          (branch ? '<span class="tog"></span>' : '<span class="tog" data-tog="1">▾</span>') + esc(title) + ' <span class="lab">' + esc(label) + "</span></div>",
          "<div>" + esc(f.sh) + "</div>",
          '<div class="num">' + (f.p ? num(f.p) : "") + "</div>", '<div class="num">' + (f.m ? num(f.m) : "") + "</div>",
          '<div class="num mem">' + bytes(f.mem) + "</div>"];
      }
      if (rowIsSelected(r)) cls += " sel";
      html.push('<div class="' + cls + '" data-row="' + k + '" style="top:' + k * ROW + 'px">' + cells.join("") + "</div>");
    }
    $("tspacer").innerHTML = html.join("");
  }

  function scrollToSelection() {
    const k = rows.findIndex(rowIsSelected);
    if (k < 0) return;
    const body = $("tbody");
    if (k * ROW < body.scrollTop || (k + 1) * ROW > body.scrollTop + body.clientHeight) {
      body.scrollTop = Math.max(0, k * ROW - body.clientHeight / 3);
      paintRows();
    }
  }

  function setupTable() {
    renderHead();
    $("tbody").addEventListener("scroll", () => paintRows(), { passive: true });
    $("thead").addEventListener("click", (e) => {
      const c = e.target.closest("[data-col]");
      if (!c) return;
      const col = COLS.find((x) => x.key === c.dataset.col);
      const first = col.text ? 1 : -1;
      if (!S.sort || S.sort.key !== col.key) S.sort = { key: col.key, dir: first };
      else if (S.sort.dir === first) S.sort.dir = -first;
      else S.sort = null;
      renderHead();
      $("tbody").scrollTop = 0;
      renderTable();
    });
    $("tspacer").addEventListener("click", (e) => {
      const rowEl = e.target.closest("[data-row]");
      if (!rowEl) return;
      const r = rows[+rowEl.dataset.row];
      const tog = e.target.closest("[data-tog]");
      if (r.t === "e") { showEntry(r.i); return; }
      const key = r.key;
      if (tog) { activate(key, svg && svg.getElementById(key)); return; }
      const i = +key.slice(key.startsWith("c") ? 2 : 1);
      S.sel = key.startsWith("cg") ? { k: "G", i } : key[0] === "r" ? { k: "R", i } : { k: "S", i };
      select(S.sel, true);
    });
    let timer = null;
    $("search").addEventListener("input", (e) => {
      clearTimeout(timer);
      timer = setTimeout(() => { S.query = e.target.value.trim(); $("tbody").scrollTop = 0; renderTable(); markMatches(); }, 120);
    });
    $("search").addEventListener("keydown", (e) => {
      if (e.key === "Enter" && rows.length && rows[0].t === "e") showEntry(rows[0].i);
    });
    document.addEventListener("keydown", (e) => {
      if (e.key !== "Escape") return;
      if (S.query) { $("search").value = ""; S.query = ""; renderTable(); markMatches(); } else select(null, false);
    });
  }

  function markMatches() {
    if (!svg) return;
    svg.querySelectorAll(".match").forEach((el) => el.classList.remove("match"));
    if (!S.query) return;
    const qy = S.query.toLowerCase();
    const keys = new Set();
    M.entries.forEach((e) => {
      if (!matches(e, qy) || e.b === null) return;
      const c = closedAt(e.s);
      keys.add(c >= 0 ? collapsedKey(c) : "b" + e.b);
    });
    for (const k of keys) { const el = svg.getElementById(k); if (el) el.classList.add("match"); }
  }

  // -- the header and the toolbar ---------------------------------------------------------------------
  function renderHeader() {
    document.title = M.title + " · archspec";
    $("title").textContent = M.title;
    const t = M.totals;
    $("figures").innerHTML = [
      ["parameters", num(t.params)], ["MACs", num(t.macs) + " (" + compact(t.macs) + ")"],
      ["FLOPs", compact(t.flops)], ["activations", bytes(t.memory)], ["weights", bytes(t.param_bytes)],
    ].map(([k, v]) => "<span><b>" + esc(v) + "</b> " + k + "</span>").join("");
    const lv = $("levels");
    const deepest = M.levels.deepest;
    let h = "";
    for (let l = 0; l <= deepest; l++) {
      const n = M.levels.boxes[l];
      h += '<button type="button" data-level="' + l + '" title="' + n + ' boxes">' + (l === deepest ? "all" : l) + "</button>";
    }
    lv.innerHTML = h;
    renderLegend();
  }

  function setupToolbar() {
    $("levels").addEventListener("click", (e) => {
      const b = e.target.closest("[data-level]");
      if (!b) return;
      const level = +b.dataset.level;
      const n = M.levels.boxes[level];
      if (n > 1500 && !window.confirm("Opening every block draws " + n + " boxes, which takes a while to lay out. Go on?")) return;
      setLevel(level);
    });
    $("fit").addEventListener("click", () => fit(false));
    $("shade").addEventListener("change", (e) => { S.shade = e.target.value; applyShade(); });
    const split = $("splitter");
    split.addEventListener("pointerdown", (e) => {
      e.preventDefault();
      const move = (ev) => {
        const w = Math.min(Math.max(window.innerWidth - ev.clientX, 300), window.innerWidth - 260);
        document.documentElement.style.setProperty("--side", w + "px");
      };
      const up = () => { window.removeEventListener("pointermove", move); window.removeEventListener("pointerup", up); if (vb) setViewBox(vb); paintRows(); };
      window.addEventListener("pointermove", move);
      window.addEventListener("pointerup", up);
    });
  }

  // -- loading, and following the server ---------------------------------------------------------------
  async function decode(b64) {
    const bin = atob(b64.trim());
    const bytesArr = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytesArr[i] = bin.charCodeAt(i);
    const stream = new Blob([bytesArr]).stream().pipeThrough(new DecompressionStream("gzip"));
    return JSON.parse(await new Response(stream).text());
  }

  function install(model, keep) {
    // a new model; with `keep`, the open blocks, the selection and the zoom carry over by name
    const old = M;
    M = prepare(model);
    if (keep && old) {
      const open = new Set(), split = new Set();
      for (const si of S.open) { const j = M.scopeById.get(old.scopes[si].id); if (j !== undefined) open.add(j); }
      for (const gi of S.split) {
        const j = M.scopeById.get(old.scopes[old.groups[gi].members[0]].id);
        if (j !== undefined && M.scopes[j].g !== null) split.add(M.scopes[j].g);
      }
      S.open = open; S.split = split;
      const sel = S.sel;
      S.sel = null;
      if (sel && (sel.k === "b" || sel.k === "e")) {
        const ei = entryOf.call(null, sel.k === "b" ? { k: "b", i: sel.i } : sel);
        const name = ei === null || ei === undefined ? null : (old.entries[ei] || {}).name;
        const j = name ? M.byName.get(name) : undefined;
        if (j !== undefined) S.sel = M.entries[j].b !== null ? { k: "b", i: M.entries[j].b } : { k: "e", i: j };
      } else if (sel && sel.k === "S") {
        const j = M.scopeById.get(old.scopes[sel.i].id);
        if (j !== undefined) S.sel = { k: "S", i: j };
      }
    } else {
      S.open = new Set(M.open.map((id) => M.scopeById.get(id)));
      S.split = new Set();
      S.level = M.levels.default;
      S.shade = M.costs || "";
      $("shade").value = S.shade;
      S.sel = null;
    }
    renderHeader();
    updateLevels();
    renderCard();
  }

  function showDiagnostic(text) {
    const d = $("diagnostic");
    if (!text) { d.hidden = true; document.body.classList.remove("stale"); $("stale").hidden = true; return; }
    const lines = text.split("\n").map((l) => {
      const t = esc(l);
      if (/^\s*\d*\s*\|\s*\^+\s*$/.test(l)) return t.replace(/\^+/, (m) => '<span class="caret">' + m + "</span>");
      if (/^\s*= hint/.test(l)) return '<span class="hint">' + t + "</span>";
      return t;
    });
    d.innerHTML = "<h2>The spec has a mistake: the diagram is the last version that built</h2><pre>" + lines.join("\n") + "</pre>";
    d.hidden = false;
    if (M) {
      document.body.classList.add("stale");
      $("stale").hidden = false;
      $("stale").textContent = "last good version";
    }
  }

  async function follow() {
    let version = -1;
    for (;;) {
      try {
        const r = await fetch("/state?since=" + version, { cache: "no-store" });
        if (r.status === 200) {
          const st = await r.json();
          version = st.version;
          document.body.dataset.version = String(version);
          if (st.model) {
            const first = !M;
            install(st.model, !first);
            showDiagnostic(null);
            await draw(first ? null : { el: null, key: null });
          }
          showDiagnostic(st.diagnostic || null);
          if (!M && st.diagnostic) $("loading").textContent = "Waiting for a version of the spec that builds…";
          setStatus((st.diagnostic ? "error · " : "") + "updated " + new Date().toLocaleTimeString() +
            (V ? " · " + V.boxes.size + " boxes" : ""));
        }
      } catch (err) {
        setStatus("the server does not answer (" + err.message + "); retrying");
        await new Promise((res) => setTimeout(res, 1500));
      }
      await new Promise((res) => setTimeout(res, 400));
    }
  }

  async function main() {
    Engine.start();
    setupPanZoom();
    setupToolbar();
    setupTable();
    setupCard();
    if (MODE === "serve") { follow(); return; }
    try {
      install(await decode($("archspec-model").textContent), false);
    } catch (err) {
      $("loading").textContent = "This page could not read its data (" + err.message + "). A recent browser (Chrome 80, Firefox 113, Safari 16.4 or later) is needed.";
      return;
    }
    await draw(null);
  }

  // for the tests and the curious: the state and a few actions
  window.archspecView = {
    get model() { return M; }, get state() { return S; }, get view() { return V; },
    open: (id) => { const i = M.scopeById.get(id); S.open.add(i); return redraw(null); },
    select: (name) => showEntry(M.byName.get(name)),
    dot: () => V && V.dot,
  };
  main();
})();
