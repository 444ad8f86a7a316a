#!/usr/bin/env python3
"""test_check_modules.py — check_modules.py passes on the real tree and fails on each kind of
forbidden include planted in a copy of it.

    python3 tools/checks/test_check_modules.py [--root DIR]

Each case copies src/, include/, server/ and tools/ of the project (or of DIR) into a temporary
folder, changes one thing, runs check_modules.py --root on the copy and checks its exit status
and the line it prints.  Registered with ctest as test_module_graph (label unit).  Prints one
PASS/FAIL line per case and `N passed, N failed`; exits 1 when a case failed.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CHECK = os.path.join(HERE, "check_modules.py")
COPIED = ("src", "include", "server", "tools")


class Failed(Exception):
    pass


class Copy:
    """A scratch copy of the scanned folders of a project tree."""

    def __init__(self, source, dest):
        self.root = dest
        for top in COPIED:
            if os.path.isdir(os.path.join(source, top)):
                shutil.copytree(os.path.join(source, top), os.path.join(dest, top),
                                ignore=shutil.ignore_patterns("__pycache__", "build*"))

    def first(self, folder, ext):
        """The first file (sorted) of folder with that extension, relative to the root."""
        path = os.path.join(self.root, folder)
        names = sorted(n for n in os.listdir(path) if n.endswith(ext)) if os.path.isdir(path) \
            else []
        if not names:
            raise Failed(f"no {folder}/*{ext}: is the tree in the issue-9 layout "
                         f"(tools/checks/modules.txt)?")
        return f"{folder}/{names[0]}"

    def header(self, module):
        """The include path of one public header of module: suanli/<module>/x.h."""
        return self.first(f"include/suanli/{module}", ".h")[len("include/"):]

    def append(self, rel, text):
        """Append lines to a file (created when missing); the line number of the first."""
        path = os.path.join(self.root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        old = open(path, encoding="utf-8").read() if os.path.exists(path) else ""
        if old and not old.endswith("\n"):
            old += "\n"
        with open(path, "w", encoding="utf-8") as f:
            f.write(old + text)
        return old.count("\n") + 1

    def check(self):
        r = subprocess.run([sys.executable, CHECK, "--root", self.root],
                           capture_output=True, text=True, timeout=60)
        return r.returncode, r.stdout + r.stderr


def expect(rc, out, want_rc, *patterns):
    """Fail unless the exit status is want_rc and each pattern (a regex) is in the output."""
    if rc != want_rc:
        raise Failed(f"exit status {rc}, expected {want_rc}; output:\n{out}")
    for pat in patterns:
        if not re.search(pat, out, re.M):
            raise Failed(f"no line matching {pat!r} in the output:\n{out}")


# ------------------------------------------------------------------------------------ cases

def case_clean(t):
    """The tree as it is: no forbidden include, a one-line summary."""
    rc, out = t.check()
    expect(rc, out, 0, r"^module graph ok: \d+ files, \d+ project includes")


def case_market_includes_http(t):
    """The pure market module reaching up into the HTTP layer."""
    hdr = t.header("http")
    rel = t.first("src/market", ".c")
    n = t.append(rel, f'#include "{hdr}"\n')
    expect(*t.check(), 1, re.escape(f"{rel}:{n}: module market may not include http ({hdr})"))


def case_trading_includes_libpq(t):
    """libpq is private to db: the trading engine may not include it."""
    rel = t.first("src/trading", ".c")
    n = t.append(rel, "#include <libpq-fe.h>\n")
    expect(*t.check(), 1,
           re.escape(f"{rel}:{n}: module trading may not include libpq-fe.h (only db)"))


def case_cycle(t):
    """core including market (which includes core) is a forbidden edge and a cycle."""
    hdr = t.header("market")
    rel = t.first("src/core", ".c")
    n = t.append(rel, f'#include "{hdr}"\n')
    expect(*t.check(), 1, re.escape(f"{rel}:{n}: module core may not include market ({hdr})"),
           r"^cycle: core -> market -> core$",
           re.escape(f"  {rel}:{n}: core -> market ({hdr})"))


def case_private_header(t):
    """Another module's private header, even of a module one may include."""
    private = t.first("src/db", ".h")
    rel = t.first("src/trading", ".c")
    n = t.append(rel, f'#include "../db/{os.path.basename(private)}"\n')
    expect(*t.check(), 1,
           re.escape(f"{rel}:{n}: module trading may not include db's private header ({private})"))


def case_public_header_leaks_libpq(t):
    """A public db header that includes libpq-fe.h hands libpq to every module including it."""
    hdr = t.header("db")
    t.append("include/" + hdr, "#include <libpq-fe.h>\n")
    user = t.first("src/trading", ".c")
    n = t.append(user, f'#include "{hdr}"\n')
    expect(*t.check(), 1, re.escape(f"{user}:{n}: module trading may not include libpq-fe.h "
                                    f"(via {hdr} -> libpq-fe.h)"))


def case_tools_via_ledger(t):
    """tools may include ledger's pure headers only, not one that brings in the database."""
    db = t.header("db")
    t.append("include/suanli/ledger/zz_planted.h", f'#include "{db}"\n')
    rel = t.first("tools", ".c")
    n = t.append(rel, '#include "suanli/ledger/zz_planted.h"\n')
    expect(*t.check(), 1, re.escape(f"{rel}:{n}: module tools may not include db "
                                    f"(via suanli/ledger/zz_planted.h -> {db})"))


def case_flat_header(t):
    """A public header outside a module folder (the old include/suanli/*.h layout)."""
    rel = t.first("src/core", ".c")
    n = t.append(rel, '#include "suanli/money.h"\n')
    expect(*t.check(), 1, re.escape(f"{rel}:{n}: suanli/money.h names no module"))


def case_unowned_folder(t):
    """A source folder that is no module (src/exchange is gone for good)."""
    t.append("src/exchange/engine.c", "int sl_planted;\n")
    expect(*t.check(), 1, re.escape("src/exchange/engine.c:1: belongs to no module"))


def case_commented_out(t):
    """A forbidden include inside a comment is not an include: the report does not change."""
    hdr = t.header("http")
    rel = t.first("src/market", ".c")
    before = t.check()
    t.append(rel, f'/*\n#include "{hdr}"\n */\n// #include <microhttpd.h>\n')
    after = t.check()
    if after != before:
        raise Failed(f"the report changed:\n--- before (exit status {before[0]})\n{before[1]}"
                     f"--- after (exit status {after[0]})\n{after[1]}")


CASES = [case_clean, case_market_includes_http, case_trading_includes_libpq, case_cycle,
         case_private_header, case_public_header_leaks_libpq, case_tools_via_ledger,
         case_flat_header, case_unowned_folder, case_commented_out]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=os.path.dirname(os.path.dirname(HERE)),
                    help="the tree to copy (default: this checkout)")
    args = ap.parse_args()
    passed = failed = 0
    for case in CASES:
        name = case.__name__[len("case_"):]
        with tempfile.TemporaryDirectory(prefix="suanli-modules-") as tmp:
            try:
                case(Copy(args.root, tmp))
            except Failed as e:
                failed += 1
                print(f"FAIL {name}: {case.__doc__}")
                print("  " + str(e).replace("\n", "\n  "))
                continue
        passed += 1
        print(f"PASS {name}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
