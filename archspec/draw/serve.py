"""`archspec serve SPEC`: the interactive view on a local web server, redrawn when the spec is saved.

A standard-library HTTP server bound to 127.0.0.1. The page (`html_view.page(..., serve=True)`) asks
`GET /state?since=N` a few times a second; on each question the server looks at the modification time
and size of the spec file and of every file it `use`s, analyses the spec again when one changed, and
answers with the new version: the view model, or the diagnostic (with its caret) when the spec is
wrong, in which case the page keeps the last diagram that built beside it. Nothing but the standard
library; no file is written.
"""

from __future__ import annotations

import gzip
import json
import os
import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from archspec.diagnostics import Diagnostic, SpecError
from archspec.diagnostics import render as render_diagnostic

HOST = "127.0.0.1"


def spec_files(path: Path) -> list[Path]:
    """The spec file and the files it `use`s, transitively (resolved as archspec/lang/load.py resolves
    them; a used file that is not there yet is listed too, so that creating it counts as a change)."""
    from archspec.lang.load import SPEC_SUFFIXES, parse_any, read_text, stdlib_dir

    out = [path.resolve()]
    todo = [path]
    while todo:
        p = todo.pop()
        try:
            spec = parse_any(read_text(p), str(p))
        except SpecError:
            continue
        for use in spec.uses:
            if use.path.startswith("std/"):
                target = stdlib_dir() / use.path[4:]
                if not target.suffix:
                    target = target.with_suffix(".arch")
            else:
                target = p.parent / use.path
            if target.suffix.lower() not in SPEC_SUFFIXES:
                continue
            target = target.resolve()
            if target not in out:
                out.append(target)
                if target.is_file():
                    todo.append(target)
    return out


def _stamp(p: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(p)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


class Watcher:
    """A spec on disk, analysed again whenever it or a file it uses changes."""

    def __init__(self, path: Path, *, params: dict[str, Any] | None = None, input: Any = None,
                 options: dict[str, Any] | None = None) -> None:
        self.path = path
        self.params = params
        self.input = input
        self.options = dict(options or {})
        self.version = 0
        self.model: dict[str, Any] | None = None
        self.diagnostic: str | None = None
        self.files: list[Path] = [path.resolve()]
        self.stamps: dict[Path, tuple[int, int] | None] = {}
        self.lock = threading.Lock()
        self.refresh()

    def changed(self) -> bool:
        return any(_stamp(f) != self.stamps.get(f, ()) for f in self.files)

    def refresh(self) -> bool:
        """Analyse again if a file changed (or on the first call); returns whether there is a new version."""
        with self.lock:
            if self.version and not self.changed():
                return False
            self._build()
            return True

    def _build(self) -> None:
        from archspec.draw.html import view_model
        from archspec.report.analysis import analyze

        stamps = {f: _stamp(f) for f in self.files}
        try:
            a = analyze(self.path, params=self.params, input=self.input)
            options = dict(self.options)
            if self.model is not None:  # the page keeps its own state after the first version
                options.pop("expand", None)
            model = view_model(a, **options)
        except SpecError as e:
            self.diagnostic = render_diagnostic(e.diagnostic)
            span = e.diagnostic.span
            extra = [Path(span.file).resolve()] if span and Path(span.file).exists() else []
            self.files = list(dict.fromkeys([*self.files, *extra]))
        else:
            self.model = model
            self.diagnostic = None
            self.files = spec_files(self.path)
        for f in self.files:
            stamps.setdefault(f, _stamp(f))
        self.stamps = stamps
        self.version += 1

    def state(self, since: int) -> dict[str, Any] | None:
        """The current version for a page that has `since`, or None when it is up to date."""
        self.refresh()
        with self.lock:
            if self.version <= since:
                return None
            return {"version": self.version, "model": self.model if self.diagnostic is None else None,
                    "diagnostic": self.diagnostic, "files": [str(f) for f in self.files]}


def make_server(watcher: Watcher, port: int = 8000) -> ThreadingHTTPServer:
    """The HTTP server (not yet serving): `/` is the page, `/state?since=N` the versions."""
    from archspec.draw.html import page

    html = page(None, serve=True, title=f"{watcher.path.name} · archspec serve").encode()

    class Handler(BaseHTTPRequestHandler):
        server_version = "archspec"

        def do_GET(self) -> None:
            url = urlparse(self.path)
            if url.path in ("/", "/index.html"):
                self._send(200, html, "text/html; charset=utf-8")
            elif url.path == "/state":
                try:
                    since = int(parse_qs(url.query).get("since", ["-1"])[0])
                except ValueError:
                    since = -1
                st = watcher.state(since)
                if st is None:
                    self._send(204, b"", "application/json")
                else:
                    body = json.dumps(st, separators=(",", ":"), ensure_ascii=False, default=_jsonable).encode()
                    self._send(200, body, "application/json; charset=utf-8")
            else:
                self._send(404, b"not found\n", "text/plain; charset=utf-8")

        def _send(self, status: int, body: bytes, kind: str) -> None:
            zipped = len(body) > 2048 and "gzip" in self.headers.get("Accept-Encoding", "")
            if zipped:
                body = gzip.compress(body, compresslevel=5)
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Cache-Control", "no-store")
            if zipped:
                self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # the page asks several times a second
            pass

    try:
        server = ThreadingHTTPServer((HOST, port), Handler)
    except OSError as e:
        raise SpecError(Diagnostic("E202", f"--port {port}: cannot listen on {HOST}:{port} ({e.strerror})",
                                   hint="choose another port with --port, or --port 0 for any free one")) from None
    server.daemon_threads = True
    return server


def _jsonable(o: Any) -> Any:
    if isinstance(o, tuple):
        return list(o)
    if hasattr(o, "denominator"):
        return float(o)
    return str(o)


def serve(spec: str, *, port: int = 8000, params: dict[str, Any] | None = None, input: Any = None,
          depth: int | None = None, expand: Sequence[str] = (), costs: str | None = None, rankdir: str = "TB",
          edge_labels: bool = True, title: str | bool = True, open_browser: bool = False,
          announce: Any = print) -> None:
    """Serve the view of a spec file until interrupted; `announce` receives the line with the URL."""
    from archspec.lang.load import resolve_spec_path

    path = resolve_spec_path(spec)
    if path is None:
        raise SpecError(Diagnostic("E500", f"no spec file `{spec}`",
                                   hint="give a path to a .arch or .yaml file, or a shipped spec's name "
                                        "(`archspec zoo` lists them)"))
    watcher = Watcher(path, params=params, input=input,
                      options={"depth": depth, "expand": tuple(expand), "costs": costs, "rankdir": rankdir,
                               "edge_labels": edge_labels, "title": title})
    server = make_server(watcher, port)
    url = f"http://{HOST}:{server.server_address[1]}/"
    others = len(watcher.files) - 1
    announce(f"archspec serve: {url}  (watching {path}" + (f" and {others} file{'s' if others != 1 else ''} it uses"
                                                          if others else "") + "; Ctrl-C stops)")
    if watcher.diagnostic:
        announce(watcher.diagnostic)
    if open_browser:
        import webbrowser

        webbrowser.open(url)
    try:
        server.serve_forever(poll_interval=0.25)
    finally:
        server.server_close()
