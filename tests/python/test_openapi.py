"""api/openapi.yaml against the daemon's route table, docs/api.md and what a real declawd answers:
the spec holds together (every $ref resolves, every path parameter is declared), it has exactly
the routes of api/router.cc and of docs/api.md, and for each route the daemon's status codes are
ones the spec declares and its answers match the declared schemas: JSON bodies field by field
(types, enums, required fields, no undeclared ones), event streams event by event, and the
Prometheus text line by line."""
import json
import os
import re
import unittest

from support import REPO, SdkTestCase

import yaml_subset
from images import Image, busybox_layer

SPEC_PATH = os.path.join(REPO, "api", "openapi.yaml")
API_DOC = os.path.join(REPO, "docs", "api.md")
ROUTER = os.path.join(REPO, "api", "router.cc")
METHODS = ("get", "put", "post", "delete", "patch")
JSON_TYPES = {"string": str, "integer": int, "boolean": bool, "object": dict, "array": list,
              "number": (int, float)}
PROMETHEUS_SAMPLE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? -?[0-9.e+Inf-]+$")

with open(SPEC_PATH) as f:
    SPEC = yaml_subset.load(f.read())


def resolve(node):
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            raise AssertionError(f"only local refs are used: {ref}")
        node = SPEC
        for part in ref[2:].split("/"):
            node = node[part]
    return node


def operations():
    for template, item in SPEC["paths"].items():
        for method in METHODS:
            if method in item:
                yield template, method, item[method]


def spec_routes():
    return {(m.upper(), t) for t, m, _ in operations()}


def all_refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from all_refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from all_refs(value)


def documented_routes():
    """(METHOD, path) pairs of docs/api.md, written there as `METHOD /path`, or as
    `METHOD .../rest` for routes under /v1/sandboxes/{id}."""
    with open(API_DOC) as f:
        text = f.read()
    routes = set()
    for method, path in re.findall(r"`(GET|POST|PUT|PATCH|DELETE) ((?:\.\.\.)?/[^`?\s]*)", text):
        if path.startswith("..."):
            path = "/v1/sandboxes/{id}" + path[3:]
        routes.add((method, path.replace("{id}", "{sandbox_id}")))
    return routes


def router_routes():
    """(METHOD, path) pairs of kRoutes in api/router.cc: {"GET", "/v1/health", getHealth}."""
    with open(ROUTER) as f:
        text = f.read()
    table = re.findall(r'\{"(GET|POST|PUT|PATCH|DELETE)", "([^"]+)", \w+\}', text)
    return {(method, path.replace("{id}", "{sandbox_id}")) for method, path in table}


def schema_types(schema):
    """The JSON types a property schema allows: its type, or those of its oneOf."""
    schema = resolve(schema)
    if "oneOf" in schema:
        return [resolve(alternative).get("type") for alternative in schema["oneOf"]]
    return [schema.get("type")]


def problems(schema, value, where):
    """How VALUE breaks SCHEMA (type, nullable, enum, oneOf, required, properties,
    additionalProperties, items), as a list of sentences; empty when it conforms."""
    schema = resolve(schema)
    if value is None:
        return [] if schema.get("nullable") else [f"{where} is null"]
    if "oneOf" in schema:
        matches = [alt for alt in schema["oneOf"] if not problems(alt, value, where)]
        if len(matches) == 1:
            return []
        return [f"{where} matches {len(matches)} of the oneOf schemas, not exactly one: "
                f"{json.dumps(value)[:200]}"]
    kind = schema.get("type")
    if kind:
        ok = isinstance(value, JSON_TYPES[kind]) and not (kind in ("integer", "number")
                                                         and isinstance(value, bool))
        if not ok:
            return [f"{where} should be {kind}: {value!r}"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{where} is {value!r}, not one of {schema['enum']}"]
    found = []
    if kind == "object":
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        found += [f"{where} lacks {name}" for name in schema.get("required", [])
                  if name not in value]
        for key, item in value.items():
            if key in props:
                found += problems(props[key], item, f"{where}.{key}")
            elif extra is False:
                found.append(f"{where} has a field the spec does not declare: {key}")
            elif isinstance(extra, dict):
                found += problems(extra, item, f"{where}.{key}")
    if kind == "array":
        for n, item in enumerate(value):
            found += problems(schema["items"], item, f"{where}[{n}]")
    return found


def parse_events(body):
    """[(event name, data dict)] of a text/event-stream body; comment lines are skipped."""
    events = []
    for block in body.decode("utf-8").split("\n\n"):
        name, data = None, []
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            field, _, text = line.partition(": ")
            if field == "event":
                name = text
            elif field == "data":
                data.append(text)
            else:
                raise AssertionError(f"not an event-stream line: {line!r}")
        if name is not None:
            events.append((name, json.loads("\n".join(data))))
    return events


class SpecHoldsTogether(unittest.TestCase):
    def test_it_is_openapi_3_0_with_a_title_and_version(self):
        self.assertRegex(SPEC["openapi"], r"^3\.0\.\d+$")
        self.assertEqual(SPEC["info"]["title"], "declawd API")
        self.assertTrue(SPEC["info"]["version"])

    def test_it_has_exactly_the_routes_of_the_daemons_route_table(self):
        self.assertGreater(len(router_routes()), 30, "api/router.cc's table was not found")
        self.assertEqual(spec_routes(), router_routes())

    def test_it_has_exactly_the_routes_of_docs_api_md(self):
        self.assertEqual(spec_routes(), documented_routes())

    def test_every_ref_resolves(self):
        for ref in all_refs(SPEC):
            with self.subTest(ref=ref):
                self.assertIsInstance(resolve({"$ref": ref}), dict)

    def test_every_operation_is_named_described_and_answers_something(self):
        names = [op["operationId"] for _, _, op in operations()]
        self.assertEqual(len(names), len(set(names)), "operationIds must be unique")
        for template, method, op in operations():
            with self.subTest(route=f"{method.upper()} {template}"):
                self.assertTrue(op.get("summary"))
                statuses = list(op["responses"])
                self.assertTrue(any(s.startswith("2") for s in statuses))
                for status in statuses:
                    self.assertRegex(status, r"^[1-5][0-9][0-9]$")
                    self.assertTrue(resolve(op["responses"][status]).get("description"))

    def test_every_event_stream_names_its_events_and_their_schemas(self):
        for template, method, op in operations():
            for status, response in op["responses"].items():
                content = resolve(response).get("content", {})
                if "text/event-stream" not in content:
                    continue
                with self.subTest(route=f"{method.upper()} {template} {status}"):
                    events = content["text/event-stream"]["x-events"]
                    if template.endswith("/files/watch"):
                        self.assertLessEqual({"start", "fs", "lost", "end"}, set(events))
                    else:
                        self.assertLessEqual({"start", "stdout", "stderr", "exit"}, set(events))
                    for schema in events.values():
                        self.assertEqual(resolve(schema)["type"], "object")

    def test_every_path_parameter_is_declared(self):
        for template, method, op in operations():
            params = [resolve(p) for p in SPEC["paths"][template].get("parameters", [])
                      + op.get("parameters", [])]
            declared = {p["name"] for p in params if p["in"] == "path"}
            with self.subTest(route=f"{method.upper()} {template}"):
                self.assertEqual(declared, set(re.findall(r"\{(\w+)\}", template)))
                for p in params:
                    self.assertIn(p["in"], ("path", "query"))
                    if p["in"] == "path":
                        self.assertTrue(p.get("required"))

    def test_required_fields_are_declared_properties(self):
        for name, schema in SPEC["components"]["schemas"].items():
            with self.subTest(schema=name):
                for field in schema.get("required", []):
                    self.assertIn(field, schema.get("properties", {}))
                for prop in schema.get("properties", {}).values():
                    for kind in schema_types(prop):
                        self.assertIn(kind, JSON_TYPES)

    def test_the_checker_finds_what_breaks_a_schema(self):
        info = {"$ref": "#/components/schemas/ProcessInfo"}
        self.assertIn("body lacks pid", problems(info, {}, "body"))
        self.assertTrue(problems({"$ref": "#/components/schemas/SandboxMetrics"},
                                 {"timestamp": 1}, "body"))
        either = SPEC["paths"]["/v1/sandboxes/{sandbox_id}/commands"]["post"]["responses"]
        schema = either["200"]["content"]["application/json"]["schema"]
        self.assertTrue(problems(schema, {"pid": 1}, "body"), "matches neither")
        self.assertTrue(problems({"$ref": "#/components/schemas/Lifecycle"},
                                 {"on_timeout": "hibernate"}, "body"))


class Call:
    """One request and the status it must get. `pid` names the process a {pid} route is about:
    "bg" (a running background cat), "pty" (a running terminal), "done" (a finished command)
    or "gone" (a pid the sandbox never had); `name` the template of a {name} route. `raw` is
    a body sent as it is, with `content_type`."""

    def __init__(self, method, template, status, query=None, body=None, raw=None, pid=None,
                 name=None, content_type="application/octet-stream", during=None, port=8000):
        self.method = method
        self.template = template
        self.status = status
        self.query = query
        self.body = body
        self.raw = raw
        self.pid = pid
        self.name = name
        self.content_type = content_type
        # Called with the sandbox id once the answer's status is in, before its body is read:
        # what makes a stream (a watch) end.
        self.during = during
        self.port = port  # for a {port} route


def archive_call(status, name, archive, query=None):
    """PUT /v1/templates/{name} with an image archive."""
    return Call("PUT", "/v1/templates/{name}", status, name=name, raw=archive, query=query,
                content_type="application/x-tar")


class DaemonAnswersAsSpecified(SdkTestCase):
    """Calls each route of the spec on a real daemon, with plain HTTP (not the SDK)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # A real image to import: busybox-static in one layer (tests/integration/images.py).
        cls.archive = Image([busybox_layer()], env=["PATH=/bin"]).oci_archive()

    def setUp(self):
        api = self.daemon.client
        self.api = api
        self.sbx = api.create(resources={"memory_mb": 64})
        self.addCleanup(api.kill, self.sbx)
        self.killed = api.create()
        api.kill(self.killed)
        sandbox = f"/v1/sandboxes/{self.sbx}"
        background = api.request("POST", sandbox + "/commands", {"cmd": "cat", "background": True})
        terminal = api.request("POST", sandbox + "/pty", {"size": {"rows": 24, "cols": 80}})
        self.pids = {"bg": background.json()["pid"], "pty": terminal.json()["pid"],
                     "done": api.run(self.sbx, "echo done")["pid"], "gone": 999999}
        self.covered = set()
        self.loopback = api.create(network={"loopback_inet": True})
        self.addCleanup(api.kill, self.loopback)

    def calls(self):
        s = "/v1/sandboxes/{sandbox_id}"
        p = s + "/commands/{pid}"
        return [
            Call("GET", "/v1/health", 200),
            Call("GET", "/metrics", 200),
            Call("GET", "/v1/sandboxes", 200),
            Call("GET", "/v1/sandboxes", 200, query={"state": "killed"}),
            Call("GET", "/v1/sandboxes", 200, query={"state": "paused,running"}),
            Call("GET", "/v1/sandboxes", 400, query={"state": "bogus"}),
            Call("GET", "/v1/sandboxes", 200, query={"all": "true", "limit": "1"}),
            Call("GET", "/v1/sandboxes", 400, query={"next_token": "bogus"}),
            Call("POST", "/v1/sandboxes", 201, body={"template": "base", "timeout": 60,
                                                      "metadata": {"k": "v"}}),
            Call("POST", "/v1/sandboxes", 201, body={
                "resources": {"cpu": 0.5, "memory_mb": 256, "pids": 64, "disk_mb": 64},
                "lifecycle": {"on_timeout": "pause"}}),
            Call("POST", "/v1/sandboxes", 400, body={"template": "no-such-template"}),
            Call("POST", "/v1/sandboxes", 400, body={"resources": {"gpus": 1}}),
            Call("POST", "/v1/sandboxes", 400, body={"resources": {"memory_mb": 1}}),
            Call("POST", "/v1/sandboxes", 400, body={"lifecycle": {"on_timeout": "hibernate"}}),
            Call("POST", "/v1/sandboxes", 501, body={"allow_internet_access": True}),
            # Networking is off in test daemons: rules are kept for a sandbox without a link.
            Call("POST", "/v1/sandboxes", 201, body={
                "allow_internet_access": False,
                "network": {"allow_out": ["Example.com", "10.1.0.0/16"], "deny_out": None}}),
            Call("POST", "/v1/sandboxes", 400, body={
                "allow_internet_access": False, "network": {"allow_out": ["10.0.0.0/33"]}}),
            Call("POST", "/v1/sandboxes", 400, body={
                "allow_internet_access": False, "network": {"egress_proxy": {}}}),
            Call("POST", "/v1/sandboxes", 501, body={"network": {"deny_out": ["ALL_TRAFFIC"]}}),
            Call("GET", s + "/network", 200),
            Call("GET", "/v1/sandboxes/KILLED/network", 200),
            Call("GET", "/v1/sandboxes/sbx-000000000000/network", 404),
            Call("PATCH", s + "/network", 200,
                 body={"allow_out": ["a.example"], "deny_out": ["0.0.0.0/0"]}),
            Call("PATCH", s + "/network", 200, body={"allow_internet_access": False}),
            Call("PATCH", s + "/network", 400, body={"allow_out": ["bad..example"]}),
            Call("PATCH", s + "/network", 400, body={}),
            Call("PATCH", s + "/network", 409, body={"allow_internet_access": True}),
            Call("PATCH", "/v1/sandboxes/KILLED/network", 409, body={"deny_out": []}),
            Call("PATCH", "/v1/sandboxes/sbx-000000000000/network", 404, body={"deny_out": []}),
            Call("GET", s, 200),
            Call("GET", "/v1/sandboxes/sbx-000000000000", 404),
            Call("PATCH", s + "/timeout", 200, body={"timeout": 600}),
            Call("PATCH", s + "/timeout", 400, body={"timeout": 0}),
            Call("PATCH", "/v1/sandboxes/KILLED/timeout", 409, body={"timeout": 600}),
            Call("GET", s + "/metrics", 200),
            Call("GET", "/v1/sandboxes/KILLED/metrics", 409),
            Call("GET", "/v1/sandboxes/sbx-000000000000/metrics", 404),
            Call("GET", s + "/metrics/history", 200),
            Call("GET", s + "/metrics/history", 200,
                 query={"start": "2026-01-01T00:00:00Z", "end": "4102444800"}),
            Call("GET", s + "/metrics/history", 400, query={"start": "yesterday"}),
            Call("GET", "/v1/sandboxes/KILLED/metrics/history", 409),
            Call("GET", "/v1/sandboxes/sbx-000000000000/metrics/history", 404),
            Call("POST", s + "/commands", 200, body={"cmd": "echo hi; exit 3"}),
            Call("POST", s + "/commands", 200, body={"cmd": "printf '\\377'; kill -9 $$"}),
            Call("POST", s + "/commands", 200, body={"cmd": "sleep 5", "timeout": 1}),
            Call("POST", s + "/commands", 200,
                 body={"cmd": "python3 -c 'data = b\"x\" * (256 << 20)'"}),
            Call("POST", s + "/commands", 200, body={"cmd": "sleep 60", "background": True}),
            Call("POST", s + "/commands", 400, body={"cmd": ""}),
            Call("POST", "/v1/sandboxes/KILLED/commands", 409, body={"cmd": "true"}),
            Call("GET", s + "/commands", 200),
            Call("GET", "/v1/sandboxes/KILLED/commands", 409),
            Call("POST", s + "/commands/stream", 200,
                 body={"cmd": "echo out; echo err >&2; printf '\\377'; exit 3"}),
            Call("POST", s + "/commands/stream", 400, body={"cmd": ""}),
            Call("GET", p, 200, pid="bg"),
            Call("GET", p, 200, pid="done"),
            Call("GET", p, 404, pid="gone"),
            Call("GET", p + "/stream", 200, pid="done"),
            Call("GET", p + "/stream", 200, pid="bg", query={"follow": "false"}),
            Call("GET", p + "/stream", 400, pid="bg", query={"follow": "maybe"}),
            Call("GET", p + "/stream", 404, pid="gone"),
            Call("GET", p + "/wait", 200, pid="done"),
            Call("GET", p + "/wait", 408, pid="bg", query={"timeout": 1}),
            Call("GET", p + "/wait", 400, pid="bg", query={"timeout": "soon"}),
            Call("POST", p + "/signal", 204, pid="bg", body={"signal": "CONT"}),
            Call("POST", p + "/signal", 400, pid="bg", body={"signal": "NOPE"}),
            Call("POST", p + "/signal", 409, pid="done", body={"signal": 15}),
            Call("POST", p + "/stdin", 204, pid="bg", body={"data": "typed\n"}),
            Call("POST", p + "/stdin", 204, pid="pty", body={"data_base64": "ZWNobyBoaQ0="}),
            Call("POST", p + "/stdin", 400, pid="bg", body={}),
            Call("POST", p + "/stdin", 409, pid="done", body={"data": "late"}),
            Call("POST", p + "/resize", 204, pid="pty", body={"rows": 40, "cols": 120}),
            Call("POST", p + "/resize", 400, pid="bg", body={"rows": 40, "cols": 120}),
            Call("POST", p + "/resize", 400, pid="pty", body={"rows": 0, "cols": 120}),
            Call("DELETE", p + "/stdin", 400, pid="pty"),
            Call("DELETE", p + "/stdin", 204, pid="bg"),
            Call("DELETE", p + "/stdin", 404, pid="gone"),
            Call("POST", s + "/pty", 200, body={"size": {"rows": 24, "cols": 80}}),
            Call("POST", s + "/pty", 200, body={"size": {"rows": 24, "cols": 80},
                                                "cmd": "tty", "user": "root"}),
            Call("POST", s + "/pty", 400, body={}),
            Call("DELETE", p, 204, pid="pty"),
            Call("DELETE", p, 204, pid="done"),
            Call("DELETE", p, 404, pid="gone"),
            Call("PUT", s + "/files/raw", 200, query={"path": "/tmp/a.bin"}, raw=b"\x00\xff"),
            Call("PUT", s + "/files/raw", 403, query={"path": "/etc/a.bin"}, raw=b"x"),
            Call("GET", s + "/files/raw", 200, query={"path": "/tmp/a.bin"}),
            Call("GET", s + "/files/raw", 400, query={"path": "/tmp"}),
            Call("GET", s + "/files/raw", 403, query={"path": "/root/x"}),
            Call("GET", s + "/files/raw", 404, query={"path": "/tmp/missing"}),
            Call("POST", s + "/files", 200, query={"path": "/tmp/t.txt"}, body={"content": "hé"}),
            Call("POST", s + "/files", 200, query={"path": "/tmp/b.bin"},
                 body={"content_base64": "AP8="}),
            Call("POST", s + "/files", 400, query={"path": "/tmp/t.txt"}, body={}),
            Call("GET", s + "/files", 200, query={"path": "/tmp/t.txt"}),
            Call("GET", s + "/files", 200, query={"path": "/tmp/b.bin"}),
            Call("GET", s + "/files", 404, query={"path": "/tmp/missing"}),
            Call("POST", s + "/files/mkdir", 201, query={"path": "/tmp/d/e"}),
            Call("POST", s + "/files/mkdir", 200, query={"path": "/tmp/d/e"}),
            Call("POST", s + "/files/mkdir", 409, query={"path": "/tmp/t.txt"}),
            # The watch ends (end: removed) once its directory goes.
            Call("POST", s + "/files/mkdir", 201, query={"path": "/tmp/wd/sub"}),
            Call("GET", s + "/files/watch", 200, query={"path": "/tmp/wd", "recursive": "true"},
                 during=lambda sbx: self.api.run(sbx, "touch /tmp/wd/sub/n && rm -r /tmp/wd")),
            Call("GET", s + "/files/watch", 404, query={"path": "/tmp/nothing"}),
            # This sandbox has no inet sockets: nothing in it can listen on 127.0.0.1.
            Call("GET", s + "/ports/{port}", 409),
            Call("POST", s + "/ports/{port}", 409, body={"listen": "127.0.0.1:0"}),
            Call("GET", s + "/ports/{port}", 400, port=0),
            Call("GET", s + "/ports", 200),
            Call("DELETE", s + "/ports/{port}", 404),
            Call("GET", "/v1/sandboxes/LOOPBACK/ports/{port}", 200),
            Call("POST", "/v1/sandboxes/LOOPBACK/ports/{port}", 200,
                 body={"listen": "127.0.0.1:0"}),
            Call("POST", "/v1/sandboxes/LOOPBACK/ports/{port}", 400, port=8001,
                 body={"listen": "0.0.0.0:80"}),
            Call("GET", "/v1/sandboxes/LOOPBACK/ports", 200),
            Call("DELETE", "/v1/sandboxes/LOOPBACK/ports/{port}", 204),
            Call("GET", s + "/files/watch", 400, query={"path": "/tmp/t.txt"}),
            Call("GET", s + "/files/watch", 400, query={"path": "/tmp", "recursive": "maybe"}),
            Call("GET", s + "/files/list", 200, query={"path": "/tmp", "depth": 2}),
            Call("GET", s + "/files/list", 400, query={"path": "/tmp", "depth": 0}),
            Call("GET", s + "/files/list", 404, query={"path": "/tmp/missing"}),
            Call("GET", s + "/files/info", 200, query={"path": "/tmp/t.txt"}),
            Call("GET", s + "/files/info", 404, query={"path": "/tmp/missing"}),
            Call("GET", s + "/files/exists", 200, query={"path": "/tmp/t.txt"}),
            Call("GET", s + "/files/exists", 400),
            Call("PATCH", s + "/files", 200, query={"path": "/tmp/t.txt"},
                 body={"new_path": "/tmp/u.txt"}),
            Call("PATCH", s + "/files", 400, query={"path": "/tmp/u.txt"}, body={}),
            Call("PATCH", s + "/files", 404, query={"path": "/tmp/missing"},
                 body={"new_path": "/tmp/v.txt"}),
            Call("DELETE", s + "/files", 204, query={"path": "/tmp/d"}),
            Call("DELETE", s + "/files", 400, query={"path": "/"}),
            Call("DELETE", s + "/files", 404, query={"path": "/tmp/d"}),
            # Paused: commands, processes and files are refused; info, metrics, timeout and network
            # work.
            Call("POST", s + "/pause", 200),
            Call("POST", s + "/pause", 200),
            Call("GET", "/v1/sandboxes", 200, query={"state": "paused"}),
            Call("POST", s + "/commands", 409, body={"cmd": "true"}),
            Call("POST", s + "/commands/stream", 409, body={"cmd": "true"}),
            Call("GET", s + "/commands", 409),
            Call("GET", p, 409, pid="bg"),
            Call("POST", s + "/pty", 409, body={"size": {"rows": 24, "cols": 80}}),
            Call("GET", s + "/files/raw", 409, query={"path": "/tmp/a.bin"}),
            Call("PUT", s + "/files/raw", 409, query={"path": "/tmp/c.bin"}, raw=b"x"),
            Call("GET", s + "/files", 409, query={"path": "/tmp/b.bin"}),
            Call("POST", s + "/files", 409, query={"path": "/tmp/c.txt"}, body={"content": "x"}),
            Call("GET", s + "/files/list", 409, query={"path": "/tmp"}),
            Call("GET", s + "/files/info", 409, query={"path": "/tmp/b.bin"}),
            Call("GET", s + "/files/exists", 409, query={"path": "/tmp/b.bin"}),
            Call("POST", s + "/files/mkdir", 409, query={"path": "/tmp/f"}),
            Call("PATCH", s + "/files", 409, query={"path": "/tmp/b.bin"},
                 body={"new_path": "/tmp/c.bin"}),
            Call("DELETE", s + "/files", 409, query={"path": "/tmp/b.bin"}),
            Call("GET", s, 200),
            Call("GET", s + "/metrics", 200),
            Call("PATCH", s + "/timeout", 200, body={"timeout": 600}),
            Call("GET", s + "/network", 200),
            Call("PATCH", s + "/network", 200, body={"allow_out": []}),
            Call("POST", s + "/resume", 200),
            Call("POST", s + "/resume", 200),
            Call("POST", "/v1/sandboxes/KILLED/pause", 409),
            Call("POST", "/v1/sandboxes/KILLED/resume", 409),
            Call("POST", "/v1/sandboxes/sbx-000000000000/pause", 404),
            Call("POST", "/v1/sandboxes/sbx-000000000000/resume", 404),
            Call("DELETE", "/v1/sandboxes/NEW", 204),
            Call("DELETE", "/v1/sandboxes/sbx-000000000000", 404),
        ] + self.template_calls()

    def template_calls(self):
        s = "/v1/sandboxes/{sandbox_id}"
        t = "/v1/templates/{name}"
        archive = self.archive
        return [
            Call("GET", "/v1/templates", 200),
            archive_call(201, "spec-img", archive),
            archive_call(201, "spec-img", archive, query={"replace": "true"}),
            archive_call(409, "spec-img", archive),
            archive_call(409, "base", archive),
            archive_call(400, "-bad", archive),
            archive_call(400, "spec-junk", b"not an image archive"),
            archive_call(201, "spec-gone", archive),
            Call("GET", "/v1/templates", 200),
            Call("GET", t, 200, name="spec-img"),
            Call("GET", t, 200, name="base"),
            Call("GET", t, 404, name="no-such"),
            Call("GET", t, 400, name="-bad"),
            Call("GET", t + "/archive", 200, name="spec-img"),
            Call("GET", t + "/archive", 409, name="base"),
            Call("GET", t + "/archive", 404, name="no-such"),
            # A live sandbox on spec-img: its template cannot be deleted.
            Call("POST", "/v1/sandboxes", 201, body={"template": "spec-img"}),
            Call("DELETE", t, 409, name="spec-img"),
            Call("DELETE", t, 409, name="base"),
            Call("DELETE", t, 204, name="spec-gone"),
            Call("DELETE", t, 404, name="spec-gone"),
            Call("DELETE", t, 400, name="-bad"),
            Call("POST", s + "/snapshots", 201, body={"name": "spec-snap"}),
            Call("POST", s + "/snapshots", 409, body={"name": "spec-snap"}),
            Call("POST", s + "/snapshots", 201, body={"name": "spec-snap", "replace": True}),
            Call("POST", s + "/snapshots", 409, body={"name": "base", "replace": True}),
            Call("POST", s + "/snapshots", 400, body={}),
            Call("POST", s + "/snapshots", 400, body={"name": "a b"}),
            Call("GET", t, 200, name="spec-snap"),
            Call("POST", "/v1/sandboxes", 201, body={"template": "spec-snap"}),
            Call("POST", "/v1/sandboxes/KILLED/snapshots", 409, body={"name": "spec-late"}),
            Call("POST", "/v1/sandboxes/sbx-000000000000/snapshots", 404, body={"name": "x"}),
        ]

    def test_every_route_answers_with_declared_statuses_and_bodies(self):
        for call in self.calls():
            with self.subTest(call=f"{call.method} {call.template} {call.query} "
                                   f"{call.pid or call.name or ''} -> {call.status}"):
                self.check(call)
        self.assertEqual(spec_routes() - self.covered, set(),
                         "routes of the spec that no call exercised")

    def check(self, call):
        template = call.template
        sandbox_id = self.sbx
        if "/KILLED" in template:
            template, sandbox_id = template.replace("KILLED", "{sandbox_id}"), self.killed
        if "/LOOPBACK" in template:
            template = template.replace("LOOPBACK", "{sandbox_id}")
            sandbox_id = self.loopback
        if "/NEW" in template:
            template, sandbox_id = template.replace("NEW", "{sandbox_id}"), self.api.create()
        path = template.replace("{sandbox_id}", sandbox_id)
        if call.pid:
            path = path.replace("{pid}", str(self.pids[call.pid]))
        if call.name:
            path = path.replace("{name}", call.name)
        path = path.replace("{port}", str(call.port))
        if template not in SPEC["paths"] and "sbx-000000000000" in template:
            template = template.replace("sbx-000000000000", "{sandbox_id}")
        op = SPEC["paths"][template][call.method.lower()]
        self.covered.add((call.method, template))
        if call.raw is not None:
            answer = self.api.request(call.method, path, call.raw, query=call.query, raw=True,
                                      headers={"Content-Type": call.content_type})
        else:
            during = None
            if call.during is not None:
                def during(status, sandbox_id=sandbox_id):
                    if status == 200:
                        call.during(sandbox_id)
            answer = self.api.request(call.method, path, call.body, query=call.query,
                                      on_status=during)
        if call.method == "POST" and template == "/v1/sandboxes" and answer.status == 201:
            self.addCleanup(self.api.kill, answer.json()["sandbox_id"])
        self.assertEqual(answer.status, call.status, answer)
        declared = op["responses"].get(str(answer.status))
        self.assertIsNotNone(declared, f"status {answer.status} is not in the spec")
        content = resolve(declared).get("content")
        if not content:
            self.assertEqual(answer.body, b"", "a response declared without content")
            return
        media = answer.headers.get("Content-Type", "").split(";")[0]
        self.assertIn(media, content)
        if media == "application/json":
            self.assertEqual(problems(content[media]["schema"], answer.json(), "body"), [])
        elif media == "text/event-stream":
            self.check_events(content[media]["x-events"], answer.body)
        elif media == "text/plain":
            self.check_prometheus(answer.body.decode("utf-8"))

    def check_events(self, declared, body):
        events = parse_events(body)
        self.assertTrue(events, "an event stream without events")
        self.assertEqual(events[0][0], "start")
        names = [name for name, _ in events]
        if "exit" in names:
            self.assertEqual(names.index("exit"), len(names) - 1, "events after exit")
        for n, (name, data) in enumerate(events):
            self.assertIn(name, declared, f"event {n} is not declared")
            self.assertEqual(problems(declared[name], data, f"event {n} ({name})"), [])

    def check_prometheus(self, text):
        self.assertIn("# TYPE declaw_sandboxes gauge", text)
        for line in text.splitlines():
            if line.startswith("#"):
                self.assertRegex(line, r"^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$")
            else:
                self.assertRegex(line, PROMETHEUS_SAMPLE)


class LinkedSandboxAnswersAsSpecified(SdkTestCase):
    """With networking on (in the test daemon's own network namespace), a sandbox with a link:
    its address fields, traffic counters and the health's network object are strings and
    integers where the spec says, not only nulls."""

    daemon_config = {"network": "auto", "net_pool": "198.18.0.0/16",
                     "dns_upstream": ["198.19.0.53:53"]}

    def schema(self, template, method, status="200"):
        response = resolve(SPEC["paths"][template][method]["responses"][status])
        return response["content"]["application/json"]["schema"]

    def test_a_linked_sandbox_and_the_health_match_the_spec(self):
        api = self.daemon.client
        created = api.request("POST", "/v1/sandboxes", {
            "network": {"allow_out": ["example.com"], "deny_out": ["ALL_TRAFFIC"]}})
        self.assertEqual(created.status, 201, created)
        sbx = created.json()["sandbox_id"]
        self.addCleanup(api.kill, sbx)
        s = "/v1/sandboxes/{sandbox_id}"
        answers = [
            (self.schema("/v1/health", "get"), api.request("GET", "/v1/health")),
            (self.schema("/v1/sandboxes", "post", "201"), created),
            (self.schema(s, "get"), api.request("GET", f"/v1/sandboxes/{sbx}")),
            (self.schema(s + "/network", "get"),
             api.request("GET", f"/v1/sandboxes/{sbx}/network")),
            (self.schema(s + "/network", "patch"),
             api.request("PATCH", f"/v1/sandboxes/{sbx}/network", {"deny_out": []})),
            (self.schema(s + "/metrics", "get"),
             api.request("GET", f"/v1/sandboxes/{sbx}/metrics")),
        ]
        for schema, answer in answers:
            with self.subTest(answer=answer):
                self.assertEqual(answer.status // 100, 2, answer)
                self.assertEqual(problems(schema, answer.json(), "body"), [])
        self.assertIsInstance(answers[0][1].json()["network"]["pool"], str)
        self.assertIsInstance(answers[3][1].json()["address"], str)
        self.assertIsInstance(answers[5][1].json()["net_rx_bytes"], int)


if __name__ == "__main__":
    unittest.main()
