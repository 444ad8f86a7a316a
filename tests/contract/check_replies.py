#!/usr/bin/env python3
"""Check replies recorded from a running suanlid against api/openapi.yaml (python3 stdlib only).

Not part of run.sh (it needs a server and a database); use it when you exercise routes by
hand.  Input: a JSON bundle of the spec (`redocly bundle api/openapi.yaml --ext json`) and
replies as JSON lines, one per reply:

  {"method": "GET", "path": "/v1/orders/{id}", "status": 200, "body": {...}}

where `path` is the spec's path template.  Each reply must use a status the operation
declares, and its body must match that response's schema.  Response objects are checked
closed: a key that the schema's `properties` do not name is reported too (the spec leaves
response objects open for forward compatibility, but the server must not send fields the
spec does not describe).  Error bodies must carry a name the operation lists in `x-errors`
whose status is the reply's.

Supports the JSON Schema subset the spec uses: $ref, allOf/oneOf/anyOf/not, if/then/else,
type (incl. lists), const, enum, required, properties, additionalProperties, min/maxProperties,
items, min/maxItems, uniqueItems, min/maxLength, pattern, minimum/maximum,
exclusiveMinimum, format date-time (RFC 3339 UTC with Z in replies).

Usage: check_replies.py BUNDLE.json REPLIES.jsonl [--open]   (--open: do not report extra keys)
Exit status 0 when every reply matches, 1 otherwise, 2 on input errors.
"""
import argparse
import json
import re
import sys

UTC_TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


class Validator:
    def __init__(self, doc, closed=True):
        self.doc = doc
        self.closed = closed

    def resolve(self, schema):
        while isinstance(schema, dict) and "$ref" in schema:
            node = self.doc
            for part in schema["$ref"][2:].split("/"):
                node = node[part.replace("~1", "/").replace("~0", "~")]
            schema = node
        return schema

    @staticmethod
    def type_ok(t, v):
        if t == "null":
            return v is None
        if t == "boolean":
            return isinstance(v, bool)
        if t == "integer":
            return isinstance(v, int) and not isinstance(v, bool)
        if t == "number":
            return isinstance(v, (int, float)) and not isinstance(v, bool)
        if t == "string":
            return isinstance(v, str)
        if t == "array":
            return isinstance(v, list)
        if t == "object":
            return isinstance(v, dict)
        return False

    def known_keys(self, schema, seen=None):
        """Every property name a schema (through allOf/oneOf/anyOf/if/then/else) names."""
        schema = self.resolve(schema)
        if not isinstance(schema, dict):
            return set(), False
        keys = set(schema.get("properties", {}))
        described = "properties" in schema
        for k in ("allOf", "oneOf", "anyOf"):
            for sub in schema.get(k, []):
                ks, d = self.known_keys(sub)
                keys |= ks
                described = described or d
        for k in ("if", "then", "else"):
            if isinstance(schema.get(k), dict):
                ks, _ = self.known_keys(schema[k])
                keys |= ks
        return keys, described

    def errors(self, schema, v, where="$", top=True):
        """Problems of value v against schema.  `top` is true where schema is the whole
        schema of this value (the closed-object check is made there, against every key the
        schema names through allOf/oneOf/anyOf/if/then/else) and false for the subschemas
        that apply to the same value (allOf/oneOf/anyOf/not/if/then/else members), so that a
        conditional or composed part does not report the keys that another part describes."""
        schema = self.resolve(schema)
        if schema is True or schema == {}:
            return []
        if schema is False:
            return ["%s: not allowed" % where]
        out = []
        for sub in schema.get("allOf", []):
            out += self.errors(sub, v, where, False)
        if "oneOf" in schema:
            n = sum(1 for sub in schema["oneOf"] if not self.errors(sub, v, where, False))
            if n != 1:
                out.append("%s: matches %d of oneOf (want 1): %r" % (where, n, v))
        if "anyOf" in schema:
            if not any(not self.errors(sub, v, where, False) for sub in schema["anyOf"]):
                out.append("%s: matches none of anyOf: %r" % (where, v))
        if "not" in schema and not self.errors(schema["not"], v, where, False):
            out.append("%s: matches `not`: %r" % (where, v))
        if "if" in schema:
            branch = "then" if not self.errors(schema["if"], v, where, False) else "else"
            if branch in schema:
                out += self.errors(schema[branch], v, where, False)
        t = schema.get("type")
        if t is not None:
            ts = t if isinstance(t, list) else [t]
            if not any(self.type_ok(x, v) for x in ts):
                return out + ["%s: type %s, want %s: %r" % (where, type(v).__name__, t, v)]
        if "const" in schema and v != schema["const"]:
            out.append("%s: %r != const %r" % (where, v, schema["const"]))
        if "enum" in schema and v not in schema["enum"]:
            out.append("%s: %r not in %s" % (where, v, schema["enum"]))
        if isinstance(v, str):
            if "pattern" in schema and not re.search(schema["pattern"], v):
                out.append("%s: %r does not match %s" % (where, v, schema["pattern"]))
            if len(v) < schema.get("minLength", 0) or len(v) > schema.get("maxLength", 1 << 60):
                out.append("%s: length %d out of range" % (where, len(v)))
            if schema.get("format") == "date-time" and not UTC_TS.match(v):
                out.append("%s: %r is not RFC 3339 UTC (…Z)" % (where, v))
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            if "minimum" in schema and v < schema["minimum"]:
                out.append("%s: %r < minimum %r" % (where, v, schema["minimum"]))
            if "maximum" in schema and v > schema["maximum"]:
                out.append("%s: %r > maximum %r" % (where, v, schema["maximum"]))
            if "exclusiveMinimum" in schema and v <= schema["exclusiveMinimum"]:
                out.append("%s: %r <= exclusiveMinimum %r" % (where, v, schema["exclusiveMinimum"]))
        if isinstance(v, list):
            if len(v) < schema.get("minItems", 0) or len(v) > schema.get("maxItems", 1 << 60):
                out.append("%s: %d items out of range" % (where, len(v)))
            if schema.get("uniqueItems") and len({json.dumps(x, sort_keys=True) for x in v}) != len(v):
                out.append("%s: items not unique" % where)
            if "items" in schema:
                for i, x in enumerate(v):
                    out += self.errors(schema["items"], x, "%s[%d]" % (where, i))
        if isinstance(v, dict):
            for k in schema.get("required", []):
                if k not in v:
                    out.append("%s: missing required key %r" % (where, k))
            props = schema.get("properties", {})
            for k, x in v.items():
                if k in props:
                    out += self.errors(props[k], x, "%s.%s" % (where, k))
            ap = schema.get("additionalProperties", True)
            extra = [k for k in v if k not in props]
            if ap is False and extra:
                out.append("%s: keys not allowed: %s" % (where, extra))
            elif isinstance(ap, dict):
                for k in extra:
                    out += self.errors(ap, v[k], "%s.%s" % (where, k))
            if self.closed and top and ap is not False:
                known, described = self.known_keys(schema)
                extra = sorted(k for k in v if k not in known)
                if described and extra:
                    out.append("%s: keys the spec does not describe: %s" % (where, extra))
            if len(v) < schema.get("minProperties", 0) or len(v) > schema.get("maxProperties", 1 << 60):
                out.append("%s: %d keys out of range" % (where, len(v)))
        return out


def check_reply(val, doc, registry, rec):
    method, path, status, body = rec["method"].lower(), rec["path"], int(rec["status"]), rec.get("body")
    op = doc.get("paths", {}).get(path, {}).get(method)
    if op is None:
        return ["no operation %s %s in the spec" % (method.upper(), path)]
    responses = op.get("responses", {})
    resp = responses.get(str(status)) or responses.get("default")
    if resp is None:
        return ["status %d is not declared (declared: %s)" % (status, ", ".join(sorted(responses)))]
    resp = val.resolve(resp)
    schema = resp.get("content", {}).get("application/json", {}).get("schema")
    problems = val.errors(schema, body) if schema is not None else []
    if status >= 400 and isinstance(body, dict):
        name = body.get("error")
        if name not in op.get("x-errors", []):
            problems.append("error %r is not in the operation's x-errors" % name)
        elif registry.get(name, (None,))[0] != status:
            problems.append("error %r has status %s in the registry, reply %d" % (name, registry.get(name, ("?",))[0], status))
        elif registry[name][1] != body.get("code"):
            problems.append("error %r: code %r, registry %r" % (name, body.get("code"), registry[name][1]))
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("bundle")
    ap.add_argument("replies")
    ap.add_argument("--open", action="store_true", help="do not report keys the spec does not describe")
    a = ap.parse_args()
    try:
        with open(a.bundle, encoding="utf-8") as f:
            doc = json.load(f)
        with open(a.replies, encoding="utf-8") as f:
            recs = [json.loads(line) for line in f if line.strip()]
    except (OSError, ValueError) as ex:
        print("check_replies: %s" % ex, file=sys.stderr)
        return 2
    reg = doc["components"]["schemas"]["ErrorName"].get("x-registry", [])
    registry = {e["name"]: (e["status"], e["code"]) for e in reg}
    val = Validator(doc, closed=not a.open)
    bad = 0
    seen = set()
    for i, rec in enumerate(recs, 1):
        p = check_reply(val, doc, registry, rec)
        seen.add((rec["method"].upper(), rec["path"], int(rec["status"])))
        label = rec.get("label") or ""
        if p:
            bad += 1
            print("FAIL %d %s %s -> %s %s" % (i, rec["method"].upper(), rec["path"], rec["status"], label))
            for line in p[:20]:
                print("       " + line)
    print("check_replies: %d of %d replies match the spec (%d distinct method/path/status)"
          % (len(recs) - bad, len(recs), len(seen)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
