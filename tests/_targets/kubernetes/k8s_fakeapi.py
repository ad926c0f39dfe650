"""A tiny in-memory HTTP server that speaks enough of the Kubernetes API for our client code.

What it is: discovery (``/version``, ``/api``, ``/apis``, group versions),
and a generic object store with create (POST, 409 on a duplicate), get (404),
list, replace (PUT), merge patch, delete, and a log of every request. Where
our code depends on how a real API server behaves, it behaves so:

- it sets ``metadata.creationTimestamp`` (its own clock, whole seconds, RFC
  3339, whatever the body says) and ``uid`` on create, and keeps both on
  update; ``generation`` goes up when the spec changes;
- custom objects with a structural schema (``FakeAPI.schemas``) lose unknown
  fields (pruning), or, with ``?fieldValidation=Strict``, are refused with
  the API server's 400 ``<Kind> in version "<v>" cannot be handled as a
  <Kind>: strict decoding error: unknown field "<path>"``;
- a LoadBalancer Service's ``status.loadBalancer`` stays empty (no
  controller assigns an address, as on plain kind);
- Deployments roll out over time, one step per read: the controller
  observes the new generation, replaces replicas one by one (the old ones
  still available meanwhile), retires the old ones, then the new ones
  become available, as ``kubectl rollout status`` watches it; DaemonSets
  likewise. Pods become Ready on their second read.
- a Service's nodePort can be declared taken ("already allocated", 422).
- server-side apply (PATCH ``application/apply-patch+yaml``) creates or
  merges, and is refused without a ``fieldManager`` (400, as the API server
  refuses it);
- a CustomResourceDefinition serves its group's ``served: true`` versions in
  discovery once stored (so CRDs applied mid-session become usable), and is
  ``Established`` from its second read;
- ``controllers``: callables run after each write (``(api, path, obj)``), for
  tests that stand in for an implementation's controllers (status, the
  objects a Gateway gets);
- the pod proxy subresource (``GET .../pods/<pod>:<port>/proxy/<path>``) answers
  with the text a test put into ``FakeAPI.pod_proxy`` (a string, or a callable
  giving the next one), as ``text/plain``; 503 when there is none, as the API
  server says when nothing listens there.

What it is not: an API server. No built-in schema validation, admission,
defaulting, other controllers (but an instant namespace cascade), watch, or
exec. A test that passes against it proves our code sends the right
requests in the right order through the real ``kubernetes`` client library
and copes with the behaviours above; nothing more about a real cluster.
"""

from __future__ import annotations

import datetime
import json
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

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
    "apps/v1": [("deployments", "Deployment", True), ("daemonsets", "DaemonSet", True)],
    "apiextensions.k8s.io/v1": [("customresourcedefinitions", "CustomResourceDefinition", False)],
    "admissionregistration.k8s.io/v1": [
        ("validatingadmissionpolicies", "ValidatingAdmissionPolicy", False),
        ("validatingadmissionpolicybindings", "ValidatingAdmissionPolicyBinding", False),
    ],
    "networking.istio.io/v1": [
        ("gateways", "Gateway", True),
        ("virtualservices", "VirtualService", True),
        ("destinationrules", "DestinationRule", True),
        ("serviceentries", "ServiceEntry", True),
        ("sidecars", "Sidecar", True),
    ],
    "security.istio.io/v1": [
        ("requestauthentications", "RequestAuthentication", True),
        ("authorizationpolicies", "AuthorizationPolicy", True),
        ("peerauthentications", "PeerAuthentication", True),
    ],
    "telemetry.istio.io/v1": [("telemetries", "Telemetry", True)],
}


_POD_PROXY = re.compile(r"^/api/v1/namespaces/([^/]+)/pods/([^/:]+):(\d+)/proxy/(.*)$")
_POD_LOG = re.compile(r"^/api/v1/namespaces/([^/]+)/pods/([^/]+)/log$")


class PlainText(str):
    """A response body served as text/plain rather than JSON."""


class FakeAPI:
    """State and request log of the fake server; see the module docstring."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}  # item path -> object
        self.requests: list[tuple[str, str]] = []  # (method, path) of object requests
        self.taken_node_ports: set[int] = set()
        # (apiVersion, kind) -> structural schema of the object (properties, items,
        # x-kubernetes-preserve-unknown-fields), as a CRD's openAPIV3Schema.
        self.schemas: dict[tuple[str, str], dict[str, Any]] = {}
        self.clock = lambda: datetime.datetime.now(datetime.timezone.utc)
        self.lock = threading.Lock()
        self.url = ""
        self._version = 0
        self._reads: dict[str, int] = {}  # item path -> reads since its last change
        # (namespace, pod, port, path) -> the text the pod serves there.
        self.pod_proxy: dict[tuple[str, str, int, str], Any] = {}
        # (namespace, pod, container) -> the container's log (a str or a callable).
        self.pod_logs: dict[tuple[str, str, str], Any] = {}
        self.log_queries: list[dict[str, list[str]]] = []  # the query of each log read
        # group/version -> resources served; CRDs add theirs (see the module docstring).
        self.resources: dict[str, list[tuple[str, str, bool]]] = {
            k: list(v) for k, v in RESOURCES.items()
        }
        self.controllers: list[Any] = []  # called as (api, item path, object) after writes
        self.content_types: list[str] = []  # Content-Type of each PATCH, in order

    def writes(self) -> list[tuple[str, str]]:
        return [r for r in self.requests if r[0] != "GET"]

    # -------------------------------------------------------------- handling

    def handle(
        self, method: str, raw_path: str, body: Any, content_type: str = ""
    ) -> tuple[int, Any]:
        parts = urlsplit(raw_path)
        path = parts.path.rstrip("/")
        query = parse_qs(parts.query)
        discovery = self._discovery(path)
        if discovery is not None:
            return 200, discovery
        # The client escapes ':' and '/' of path parameters; the API server unescapes.
        path_unquoted = unquote(path)
        proxied = _POD_PROXY.match(path_unquoted)
        if proxied is not None and method == "GET":
            with self.lock:
                self.requests.append((method, path_unquoted))
                ns, pod, port, rest = proxied.groups()
                served = self.pod_proxy.get((ns, pod, int(port), rest))
            if served is None:
                return 503, {"kind": "Status", "status": "Failure", "code": 503}
            return 200, PlainText(served() if callable(served) else served)
        logged = _POD_LOG.match(path_unquoted)
        if logged is not None and method == "GET":
            with self.lock:
                self.requests.append((method, path_unquoted))
                self.log_queries.append(query)
                ns, pod = logged.groups()
                if f"/api/v1/namespaces/{ns}/pods/{pod}" not in self.objects:
                    return 404, _status(404, "NotFound", f'pods "{pod}" not found')
                container = (query.get("container") or [""])[0]
                served = self.pod_logs.get((ns, pod, container))
            if served is None:
                # The API server's answer for a container the pod does not have.
                message = f"container {container} is not valid for pod {pod}"
                return 400, _status(400, "BadRequest", message)
            return 200, PlainText(served() if callable(served) else served)
        with self.lock:
            self.requests.append((method, path))
            if method == "PATCH":
                self.content_types.append(content_type)
            if method == "PATCH" and content_type.startswith("application/apply-patch"):
                result = self._apply(path, body, query)
            else:
                result = self._store(method, path, body, query)
            if method != "GET" and result[0] < 300 and isinstance(result[1], dict):
                for controller in self.controllers:
                    controller(self, path, result[1])
            return result

    def _apply(self, path: str, body: Any, query: dict[str, list[str]]) -> tuple[int, Any]:
        """Server-side apply: create, or merge into the live object (ownership not tracked)."""
        if not (query.get("fieldManager") or [""])[0]:
            return 400, _status(400, "BadRequest", "PATCH /apply requires fieldManager")
        collection = path.rsplit("/", 1)[0]
        kind = self._kind_of(collection)
        if kind is None:
            return 404, _status(404, "NotFound", path)
        if path not in self.objects:
            return 201, self._save(path, body, kind)
        live = self.objects[path]
        merged = _merge(json.loads(json.dumps(live)), body)
        return 200, self._save(path, merged, kind, live)

    def _discovery(self, path: str) -> Any:
        if path == "/version":
            return {"major": "1", "minor": "33", "gitVersion": "v1.33.1-fake"}
        if path == "/api":
            return {"kind": "APIVersions", "versions": ["v1"]}
        if path == "/apis":
            by_group: dict[str, list[dict[str, str]]] = {}
            for group_version, served in self.resources.items():
                if "/" not in group_version or not served:
                    continue
                group, version = group_version.split("/")
                by_group.setdefault(group, []).append(
                    {"groupVersion": group_version, "version": version}
                )
            groups = [
                {"name": group, "versions": versions, "preferredVersion": versions[0]}
                for group, versions in by_group.items()
            ]
            return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}
        for group_version, resources in self.resources.items():
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
        for group_version, resources in self.resources.items():
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
            refused = self._prune(body, collection_kind, query)
            if refused is not None:
                return 400, refused
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
            self._progress(path, live)
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
            refused = self._prune(body, (live["apiVersion"], live["kind"]), query)
            if refused is not None:
                return 400, refused
            return 200, self._save(path, body, (live["apiVersion"], live["kind"]), live)
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
            return 200, self._save(path, merged, (live["apiVersion"], live["kind"]), live)
        return 405, _status(405, "MethodNotAllowed", method)

    def _save(
        self,
        item: str,
        body: dict[str, Any],
        kind: tuple[str, str],
        live: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        self._version += 1
        obj = json.loads(json.dumps(body))
        obj["apiVersion"], obj["kind"] = kind
        meta = obj["metadata"]
        meta["resourceVersion"] = str(self._version)
        if live is None:
            meta["creationTimestamp"] = self.clock().strftime("%Y-%m-%dT%H:%M:%SZ")
            meta["uid"] = str(uuid.uuid4())
            meta["generation"] = 1
            old_available = 0
        else:
            for key in ("creationTimestamp", "uid"):
                meta[key] = live["metadata"][key]
            changed = obj.get("spec") != live.get("spec")
            meta["generation"] = live["metadata"]["generation"] + (1 if changed else 0)
            obj["status"] = live.get("status") or {}
            old_available = int(obj["status"].get("availableReplicas") or 0)
        if obj["kind"] == "Deployment" and (
            live is None or meta["generation"] != live["metadata"]["generation"]
        ):
            # A rollout starts: the old replicas stay available until replaced.
            obj["status"] = {
                "observedGeneration": meta["generation"] - 1,
                "replicas": old_available,
                "updatedReplicas": 0,
                "availableReplicas": old_available,
            }
        if obj["kind"] == "DaemonSet" and live is None:
            obj["status"] = {"observedGeneration": 0, "desiredNumberScheduled": 1}
        if obj["kind"] == "Pod" and live is None:
            obj["status"] = {
                "phase": "Pending",
                "conditions": [{"type": "Ready", "status": "False"}],
            }
        if obj["kind"] == "CustomResourceDefinition":
            self._serve(obj)
            if live is None:
                obj["status"] = {"conditions": [{"type": "Established", "status": "False"}]}
        if obj["kind"] == "Service" and obj.get("spec", {}).get("type") == "LoadBalancer":
            obj["status"] = {"loadBalancer": {}}  # pending: nobody assigns an address
        self.objects[item] = obj
        self._reads[item] = 0
        return obj

    def _serve(self, crd: dict[str, Any]) -> None:
        """Make a CRD's served versions discoverable, as the API server does once it is stored."""
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        entry = (names.get("plural"), names.get("kind"), spec.get("scope") == "Namespaced")
        for version in spec.get("versions") or []:
            group_version = f"{spec.get('group')}/{version.get('name')}"
            served = self.resources.setdefault(group_version, [])
            if version.get("served") and entry not in served:
                served.append(entry)
            elif not version.get("served") and entry in served:
                served.remove(entry)

    def _progress(self, item: str, obj: dict[str, Any]) -> None:
        """One step of the controllers' work per read (see the module docstring)."""
        self._reads[item] = self._reads.get(item, 0) + 1
        status = obj.setdefault("status", {})
        if obj["kind"] == "CustomResourceDefinition" and self._reads[item] >= 2:
            status["conditions"] = [{"type": "Established", "status": "True"}]
        if obj["kind"] == "Pod" and self._reads[item] >= 2:
            status.update(phase="Running", conditions=[{"type": "Ready", "status": "True"}])
        if obj["kind"] == "DaemonSet":
            status.update(
                observedGeneration=obj["metadata"]["generation"],
                updatedNumberScheduled=1,
                numberAvailable=1 if self._reads[item] >= 2 else 0,
            )
        if obj["kind"] != "Deployment":
            return
        wanted = int(obj.get("spec", {}).get("replicas", 1))
        generation = obj["metadata"]["generation"]
        if status.get("observedGeneration", 0) < generation:
            status["observedGeneration"] = generation
            status["replicas"] = int(status.get("replicas") or 0) + wanted  # surge
        elif status["updatedReplicas"] < wanted:
            status["updatedReplicas"] += 1
        elif status["replicas"] > status["updatedReplicas"]:
            status["replicas"] = status["updatedReplicas"]  # the old ones are gone
            status["availableReplicas"] = min(status["availableReplicas"], wanted - 1)
        elif status["availableReplicas"] < status["updatedReplicas"]:
            status["availableReplicas"] = status["updatedReplicas"]

    def _prune(
        self, body: dict[str, Any], kind: tuple[str, str], query: dict[str, list[str]]
    ) -> dict[str, Any] | None:
        """Drop fields the kind's structural schema lacks; under Strict, refuse instead."""
        schema = self.schemas.get(kind)
        if schema is None:
            return None
        unknown: list[str] = []
        _walk_unknown(body, schema, "", unknown, prune=False)
        if not unknown:
            return None
        if (query.get("fieldValidation") or [""])[0] == "Strict":
            api_version, name = kind
            version = api_version.rsplit("/", 1)[-1]
            fields = ", ".join(f'unknown field "{path}"' for path in unknown)
            message = f'{name} in version "{version}" cannot be handled as a {name}: ' + (
                f"strict decoding error: {fields}"
            )
            return _status(400, "BadRequest", message)
        _walk_unknown(body, schema, "", [], prune=True)
        return None

    def put(self, path: str, obj: dict[str, Any]) -> None:
        """Seed an object (e.g. kube-system/coredns) as if it had always been there."""
        kind = self._kind_of(path.rsplit("/", 1)[0])
        assert kind is not None, path
        saved = self._save(path, obj, kind)
        if saved["kind"] in ("Deployment", "DaemonSet", "Pod"):
            for _ in range(8):  # long since rolled out
                self._progress(path, saved)


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure" if code >= 400 else "Success",
            "code": code, "reason": reason, "message": message}  # fmt: skip


def _walk_unknown(
    node: Any, schema: dict[str, Any], path: str, found: list[str], prune: bool
) -> None:
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return
    if isinstance(node, dict) and "properties" in schema:
        for key in list(node):
            child = f"{path}.{key}" if path else key
            if key in ("apiVersion", "kind", "metadata") and not path:
                continue
            if key not in schema["properties"]:
                found.append(child)
                if prune:
                    del node[key]
                continue
            _walk_unknown(node[key], schema["properties"][key], child, found, prune)
    elif isinstance(node, list) and "items" in schema:
        for index, item in enumerate(node):
            _walk_unknown(item, schema["items"], f"{path}[{index}]", found, prune)


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
            content_type = self.headers.get("Content-Type") or ""
            code, payload = api.handle(self.command, self.path, body, content_type)
            text = isinstance(payload, PlainText)
            data = payload.encode() if text else json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain" if text else "application/json")
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
