"""A small Kubernetes API server for the RayJob endpoints the trainer calls, on 127.0.0.1.

No API server can run here, so the rayjob backend is tested through the real `kubernetes`
client against this: create (409 when the name is taken), get and list (label and field
selectors), delete, and watch, which streams events after a resourceVersion, ends after
`watch_events` events or its timeoutSeconds (the client must resume it), and answers a version
older than `compacted` with a 410 Gone ERROR event, as a real server does once its history
has moved on. A created RayJob is checked against the documented API (`rayjob_api.check`):
an unknown field or a wrong type is refused with 422, as `fieldValidation=Strict` would.
`operator(...)` plays KubeRay: it sets a RayJob's status (a MODIFIED event).
"""

from __future__ import annotations

import copy
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from rayjob_api import check

PREFIX = "/apis/ray.io/v1/namespaces/"


class FakeKube:
    def __init__(self, *, watch_events: int = 1) -> None:
        self.objects: dict[tuple[str, str], dict] = {}
        self.history: list[tuple[int, str, dict]] = []  # (resourceVersion, type, object)
        self.version, self.compacted, self.watch_events = 100, 0, watch_events
        self.requests: list[tuple[str, str, dict]] = []  # (method, path, query)
        self.changed = threading.Condition()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def kubeconfig(self, path) -> str:
        path.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "fake",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "trainer", "user": {"token": "trainer-token"}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "trainer", "namespace": "ml"}}]}))
        return str(path)

    def calls(self, method: str) -> list[tuple[str, str, dict]]:
        return [r for r in self.requests if r[0] == method]

    def _record(self, kind: str, obj: dict) -> dict:
        self.version += 1
        obj["metadata"]["resourceVersion"] = str(self.version)
        self.history.append((self.version, kind, copy.deepcopy(obj)))
        self.changed.notify_all()
        return obj

    def create(self, namespace: str, body: dict) -> tuple[int, dict]:
        problems = check(body)
        if problems:
            return 422, _status(422, "Invalid", "; ".join(problems))
        key = (namespace, body["metadata"]["name"])
        with self.changed:
            if key in self.objects:
                return 409, _status(409, "AlreadyExists", f'rayjobs.ray.io "{key[1]}" already exists')
            obj = copy.deepcopy(body)
            obj["metadata"].update(namespace=namespace, uid=f"uid-{self.version}", generation=1)
            self.objects[key] = self._record("ADDED", obj)
            return 201, obj

    def operator(self, namespace: str, name: str, **status) -> None:
        """KubeRay's part: set the RayJob's status."""
        with self.changed:
            obj = self.objects[(namespace, name)]
            obj["status"] = {**obj.get("status", {}), **status}
            self._record("MODIFIED", obj)

    def caught_up(self, timeout: float = 20) -> None:
        """Wait until a client watches from the newest version (it has seen every change)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            watches = [q for m, _, q in self.requests if m == "GET" and q.get("watch") == ["true"]]
            if watches and int(watches[-1].get("resourceVersion", ["0"])[0]) >= self.version:
                return
            time.sleep(0.02)
        raise TimeoutError(f"no watch from version {self.version} within {timeout} s")

    def delete(self, namespace: str, name: str) -> tuple[int, dict]:
        with self.changed:
            obj = self.objects.pop((namespace, name), None)
            if obj is None:
                return 404, _status(404, "NotFound", f'rayjobs.ray.io "{name}" not found')
            self._record("DELETED", obj)
            return 200, _status(200, "Success", "deleted")

    def compact(self) -> None:
        """Forget the history: a watch from any version seen so far gets 410 Gone."""
        with self.changed:
            self.compacted = self.version

    def matching(self, namespace: str, query: dict) -> list[dict]:
        return [o for (ns, _), o in self.objects.items() if ns == namespace and _selects(o, query)]


def _selects(obj: dict, query: dict) -> bool:
    for selector in query.get("labelSelector", []):
        for term in selector.split(","):
            key, _, value = term.partition("=")
            if obj["metadata"].get("labels", {}).get(key) != value:
                return False
    for selector in query.get("fieldSelector", []):
        key, _, value = selector.partition("=")
        if key != "metadata.name" or obj["metadata"]["name"] != value:
            return False
    return True


def _status(code: int, reason: str, message: str) -> dict:
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure" if code >= 400 else "Success",
            "code": code, "reason": reason, "message": message}


def _handler(kube: FakeKube):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def _route(self) -> tuple[str, str | None, dict]:
            url = urlparse(self.path)
            query = parse_qs(url.query)
            kube.requests.append((self.command, url.path, query))
            assert self.headers.get("Authorization") == "Bearer trainer-token", self.headers
            rest = url.path.removeprefix(PREFIX).split("/")
            assert url.path.startswith(PREFIX) and rest[1] == "rayjobs", url.path
            return rest[0], (rest[2] if len(rest) > 2 else None), query

        def _send(self, code: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            namespace, _, _ = self._route()
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            self._send(*kube.create(namespace, body))

        def do_DELETE(self) -> None:
            namespace, name, _ = self._route()
            if length := int(self.headers.get("Content-Length") or 0):
                self.rfile.read(length)
            self._send(*kube.delete(namespace, name))

        def do_GET(self) -> None:
            namespace, name, query = self._route()
            if query.get("watch") == ["true"]:
                return self._watch(namespace, query)
            with kube.changed:
                if name is not None:
                    obj = kube.objects.get((namespace, name))
                    return self._send(200, obj) if obj else self._send(404, _status(404, "NotFound", name))
                items = kube.matching(namespace, query)
                self._send(200, {"apiVersion": "ray.io/v1", "kind": "RayJobList", "items": items,
                                 "metadata": {"resourceVersion": str(kube.version)}})

        def _watch(self, namespace: str, query: dict) -> None:
            since = int(query.get("resourceVersion", ["0"])[0])
            deadline = time.monotonic() + min(float(query.get("timeoutSeconds", ["30"])[0]), 30)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            sent = 0
            if since < kube.compacted:
                self._chunk({"type": "ERROR", "object": _status(410, "Expired", f"too old resource version: {since}")})
            else:
                while sent < kube.watch_events and time.monotonic() < deadline:
                    with kube.changed:
                        fresh = [(v, t, o) for v, t, o in kube.history if v > since and _selects(o, query)]
                        if not fresh:
                            kube.changed.wait(max(0.0, min(0.2, deadline - time.monotonic())))
                            continue
                    for version, kind, obj in fresh[:kube.watch_events - sent]:
                        self._chunk({"type": kind, "object": obj})
                        since, sent = version, sent + 1
            self.wfile.write(b"0\r\n\r\n")

        def _chunk(self, event: dict) -> None:
            data = json.dumps(event).encode() + b"\n"
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

    return Handler
