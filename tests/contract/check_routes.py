#!/usr/bin/env python3
"""Compare the routes suanlid serves with the routes api/openapi.yaml describes.

The server lists its routes with `suanlid routes`: one line per route, `METHOD /path`,
path parameters written `{name}` exactly as in the spec (e.g. `GET /v1/pools/{id}`).
Blank lines and lines starting with `#` are ignored.  A third column, if present, is
taken as the route's roles (comma-separated, e.g. `admin,tenant` or `public`) and is
compared with the operation's `x-roles`.

Usage (from the project root):
  check_routes.py [--spec api/openapi.yaml] --server-bin build/suanlid
  check_routes.py [--spec api/openapi.yaml] --server-file routes.txt   ('-' = stdin)
  check_routes.py [--spec ...] --print-spec        print the spec's routes in that format

The spec may be the YAML source (its `paths:` block is read line by line; python3 stdlib
only) or a JSON bundle (`redocly bundle --ext json`).  Exit status: 0 when both sets are
equal, 1 when they differ (each missing route is printed), 2 on usage or input errors.
"""
import argparse
import json
import re
import subprocess
import sys

METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


class InputError(Exception):
    pass


def _yaml_scalar(s):
    s = s.strip()
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"":
        return s[1:-1]
    return s


def _flow_list(s):
    s = s.strip()
    if not (s.startswith("[") and s.endswith("]")):
        return None
    return [_yaml_scalar(x) for x in s[1:-1].split(",") if x.strip()]


def spec_routes_yaml(text):
    """{(METHOD, path): roles-or-None} from the `paths:` block of an OpenAPI YAML file.

    Relies on the layout of api/openapi.yaml: `paths:` at column 0, each path key indented
    2 spaces, each operation key 4 spaces, operation fields 6 spaces."""
    routes = {}
    in_paths = False
    path = None
    current = None
    seen_paths = False
    for lineno, raw in enumerate(text.split("\n"), 1):
        line = raw.rstrip()
        if not line or line.lstrip().startswith("#"):
            continue
        indent = len(line) - len(line.lstrip(" "))
        if indent == 0:
            in_paths = line.startswith("paths:")
            seen_paths = seen_paths or in_paths
            path = current = None
            continue
        if not in_paths:
            continue
        if indent == 2:
            m = re.match(r"^  (['\"]?)(/[^'\"]*)\1:\s*$", line)
            if not m:
                raise InputError("spec line %d: expected a path key, got %r" % (lineno, line))
            path, current = m.group(2), None
        elif indent == 4:
            m = re.match(r"^    ([a-zA-Z-]+):", line)
            if m and m.group(1).lower() in METHODS and path:
                current = (m.group(1).upper(), path)
                if current in routes:
                    raise InputError("spec line %d: duplicate operation %s %s" % ((lineno,) + current))
                routes[current] = None
            else:
                current = None
        elif indent == 6 and current:
            m = re.match(r"^      x-roles:\s*(.*)$", line)
            if m:
                routes[current] = _flow_list(m.group(1))
    if not seen_paths:
        raise InputError("spec: no top-level `paths:` block")
    return routes


def spec_routes_json(doc):
    routes = {}
    for path, item in doc.get("paths", {}).items():
        for method, op in item.items():
            if method in METHODS:
                routes[(method.upper(), path)] = op.get("x-roles")
    return routes


def spec_routes(spec_path):
    with open(spec_path, encoding="utf-8") as f:
        text = f.read()
    if spec_path.endswith(".json"):
        return spec_routes_json(json.loads(text))
    return spec_routes_yaml(text)


def parse_server_list(text, source):
    routes = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) < 2 or not re.fullmatch(r"[A-Z]+", parts[0]) or not parts[1].startswith("/"):
            raise InputError("%s line %d: expected `METHOD /path`, got %r" % (source, lineno, raw))
        key = (parts[0], parts[1])
        if key in routes:
            raise InputError("%s line %d: duplicate route %s %s" % ((source, lineno) + key))
        roles = None
        if len(parts) >= 3:
            roles = [r for r in parts[2].split(",") if r]
        routes[key] = roles
    return routes


def shape(path):
    """The path with every {param} replaced by {} (to explain near-misses)."""
    return re.sub(r"\{[^}]*\}", "{}", path)


def compare(spec, server, out=sys.stdout):
    """Print the differences; return the number of problems."""
    problems = 0
    only_spec = sorted(set(spec) - set(server), key=lambda r: (r[1], r[0]))
    only_server = sorted(set(server) - set(spec), key=lambda r: (r[1], r[0]))
    for m, p in only_spec:
        hint = [s for s in only_server if s[0] == m and shape(s[1]) == shape(p)]
        out.write("missing from server: %s %s%s\n"
                  % (m, p, "  (server has %s %s: parameter names differ)" % hint[0] if hint else ""))
    for m, p in only_server:
        out.write("missing from spec:   %s %s\n" % (m, p))
    problems += len(only_spec) + len(only_server)
    for key in sorted(set(spec) & set(server), key=lambda r: (r[1], r[0])):
        sr, vr = spec[key], server[key]
        if vr is not None and sr is not None and sorted(sr) != sorted(vr):
            out.write("roles differ:        %s %s: spec x-roles %s, server %s\n"
                      % (key[0], key[1], ",".join(sorted(sr)), ",".join(sorted(vr))))
            problems += 1
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--spec", default="api/openapi.yaml")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--server-bin", help="run `BIN routes` and read its output")
    src.add_argument("--server-file", help="read `METHOD /path` lines from a file ('-' = stdin)")
    src.add_argument("--print-spec", action="store_true", help="print the spec's routes")
    ap.add_argument("--timeout", type=float, default=20.0, help="seconds for `BIN routes`")
    a = ap.parse_args()
    try:
        spec = spec_routes(a.spec)
        if not spec:
            raise InputError("%s: no operations found" % a.spec)
        if a.print_spec:
            for m, p in sorted(spec, key=lambda r: (r[1], r[0])):
                print("%s %s" % (m, p))
            return 0
        if a.server_bin:
            try:
                r = subprocess.run([a.server_bin, "routes"], stdin=subprocess.DEVNULL,
                                   capture_output=True, text=True, timeout=a.timeout)
            except FileNotFoundError:
                raise InputError("%s: not found (build suanlid first, or set SUANLI_BIN)" % a.server_bin)
            except subprocess.TimeoutExpired:
                raise InputError("`%s routes` did not finish in %gs" % (a.server_bin, a.timeout))
            if r.returncode != 0:
                raise InputError("`%s routes` exited %d: %s" % (a.server_bin, r.returncode, r.stderr.strip()[-500:]))
            text, source = r.stdout, "`%s routes`" % a.server_bin
        elif a.server_file == "-":
            text, source = sys.stdin.read(), "stdin"
        else:
            with open(a.server_file, encoding="utf-8") as f:
                text, source = f.read(), a.server_file
        server = parse_server_list(text, source)
        if not server:
            raise InputError("%s: no routes listed" % source)
    except (OSError, ValueError, InputError) as ex:
        print("check_routes: %s" % ex, file=sys.stderr)
        return 2
    n = compare(spec, server)
    if n:
        print("check_routes: %d difference(s) between %s (%d routes) and the server (%d routes)"
              % (n, a.spec, len(spec), len(server)))
        return 1
    print("check_routes: the server's %d routes equal %s" % (len(server), a.spec))
    return 0


if __name__ == "__main__":
    sys.exit(main())
