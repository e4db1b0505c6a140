"""api/openapi.yaml against docs/api.md and against what a real declawd answers: the spec holds
together (every $ref resolves, every path parameter is declared), it has exactly the routes
docs/api.md lists, and for each route the daemon's status codes are ones the spec declares and
its answers have the declared top-level fields, of the declared types, and no others."""
import os
import re
import unittest

from support import REPO, SdkTestCase

import yaml_subset

SPEC_PATH = os.path.join(REPO, "api", "openapi.yaml")
API_DOC = os.path.join(REPO, "docs", "api.md")
METHODS = ("get", "put", "post", "delete", "patch")
JSON_TYPES = {"string": str, "integer": int, "boolean": bool, "object": dict, "array": list,
              "number": (int, float)}

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
    """(METHOD, path) pairs of docs/api.md, written there as `METHOD /v1/...`, or as
    `METHOD .../rest` for routes under /v1/sandboxes/{id}."""
    with open(API_DOC) as f:
        text = f.read()
    routes = set()
    for method, path in re.findall(r"`(GET|POST|PUT|PATCH|DELETE) ((?:/v1|\.\.\.)/[^`?\s]*)",
                                   text):
        if path.startswith("..."):
            path = "/v1/sandboxes/{id}" + path[3:]
        routes.add((method, path.replace("{id}", "{sandbox_id}")))
    return routes


class SpecHoldsTogether(unittest.TestCase):
    def test_it_is_openapi_3_0_with_a_title_and_version(self):
        self.assertRegex(SPEC["openapi"], r"^3\.0\.\d+$")
        self.assertEqual(SPEC["info"]["title"], "declawd API")
        self.assertTrue(SPEC["info"]["version"])

    def test_it_has_exactly_the_routes_of_docs_api_md(self):
        spec_routes = {(m.upper(), t) for t, m, _ in operations()}
        self.assertEqual(spec_routes, documented_routes())

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
                if op.get("x-not-built-yet"):
                    self.assertEqual(statuses, ["501"])
                else:
                    self.assertTrue(any(s.startswith("2") for s in statuses))
                for status in statuses:
                    self.assertRegex(status, r"^[1-5][0-9][0-9]$")
                    self.assertTrue(resolve(op["responses"][status]).get("description"))

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
                    kind = resolve(prop).get("type")
                    self.assertIn(kind, JSON_TYPES)


class Call:
    def __init__(self, method, template, status, query=None, body=None, raw=None):
        self.method = method
        self.template = template
        self.status = status
        self.query = query
        self.body = body
        self.raw = raw


class DaemonAnswersAsSpecified(SdkTestCase):
    """Calls each route of the spec on a real daemon, with plain HTTP (not the SDK)."""

    def setUp(self):
        api = self.daemon.client
        self.api = api
        self.sbx = api.create()
        self.addCleanup(api.kill, self.sbx)
        self.killed = api.create()
        api.kill(self.killed)
        self.covered = set()

    def calls(self):
        s = "/v1/sandboxes/{sandbox_id}"
        return [
            Call("GET", "/v1/health", 200),
            Call("GET", "/v1/sandboxes", 200),
            Call("GET", "/v1/sandboxes", 200, query={"state": "killed"}),
            Call("GET", "/v1/sandboxes", 400, query={"state": "bogus"}),
            Call("POST", "/v1/sandboxes", 201, body={"template": "base", "timeout": 60,
                                                      "metadata": {"k": "v"}}),
            Call("POST", "/v1/sandboxes", 400, body={"template": "no-such-template"}),
            Call("POST", "/v1/sandboxes", 501, body={"allow_internet_access": True}),
            Call("GET", s, 200),
            Call("GET", "/v1/sandboxes/sbx-000000000000", 404),
            Call("PATCH", s + "/timeout", 200, body={"timeout": 600}),
            Call("PATCH", s + "/timeout", 400, body={"timeout": 0}),
            Call("PATCH", "/v1/sandboxes/KILLED/timeout", 409, body={"timeout": 600}),
            Call("POST", s + "/commands", 200, body={"cmd": "echo hi; exit 3"}),
            Call("POST", s + "/commands", 200, body={"cmd": "printf '\\377'; kill -9 $$"}),
            Call("POST", s + "/commands", 200, body={"cmd": "sleep 5", "timeout": 1}),
            Call("POST", s + "/commands", 400, body={"cmd": ""}),
            Call("POST", s + "/commands", 501, body={"cmd": "true", "background": True}),
            Call("POST", "/v1/sandboxes/KILLED/commands", 409, body={"cmd": "true"}),
            Call("GET", s + "/commands", 501),
            Call("POST", s + "/commands/stream", 501, body={"cmd": "true"}),
            Call("DELETE", s + "/commands/{pid}", 501),
            Call("POST", s + "/commands/{pid}/stdin", 501, body={"data": "x"}),
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
            Call("DELETE", "/v1/sandboxes/NEW", 204),
            Call("DELETE", "/v1/sandboxes/sbx-000000000000", 404),
        ]

    def test_every_route_answers_with_declared_statuses_and_fields(self):
        for call in self.calls():
            with self.subTest(call=f"{call.method} {call.template} {call.query} -> {call.status}"):
                self.check(call)
        missing = {(m.upper(), t) for t, m, _ in operations()} - self.covered
        self.assertEqual(missing, set(), "routes of the spec that no call exercised")

    def check(self, call):
        template = call.template
        sandbox_id = self.sbx
        if "/KILLED" in template:
            template, sandbox_id = template.replace("KILLED", "{sandbox_id}"), self.killed
        if "/NEW" in template:
            template, sandbox_id = template.replace("NEW", "{sandbox_id}"), self.api.create()
        path = template.replace("{sandbox_id}", sandbox_id).replace("{pid}", "1")
        if template not in SPEC["paths"] and "sbx-000000000000" in template:
            template = template.replace("sbx-000000000000", "{sandbox_id}")
        op = SPEC["paths"][template][call.method.lower()]
        self.covered.add((call.method, template))
        if call.raw is not None:
            answer = self.api.request(call.method, path, call.raw, query=call.query, raw=True,
                                      headers={"Content-Type": "application/octet-stream"})
        else:
            answer = self.api.request(call.method, path, call.body, query=call.query)
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
        if media != "application/json":
            return
        schema = resolve(content[media]["schema"])
        self.check_value(schema, answer.json(), "body", top=True)

    def check_value(self, schema, value, where, top=False):
        schema = resolve(schema)
        if value is None:
            self.assertTrue(schema.get("nullable"), f"{where} is null")
            return
        kind = schema.get("type")
        if kind:
            expected = JSON_TYPES[kind]
            ok = isinstance(value, expected) and not (kind in ("integer", "number")
                                                      and isinstance(value, bool))
            self.assertTrue(ok, f"{where} should be {kind}: {value!r}")
        if "enum" in schema:
            self.assertIn(value, schema["enum"], where)
        if kind == "object" and top:
            for name in schema.get("required", []):
                self.assertIn(name, value, f"{where} lacks {name}")
            props = schema.get("properties", {})
            extra = schema.get("additionalProperties", True)
            for key, item in value.items():
                if key in props:
                    self.check_value(props[key], item, f"{where}.{key}",
                                     top=resolve(props[key]).get("type") == "array")
                elif extra is False:
                    self.fail(f"{where} has a field the spec does not declare: {key}")
                elif isinstance(extra, dict):
                    self.check_value(extra, item, f"{where}.{key}")
        if kind == "array" and top:
            # The items' own top-level fields too (sandboxes, entries).
            for n, item in enumerate(value):
                self.check_value(schema["items"], item, f"{where}[{n}]", top=True)


if __name__ == "__main__":
    unittest.main()
