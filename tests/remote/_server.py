"""A STAC API and a file server on 127.0.0.1 for the remote tests (http.server in a thread): files
with single Range requests, ``/stac`` (landing page, conformance, POST/GET ``/search`` with
paging), faults per path (503s that recover, 403, a truncated body), Basic auth, and a count of
the bytes sent per path."""

from __future__ import annotations

import base64
import json
import threading
from collections import Counter, defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

CORE = "https://api.stacspec.org/v1.0.0/core"
SEARCH = "https://api.stacspec.org/v1.0.0/item-search"


class Server:
    """Serve ``root`` and ``items`` (STAC Item dicts) at ``self.url``. ``faults[path]``: a list
    consumed one per request: ``503``, ``403``, ``"truncate"`` (half the body, then close), None
    (answered). ``refuse[path] = (lo, hi, status)``: the first range request starting in ``[lo, hi)``
    (a file's tiles, not its header) and every request for ``path`` after it are answered
    ``status``, as when a signature expires after the header was read.
    ``login``: (user, password) every request must carry as Basic auth."""

    def __init__(self, root: Path, items: list[dict] | None = None, login: tuple[str, str] | None = None):
        self.root = Path(root)
        self.items = items or []
        self.login = login
        self.faults: dict[str, list] = defaultdict(list)
        self.refuse: dict[str, tuple[int, int, int]] = {}  # path -> (lo, hi, status), see above
        self.expired: dict[str, int] = {}  # path -> the status every request for it now gets
        self.sent: Counter = Counter()
        self.requests: list[tuple[str, str, str | None]] = []
        self.ranges = True
        handler = type("H", (_Handler,), {"server_state": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _Handler(BaseHTTPRequestHandler):
    server_state: Server
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet
        pass

    def _json(self, doc: dict, status: int = 200) -> None:
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _fail(self, status: int) -> None:
        body = b"no"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _gate(self) -> bool:
        s = self.server_state
        path = urlsplit(self.path).path
        s.requests.append((self.command, path, self.headers.get("Range")))
        if s.login is not None:
            want = "Basic " + base64.b64encode(f"{s.login[0]}:{s.login[1]}".encode()).decode()
            if self.headers.get("Authorization") != want:
                self._fail(401)
                return False
        fault = s.faults[path].pop(0) if s.faults.get(path) else None
        rng = self.headers.get("Range") or ""
        if path in s.refuse and rng.startswith("bytes="):
            lo, hi, status = s.refuse[path]
            if lo <= int(rng[6:].split("-", 1)[0]) < hi:
                s.expired[path] = status
        if path in s.expired:
            fault = s.expired[path]
        if fault in (503, 403, 404, 500):
            self._fail(fault)
            return False
        self._truncate = fault == "truncate"
        return True

    def do_HEAD(self) -> None:
        self._file(head=True)

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path.startswith("/stac"):
            if self._gate():
                self._stac(path, parse_qs(urlsplit(self.path).query))
            return
        self._file(head=False)

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        if self._gate():
            self._stac(path, body)

    def _stac(self, path: str, params: dict) -> None:
        s = self.server_state
        base = f"{s.url}/stac"
        if path in ("/stac", "/stac/"):
            return self._json(
                {
                    "type": "Catalog",
                    "id": "test",
                    "stac_version": "1.0.0",
                    "description": "a test STAC API",
                    "conformsTo": [CORE, SEARCH],
                    "links": [
                        {"rel": "self", "href": base},
                        {"rel": "root", "href": base},
                        {"rel": "search", "href": f"{base}/search", "method": "POST", "type": "application/geo+json"},
                        {"rel": "search", "href": f"{base}/search", "method": "GET", "type": "application/geo+json"},
                    ],
                }
            )
        if path == "/stac/conformance":
            return self._json({"conformsTo": [CORE, SEARCH]})
        if path != "/stac/search":
            return self._fail(404)
        flat = {k: (v[0] if isinstance(v, list) and len(v) == 1 and k != "collections" else v) for k, v in params.items()}
        cols = flat.get("collections")
        if isinstance(cols, str):
            cols = cols.split(",")
        limit = int(flat.get("limit") or 10)
        start = int(flat.get("token") or 0)
        matching = [it for it in s.items if not cols or it.get("collection") in cols]
        when = flat.get("datetime")
        if when and "/" in when:
            lo, hi = when.split("/")
            matching = [it for it in matching if lo[:10] <= it["properties"]["datetime"][:10] <= hi[:10]]
        page = matching[start : start + limit]
        links = []
        if start + limit < len(matching):
            nxt = dict(params if self.command == "POST" else flat)
            nxt["token"] = str(start + limit)
            links.append({"rel": "next", "href": f"{base}/search", "method": "POST", "body": nxt})
        return self._json({"type": "FeatureCollection", "features": page, "links": links})

    def _file(self, head: bool) -> None:
        s = self.server_state
        if not self._gate():
            return
        rel = urlsplit(self.path).path.lstrip("/")
        f = (s.root / rel).resolve()
        if not f.is_file() or s.root.resolve() not in f.parents:
            return self._fail(404)
        data = f.read_bytes()
        rng = self.headers.get("Range")
        status, lo, hi = 200, 0, len(data) - 1
        if rng and s.ranges and rng.startswith("bytes="):
            a, _, b = rng[6:].split(",")[0].partition("-")
            lo = int(a)
            hi = min(int(b), len(data) - 1) if b else len(data) - 1
            if lo >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
        chunk = data[lo : hi + 1]
        self.send_response(status)
        self.send_header("Content-Length", str(len(chunk)))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Type", "application/octet-stream")
        if status == 206:
            self.send_header("Content-Range", f"bytes {lo}-{hi}/{len(data)}")
        self.end_headers()
        if head:
            return
        if getattr(self, "_truncate", False):
            chunk = chunk[: len(chunk) // 2]
            s.sent[rel] += len(chunk)  # counted before it is sent: a client that has it finds it counted
            self.wfile.write(chunk)
            self.close_connection = True
            return
        s.sent[rel] += len(chunk)
        self.wfile.write(chunk)
