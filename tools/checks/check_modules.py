#!/usr/bin/env python3
"""check_modules.py — every #include edge of the C tree allowed by the module layering.

    python3 tools/checks/check_modules.py [--root DIR] [--rules FILE] [--graph]

Reads the layering from tools/checks/modules.txt (module, folders, modules it may include,
third-party headers only it may include), scans every .c/.h under src/, server/, tools/ and
include/ of the project root (tests/, bench/ and fuzz targets may include anything and are not
scanned), and maps each include to a module:

  "suanli/<m>/x.h" (or <suanli/<m>/x.h>)  module m (a public header, include/suanli/<m>/x.h)
  "x.h", "../d/x.h", "api/errors.def"     the file it names, searched as the compiler does
                                          (the including file's folder, the project root,
                                          include/, then the module's own folders); a header
                                          not found belongs to the including file's module
  <x.h>                                   a third-party or system header

and reports, one line each, `file:line: module A may not include B (what)` for
  - an include of a module A may not include;
  - another module's private header (anything of it outside include/suanli/<m>/);
  - a third-party header reserved to other modules (libpq-fe.h, microhttpd.h, curl/...);
  - an allowed header that brings in, through its own includes, a module or a reserved
    third-party header A may not include (`via a.h -> b.h`);
  - a public header path that names no module (`suanli/x.h`);
plus files that belong to no module and every cycle of the module graph.

Exit status: 0 with a one-line summary when the graph is clean, 1 when anything is reported,
2 when the rules file or the arguments are wrong.  --graph also prints the module graph (one
line per edge, with the number of includes behind it).  Standard library only.
"""

import argparse
import fnmatch
import os
import re
import sys
from collections import deque

SCANNED = ("src", "server", "tools", "include")
PUBLIC = "include/suanli/"
INCLUDE_RE = re.compile(r'\s*#\s*include\s*([<"])([^">]+)[">]')


class RulesError(Exception):
    pass


class Module:
    def __init__(self, name, folders, may, headers, lineno):
        self.name = name
        self.folders = folders
        self.may = set(may)
        self.headers = headers
        self.lineno = lineno


def read_rules(path):
    """The modules of the rules file, in file order, by name.  Raises RulesError."""
    entries = []  # [line number, text]: a line that starts with a blank continues the last
    with open(path, encoding="utf-8") as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.split("#", 1)[0].rstrip()
            if not line.strip():
                continue
            if line[0].isspace() and entries:
                entries[-1][1] += " " + line.strip()
            else:
                entries.append([lineno, line.strip()])
    modules = {}
    for lineno, line in entries:
        fields = line.split(":")
        if len(fields) != 3:
            raise RulesError(f"{path}:{lineno}: want NAME FOLDERS... : MODULES... : HEADERS...")
        head, may, headers = (x.split() for x in fields)
        if len(head) < 2:
            raise RulesError(f"{path}:{lineno}: a module needs a name and at least one folder")
        name = head[0]
        if name in modules:
            raise RulesError(f"{path}:{lineno}: module {name} defined twice")
        folders = [x.strip("/") for x in head[1:]]
        modules[name] = Module(name, folders, may, headers, lineno)
    for m in modules.values():
        for other in sorted(m.may):
            if other not in modules:
                raise RulesError(f"{path}:{m.lineno}: module {m.name} names unknown module {other}")
    if not modules:
        raise RulesError(f"{path}: no modules")
    return modules


def strip_comments(text):
    """text with /* */ and // comments blanked (newlines kept), string and char literals kept,
    so that a commented-out #include is not read."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        two = text[i:i + 2]
        if two == "/*":
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out.append("".join(ch if ch == "\n" else " " for ch in text[i:end]))
            i = end
        elif two == "//":
            end = text.find("\n", i)
            end = n if end < 0 else end
            i = end
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def read_includes(path):
    """[(line number, '<' or '"', the name between the delimiters)] of one file."""
    with open(path, encoding="utf-8", errors="replace") as f:
        text = strip_comments(f.read())
    found = []
    for lineno, line in enumerate(text.split("\n"), 1):
        m = INCLUDE_RE.match(line)
        if m:
            found.append((lineno, m.group(1), m.group(2).strip()))
    return found


class Include:
    """One #include line, resolved.  kind: 'module' (module set, path when found),
    'other' (a project file of no module, e.g. api/errors.def), 'third' (a <header>),
    'bad' (a public path that names no module)."""

    def __init__(self, src, lineno, text, kind, module=None, path=None):
        self.src, self.lineno, self.text = src, lineno, text
        self.kind, self.module, self.path = kind, module, path


class Tree:
    def __init__(self, root, modules):
        self.root = root
        self.modules = modules
        self.prefixes = sorted(((f + "/", m.name) for m in modules.values() for f in m.folders),
                               key=lambda p: -len(p[0]))
        self.files = sorted(self._walk())
        self.includes = {rel: [self._resolve(rel, *inc)
                               for inc in read_includes(os.path.join(root, rel))]
                         for rel in self.files}
        self._reach = {}

    def _walk(self):
        for top in SCANNED:
            for dirpath, dirnames, filenames in os.walk(os.path.join(self.root, top)):
                dirnames.sort()
                for name in filenames:
                    if name.endswith((".c", ".h")):
                        yield os.path.relpath(os.path.join(dirpath, name), self.root)

    def module_of(self, rel):
        for prefix, name in self.prefixes:
            if rel.startswith(prefix):
                return name
        return None

    def _exists(self, rel):
        return (not rel.startswith("..") and not os.path.isabs(rel)
                and os.path.isfile(os.path.join(self.root, rel)))

    def _resolve(self, src, lineno, delim, text):
        if text.startswith("suanli/"):
            parts = text.split("/")
            if len(parts) < 3 or parts[1] not in self.modules:
                return Include(src, lineno, text, "bad")
            path = "include/" + text
            return Include(src, lineno, text, "module", parts[1],
                           path if self._exists(path) else None)
        if delim == "<":
            return Include(src, lineno, text, "third")
        own = self.module_of(src)
        candidates = [os.path.join(os.path.dirname(src), text), text, "include/" + text]
        if own:
            candidates += [os.path.join(f, text) for f in self.modules[own].folders]
        for cand in candidates:
            cand = os.path.normpath(cand)
            if self._exists(cand):
                mod = self.module_of(cand)
                return Include(src, lineno, text, "module" if mod else "other", mod, cand)
        return Include(src, lineno, text, "module", own, None)

    def owners(self, header):
        """The modules that name a third-party header, or None when it is free for all."""
        names = [m.name for m in self.modules.values()
                 if any(fnmatch.fnmatchcase(header, g) for g in m.headers)]
        return names or None

    def reach(self, path):
        """What a project file brings in through its includes, itself included:
        {('module', name) or ('header', reserved <header>): [include texts of the chain]}."""
        if path in self._reach:
            return self._reach[path]
        found = {}
        seen = {path}
        queue = deque([(path, [])])
        while queue:
            cur, chain = queue.popleft()
            mod = self.module_of(cur)
            if mod:
                found.setdefault(("module", mod), chain)
            for inc in self.includes.get(cur, ()):
                step = chain + [inc.text]
                if inc.kind == "third" and self.owners(inc.text):
                    found.setdefault(("header", inc.text), step)
                elif inc.kind == "module" and inc.path is None and inc.module:
                    found.setdefault(("module", inc.module), step)
                if inc.path and inc.path not in seen and inc.path in self.includes:
                    seen.add(inc.path)
                    queue.append((inc.path, step))
        self._reach[path] = found
        return found


def check(tree):
    """(problems as (file, line, message), module edges {(a, b): [Include]}, counts)."""
    problems = []
    edges = {}
    n_edges = 0
    for rel in tree.files:
        mod = tree.module_of(rel)
        if mod is None:
            problems.append((rel, 1, "belongs to no module (see tools/checks/modules.txt)"))
            continue
        rules = tree.modules[mod]
        allowed = rules.may | {mod}
        for inc in tree.includes[rel]:
            where = (rel, inc.lineno)
            if inc.kind == "bad":
                problems.append(where + (f"{inc.text} names no module "
                                         f"(public headers are suanli/<module>/x.h)",))
                continue
            if inc.kind == "third":
                owners = tree.owners(inc.text)
                if owners and mod not in owners:
                    problems.append(where + (f"module {mod} may not include {inc.text} "
                                             f"(only {', '.join(owners)})",))
                continue
            if inc.kind != "module":
                continue
            n_edges += 1
            if inc.module != mod:
                edges.setdefault((mod, inc.module), []).append(inc)
                if inc.module not in allowed:
                    problems.append(where + (f"module {mod} may not include {inc.module} "
                                             f"({inc.text})",))
                    continue
                if inc.path and not inc.path.startswith(PUBLIC):
                    problems.append(where + (f"module {mod} may not include {inc.module}'s "
                                             f"private header ({inc.path})",))
                    continue
            if not inc.path:
                continue
            for (kind, name), chain in sorted(tree.reach(inc.path).items()):
                via = " -> ".join([inc.text] + chain)
                if kind == "module" and name not in allowed:
                    problems.append(where + (f"module {mod} may not include {name} (via {via})",))
                elif kind == "header" and mod not in tree.owners(name):
                    problems.append(where + (f"module {mod} may not include {name} (via {via})",))
    return problems, edges, n_edges


def cycles(modules, edges):
    """Each strongly connected set of more than one module, as one cycle through its first
    module (in rules order): [name, ..., name]."""
    order = list(modules)
    succ = {m: sorted({b for (a, b) in edges if a == m}, key=order.index) for m in order}
    index, low, stack, on, comps = {}, {}, [], set(), []

    def connect(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in succ[v]:
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(set(comp))

    for v in order:
        if v not in index:
            connect(v)
    found = []
    for comp in comps:
        start = min(comp, key=order.index)
        prev = {start: None}
        queue = deque([start])
        end = None
        while queue and end is None:
            v = queue.popleft()
            for w in succ[v]:
                if w == start:
                    end = v
                    break
                if w in comp and w not in prev:
                    prev[w] = v
                    queue.append(w)
        path = []
        while end is not None:
            path.append(end)
            end = prev[end]
        found.append(path[::-1] + [start])
    return sorted(found, key=lambda c: order.index(c[0]))


def plural(n, word):
    return f"{n} {word}" + ("" if n == 1 else "s")


def main(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description="Check the #include edges against the layering.")
    ap.add_argument("--root", default=os.path.dirname(os.path.dirname(here)),
                    help="project root to scan (default: this checkout)")
    ap.add_argument("--rules", default=os.path.join(here, "modules.txt"),
                    help="the layering (default: tools/checks/modules.txt beside this script)")
    ap.add_argument("--graph", action="store_true",
                    help="also print the module graph, one edge a line")
    args = ap.parse_args(argv)
    try:
        modules = read_rules(args.rules)
    except (OSError, RulesError) as e:
        print(f"check_modules: {e}", file=sys.stderr)
        return 2
    if not os.path.isdir(args.root):
        print(f"check_modules: {args.root}: not a folder", file=sys.stderr)
        return 2
    tree = Tree(os.path.abspath(args.root), modules)
    problems, edges, n_edges = check(tree)
    loops = cycles(modules, edges)

    if args.graph:
        for (a, b), incs in sorted(edges.items(), key=lambda e: (list(modules).index(e[0][0]),
                                                                  list(modules).index(e[0][1]))):
            print(f"{a} -> {b}  ({len(incs)} includes)")
    for rel, lineno, msg in sorted(problems):
        print(f"{rel}:{lineno}: {msg}")
    for loop in loops:
        print("cycle: " + " -> ".join(loop))
        for a, b in zip(loop, loop[1:]):
            inc = edges[(a, b)][0]
            print(f"  {inc.src}:{inc.lineno}: {a} -> {b} ({inc.text})")
    n_files = len(tree.files)
    n_cross = sum(len(v) for v in edges.values())
    if problems or loops:
        print(f"module graph: {plural(len(problems), 'problem')}, {plural(len(loops), 'cycle')} "
              f"({plural(n_files, 'file')} scanned)")
        return 1
    print(f"module graph ok: {n_files} files, {n_edges} project includes, {n_cross} between "
          f"modules ({len(edges)} module edges)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
