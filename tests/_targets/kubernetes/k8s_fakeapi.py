"""A tiny in-memory HTTP server that speaks enough of the Kubernetes API for our client code.

What it is: discovery (``/version``, ``/api``, ``/apis``, group versions),
and a generic object store with create (POST, 409 on a duplicate), get (404),
list, replace (PUT), merge patch, delete, and a log of every request. Objects
it stores look ready at once (Deployments available, Pods Ready), and a
Service's nodePort can be declared taken, so "already allocated" (422) paths
run.

What it is not: an API server. No validation, admission, defaulting,
controllers (except an instant namespace cascade), watch, or exec. A test that passes against it proves our code
sends the right requests in the right order through the real ``kubernetes``
client library; it proves nothing about how a real cluster answers them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

# group/version -> [(plural, kind, namespaced)]
RESOURCES: dict[str, list[tuple[str, str, bool]]] = {
    "v1": [
        ("namespaces", "Namespace", False),
        ("secrets", "Secret", True),
        ("services", "Service", True),
        ("pods", "Pod", True),
        ("configmaps", "ConfigMap", True),
        ("events", "Event", True),
        ("nodes", "Node", False),
    ],
    "apps/v1": [("deployments", "Deployment", True)],
    "networking.istio.io/v1": [
        ("gateways", "Gateway", True),
        ("virtualservices", "VirtualService", True),
        ("destinationrules", "DestinationRule", True),
        ("serviceentries", "ServiceEntry", True),
        ("sidecars", "Sidecar", True),
    ],
}


class FakeAPI:
    """State and request log of the fake server; see the module docstring."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}  # item path -> object
        self.requests: list[tuple[str, str]] = []  # (method, path) of object requests
        self.taken_node_ports: set[int] = set()
        self.lock = threading.Lock()
        self.url = ""
        self._version = 0

    def writes(self) -> list[tuple[str, str]]:
        return [r for r in self.requests if r[0] != "GET"]

    # -------------------------------------------------------------- handling

    def handle(self, method: str, raw_path: str, body: Any) -> tuple[int, Any]:
        parts = urlsplit(raw_path)
        path = parts.path.rstrip("/")
        query = parse_qs(parts.query)
        discovery = self._discovery(path)
        if discovery is not None:
            return 200, discovery
        with self.lock:
            self.requests.append((method, path))
            return self._store(method, path, body, query)

    def _discovery(self, path: str) -> Any:
        if path == "/version":
            return {"major": "1", "minor": "33", "gitVersion": "v1.33.1-fake"}
        if path == "/api":
            return {"kind": "APIVersions", "versions": ["v1"]}
        if path == "/apis":
            groups = []
            for group_version in RESOURCES:
                if "/" not in group_version:
                    continue
                group, version = group_version.split("/")
                entry = {"groupVersion": group_version, "version": version}
                groups.append({"name": group, "versions": [entry], "preferredVersion": entry})
            return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}
        for group_version, resources in RESOURCES.items():
            prefix = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
            if path == prefix:
                return {
                    "kind": "APIResourceList",
                    "groupVersion": group_version,
                    "resources": [
                        {
                            "name": plural,
                            "singularName": kind.lower(),
                            "kind": kind,
                            "namespaced": namespaced,
                            "verbs": ["create", "delete", "get", "list", "patch", "update"],
                        }
                        for plural, kind, namespaced in resources
                    ],
                }
        return None

    def _kind_of(self, path: str) -> tuple[str, str] | None:
        """(apiVersion, kind) of the collection ``path`` names."""
        for group_version, resources in RESOURCES.items():
            prefix = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
            if not path.startswith(prefix + "/"):
                continue
            plural = path.rstrip("/").split("/")[-1]
            for name, kind, _ in resources:
                if name == plural:
                    return group_version, kind
        return None

    def _store(
        self, method: str, path: str, body: Any, query: dict[str, list[str]]
    ) -> tuple[int, Any]:
        collection_kind = self._kind_of(path)
        if method == "POST":
            if collection_kind is None:
                return 404, _status(404, "NotFound", path)
            name = body["metadata"]["name"]
            item = f"{path}/{name}"
            if item in self.objects:
                return 409, _status(409, "AlreadyExists", f"{name} already exists")
            return 201, self._save(item, body, collection_kind)
        if method == "GET" and collection_kind is not None:
            selector = (query.get("labelSelector") or [""])[0]
            items = [
                obj
                for key, obj in self.objects.items()
                if key.rsplit("/", 1)[0] == path and _matches(obj, selector)
            ]
            api_version, kind = collection_kind
            return 200, {
                "apiVersion": api_version,
                "kind": f"{kind}List",
                "items": items,
                "metadata": {},
            }
        if path not in self.objects:
            return 404, _status(404, "NotFound", f"{path} not found")
        live = self.objects[path]
        if method == "GET":
            return 200, live
        if method == "DELETE":
            del self.objects[path]
            if live["kind"] == "Namespace":
                # The namespace controller's job, done at once here.
                inside = f"/namespaces/{live['metadata']['name']}/"
                for key in [k for k in self.objects if inside in k]:
                    del self.objects[key]
            return 200, _status(200, "Success", "deleted")
        if method == "PUT":
            if body["metadata"].get("resourceVersion") != live["metadata"]["resourceVersion"]:
                return 409, _status(409, "Conflict", "the object has been modified")
            return 200, self._save(path, body, (live["apiVersion"], live["kind"]))
        if method == "PATCH":
            merged = _merge(json.loads(json.dumps(live)), body)
            node_ports = [
                p.get("nodePort")
                for p in merged.get("spec", {}).get("ports", [])
                if p.get("nodePort")
            ]
            if len(node_ports) != len(set(node_ports)):
                return 422, _status(422, "Invalid", "duplicate nodePort")
            for port in (
                merged.get("spec", {}).get("ports", []) if live["kind"] == "Service" else []
            ):
                if port.get("nodePort") in self.taken_node_ports:
                    return 422, _status(
                        422, "Invalid", f"provided port is already allocated: {port['nodePort']}"
                    )
            return 200, self._save(path, merged, (live["apiVersion"], live["kind"]))
        return 405, _status(405, "MethodNotAllowed", method)

    def _save(self, item: str, body: dict[str, Any], kind: tuple[str, str]) -> dict[str, Any]:
        self._version += 1
        obj = json.loads(json.dumps(body))
        obj["apiVersion"], obj["kind"] = kind
        obj["metadata"]["resourceVersion"] = str(self._version)
        obj["metadata"]["generation"] = 1
        if obj["kind"] == "Deployment":
            replicas = obj.get("spec", {}).get("replicas", 1)
            obj["status"] = {"observedGeneration": 1, "availableReplicas": replicas}
        if obj["kind"] == "Pod":
            obj["status"] = {
                "phase": "Running",
                "conditions": [{"type": "Ready", "status": "True"}],
            }
        self.objects[item] = obj
        return obj

    def put(self, path: str, obj: dict[str, Any]) -> None:
        """Seed an object (e.g. kube-system/coredns) as if it had always been there."""
        kind = self._kind_of(path.rsplit("/", 1)[0])
        assert kind is not None, path
        self._save(path, obj, kind)


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure" if code >= 400 else "Success",
            "code": code, "reason": reason, "message": message}  # fmt: skip


def _matches(obj: dict[str, Any], selector: str) -> bool:
    labels = obj.get("metadata", {}).get("labels") or {}
    for term in filter(None, selector.split(",")):
        key, _, value = term.partition("=")
        if labels.get(key) != value:
            return False
    return True


def _merge(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return patch
    if not isinstance(target, dict):
        target = {}
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = _merge(target.get(key), value)
    return target


@contextmanager
def serve() -> Iterator[FakeAPI]:
    """Run a FakeAPI on a loopback port for the duration of the block."""
    api = FakeAPI()

    class Handler(BaseHTTPRequestHandler):
        def _respond(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            code, payload = api.handle(self.command, self.path, body)
            data = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _respond

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()


def kubeconfig_for(url: str, context: str = "fake") -> str:
    """A kubeconfig pointing at ``url`` without credentials."""
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": context, "cluster": {"server": url}}],
            "users": [{"name": context, "user": {}}],
            "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
            "current-context": context,
        }
    )
