#!/usr/bin/env python3
"""Semantic checks of api/openapi.yaml against api/errors.def and the project's rules
(python3 stdlib only).  Reads the JSON bundle that `redocly bundle --ext json` makes of the
spec, so it sees the document as a YAML parser does, not as text.

Checks, each printed as `ok`/`FAIL`:
  errors-enum      components.schemas.ErrorName.enum == the names in errors.def, in order
  errors-registry  ErrorName.x-registry == errors.def (name, code, status, hint)
  errors-table     the Markdown table in info.description == errors.def
  errors-used      every error name (but ok, route_not_found, method_not_allowed, bad_path,
                   length_required, rate_limited, request_timeout, malformed_request, which
                   the router or the front proxy answers on any operation)
                   is listed in some operation's x-errors
  roles            every operation has x-roles from {admin, operator, provider, tenant, public};
                   public (security: []) exactly for the GETs of PUBLIC_PATHS (the probes and
                   the exchange's public keys, as in src/http/README.md)
  x-errors         every name an operation lists is in errors.def and its status is one of the
                   operation's responses; every error response is explained by some name; 403
                   exactly when some role is excluded
  retry-after      every 503 response carries a Retry-After header
  idempotency      every POST takes the Idempotency-Key header; no other method does
  pages            every operation answering a *Page takes `after` and `limit`
  closed-bodies    every object schema in a request body has additionalProperties: false
  yaml-routes      check_routes.py's YAML reader sees the same routes as the bundle

Usage: check_spec.py BUNDLE.json [--def api/errors.def] [--spec api/openapi.yaml]
Exit status 0 when every check passes, 1 otherwise, 2 on input errors.
"""
import argparse
import html
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_routes  # noqa: E402
import errors_def  # noqa: E402

ROLES = {"admin", "operator", "provider", "tenant", "public"}
ALL_ROLES = {"admin", "operator", "provider", "tenant"}
# answered by the router before any operation runs (documented once in info.description)
ROUTER_ONLY = {"ok", "route_not_found", "method_not_allowed", "bad_path", "length_required",
               "rate_limited", "request_timeout", "malformed_request"}
# The routes that need no token (src/http/README.md, role `public`): the liveness and
# readiness probes, the exchange's public signing keys (a verifier needs them without an
# account), and the dashboard's static files (the page signs in itself, with a token it
# keeps in memory).  Every other operation must require a token.
PUBLIC_PATHS = {("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/v1/keys"), ("GET", "/ui"), ("GET", "/ui/{asset}")}
METHODS = check_routes.METHODS


class Checker:
    def __init__(self, doc):
        self.doc = doc
        self.failed = []

    def resolve(self, node):
        seen = 0
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            if not ref.startswith("#/"):
                raise ValueError("external $ref %r" % ref)
            node = self.doc
            for part in ref[2:].split("/"):
                node = node[part.replace("~1", "/").replace("~0", "~")]
            seen += 1
            if seen > 50:
                raise ValueError("$ref loop at %r" % ref)
        return node

    def operations(self):
        for path, item in self.doc.get("paths", {}).items():
            for method, op in item.items():
                if method in METHODS:
                    params = [self.resolve(p) for p in item.get("parameters", []) + op.get("parameters", [])]
                    yield method.upper(), path, op, params


def parse_md_table(desc):
    m = re.search(r"<!-- BEGIN errors\.def table[^>]*-->\n(.*?)<!-- END errors\.def table -->", desc, re.S)
    if not m:
        return None
    rows = []
    for line in m.group(1).strip().splitlines()[2:]:
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        if len(cells) != 4:
            rows.append(("<bad row>", line))
            continue
        name = cells[0].strip("`")
        hint = html.unescape(cells[3].replace("\\|", "|"))
        rows.append((name, int(cells[1]), int(cells[2]), hint))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("bundle")
    ap.add_argument("--def", dest="defpath", default="api/errors.def")
    ap.add_argument("--spec", default="api/openapi.yaml")
    a = ap.parse_args()
    try:
        entries = errors_def.parse(a.defpath)
        with open(a.bundle, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError, errors_def.RegistryError) as ex:
        print("check_spec: %s" % ex, file=sys.stderr)
        return 2
    c = Checker(doc)
    by_name = {e.name: e for e in entries}
    results = []

    def check(name, problems):
        results.append((name, problems))

    # -- the error registry ---------------------------------------------------------------
    en = doc.get("components", {}).get("schemas", {}).get("ErrorName", {})
    want = [e.name for e in entries]
    got = en.get("enum")
    p = []
    if got != want:
        p.append("ErrorName.enum %s\n   errors.def     %s" % (got, want))
    check("errors-enum", p)

    p = []
    reg = en.get("x-registry")
    want_reg = [{"name": e.name, "code": e.code, "status": e.status, "hint": e.hint} for e in entries]
    if reg != want_reg:
        for i in range(max(len(reg or []), len(want_reg))):
            g = (reg or [])[i] if i < len(reg or []) else None
            w = want_reg[i] if i < len(want_reg) else None
            if g != w:
                p.append("x-registry[%d] = %s, errors.def has %s" % (i, g, w))
    check("errors-registry", p)

    p = []
    rows = parse_md_table(doc.get("info", {}).get("description", ""))
    want_rows = [(e.name, e.code, e.status, e.hint) for e in entries]
    if rows is None:
        p.append("no errors.def table in info.description")
    elif rows != want_rows:
        for i in range(max(len(rows), len(want_rows))):
            g = rows[i] if i < len(rows) else None
            w = want_rows[i] if i < len(want_rows) else None
            if g != w:
                p.append("table row %d = %s, errors.def has %s" % (i + 1, g, w))
    check("errors-table", p)

    # -- operations -----------------------------------------------------------------------
    used = set()
    p_roles, p_err, p_retry, p_idem, p_pages, p_bodies = [], [], [], [], [], []
    for method, path, op, params in c.operations():
        where = "%s %s" % (method, path)
        roles = op.get("x-roles")
        public = op.get("security", doc.get("security")) == []
        if not isinstance(roles, list) or not roles or not set(roles) <= ROLES:
            p_roles.append("%s: x-roles %r must be a non-empty list from %s" % (where, roles, sorted(ROLES)))
            roles = []
        if public != ("public" in roles):
            p_roles.append("%s: x-roles %s but security %s" % (where, roles, op.get("security", "global")))
        if "public" in roles and len(roles) > 1:
            p_roles.append("%s: public cannot be combined with other roles" % where)
        if public != ((method, path) in PUBLIC_PATHS):
            p_roles.append("%s: %s" % (where, "must be public (no token)" if not public else
                                       "only %s are public" % ", ".join(
                                           "%s %s" % mp for mp in sorted(PUBLIC_PATHS))))

        responses = op.get("responses", {})
        err_status = {int(s) for s in responses if s.isdigit() and int(s) >= 400}
        names = op.get("x-errors")
        if not isinstance(names, list) or not names:
            p_err.append("%s: no x-errors list" % where)
            names = []
        explained = set()
        for n in names:
            e = by_name.get(n)
            if e is None:
                p_err.append("%s: x-errors names %r, which is not in errors.def" % (where, n))
                continue
            used.add(n)
            explained.add(e.status)
            if e.status not in err_status:
                p_err.append("%s: x-errors lists %s (%d) but the operation has no %d response"
                             % (where, n, e.status, e.status))
        for s in sorted(err_status - explained):
            p_err.append("%s: response %d is not explained by any name in x-errors" % (where, s))
        if len(names) != len(set(names)):
            p_err.append("%s: x-errors has duplicates" % where)
        excludes = not public and not ALL_ROLES <= set(roles)
        if excludes != (403 in err_status):
            p_err.append("%s: x-roles %s %s a 403 response" % (where, roles, "needs" if excludes else "must not have"))
        for s, r in responses.items():
            r = c.resolve(r)
            if s != "default" and int(s) >= 400:
                schema = r.get("content", {}).get("application/json", {}).get("schema", {})
                if schema.get("$ref") != "#/components/schemas/Error":
                    p_err.append("%s: response %s does not use the Error schema" % (where, s))
            if s == "503" and "Retry-After" not in r.get("headers", {}):
                p_retry.append("%s: 503 without a Retry-After header" % where)
        if not public and "503" not in responses:
            p_retry.append("%s: no 503 response (the database may be down)" % where)

        has_key = any(x.get("in") == "header" and x.get("name", "").lower() == "idempotency-key" for x in params)
        if (method == "POST") != has_key:
            p_idem.append("%s: %s the Idempotency-Key header" % (where, "lacks" if method == "POST" else "must not take"))

        ok = [c.resolve(r) for s, r in responses.items() if s.startswith("2")]
        refs = [r.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref", "") for r in ok]
        if any(ref.endswith("Page") for ref in refs):
            q = {x.get("name") for x in params if x.get("in") == "query"}
            if not {"after", "limit"} <= q:
                p_pages.append("%s: returns a page but lacks after/limit" % where)

        body = op.get("requestBody")
        if body:
            schema = c.resolve(body).get("content", {}).get("application/json", {}).get("schema")
            if schema is None:
                p_bodies.append("%s: request body is not application/json" % where)
            else:
                walk_closed(c, schema, where + " body", p_bodies, set())
        elif method in ("POST", "PUT", "PATCH") and "body_required" in names:
            p_bodies.append("%s: lists body_required but has no requestBody" % where)

    unused = [n for n in want if n not in used and n not in ROUTER_ONLY]
    check("errors-used", ["%s is in errors.def but no operation lists it in x-errors" % n for n in unused])
    check("roles", p_roles)
    check("x-errors", p_err)
    check("retry-after", p_retry)
    check("idempotency", p_idem)
    check("pages", p_pages)
    check("closed-bodies", p_bodies)

    p = []
    try:
        yroutes = check_routes.spec_routes(a.spec)
        jroutes = check_routes.spec_routes_json(doc)
        if yroutes != jroutes:
            for k in sorted(set(yroutes) | set(jroutes)):
                if yroutes.get(k, "absent") != jroutes.get(k, "absent"):
                    p.append("%s %s: YAML reader %r, bundle %r" % (k[0], k[1], yroutes.get(k, "absent"), jroutes.get(k, "absent")))
    except (OSError, check_routes.InputError) as ex:
        p.append(str(ex))
    check("yaml-routes", p)

    nfail = 0
    for name, problems in results:
        print("%-4s %s" % ("ok" if not problems else "FAIL", name))
        for line in problems:
            print("       " + line)
        nfail += bool(problems)
    print("check_spec: %d of %d checks failed" % (nfail, len(results)))
    return 1 if nfail else 0


def walk_closed(c, schema, where, problems, seen):
    """Every object schema reachable in a request body must be closed."""
    if isinstance(schema, bool):
        return
    ref = schema.get("$ref")
    if ref:
        if ref in seen:
            return
        seen = seen | {ref}
        where = "%s -> %s" % (where, ref.rsplit("/", 1)[-1])
        schema = c.resolve(schema)
    t = schema.get("type")
    if (t == "object" or (isinstance(t, list) and "object" in t)) and "properties" in schema:
        if schema.get("additionalProperties") is not False:
            problems.append("%s: object without additionalProperties: false" % where)
    for key in ("properties",):
        for name, sub in schema.get(key, {}).items():
            walk_closed(c, sub, "%s.%s" % (where, name), problems, seen)
    for key in ("items", "not", "if", "then", "else"):
        if isinstance(schema.get(key), dict):
            walk_closed(c, schema[key], where, problems, seen)
    for key in ("allOf", "oneOf", "anyOf"):
        for sub in schema.get(key, []):
            walk_closed(c, sub, where, problems, seen)


if __name__ == "__main__":
    sys.exit(main())
