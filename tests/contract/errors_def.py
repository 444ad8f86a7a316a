"""Parse api/errors.def, the one error registry of Suanli (python3 stdlib only).

Each entry is one line:  SL_ERROR(IDENT, code, http_status, "name", "hint")
Comments (/* ... */ and // ...) and blank lines are ignored; any other line that
mentions SL_ERROR but does not parse is an error, so the registry can never be
half-read silently.
"""
import re
from collections import namedtuple

Entry = namedtuple("Entry", "ident code status name hint line")

_STR = r'"((?:[^"\\]|\\.)*)"'
_LINE = re.compile(
    r"^\s*SL_ERROR\(\s*([A-Z][A-Z0-9_]*)\s*,\s*(\d+)\s*,\s*(\d{3})\s*,\s*"
    + _STR + r"\s*,\s*" + _STR + r"\s*\)\s*(?://.*|/\*.*\*/\s*)?$"
)


class RegistryError(Exception):
    pass


def _unescape(s):
    # C string escapes that may appear in a hint: \" and \\ only.
    return re.sub(r'\\(["\\])', r"\1", s)


def _strip_block_comments(text):
    # Replace /* ... */ with the same number of newlines, keeping line numbers.
    return re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)


def parse(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    entries = []
    for lineno, line in enumerate(_strip_block_comments(text).splitlines(), 1):
        if "SL_ERROR" not in line:
            if line.strip() and not line.strip().startswith("//"):
                raise RegistryError("%s:%d: unexpected line: %s" % (path, lineno, line.strip()))
            continue
        m = _LINE.match(line)
        if not m:
            raise RegistryError("%s:%d: cannot parse: %s" % (path, lineno, line.strip()))
        ident, code, status, name, hint = m.groups()
        entries.append(Entry(ident, int(code), int(status), _unescape(name), _unescape(hint), lineno))
    if not entries:
        raise RegistryError("%s: no SL_ERROR entries" % path)
    for field in ("ident", "code", "name"):
        seen = {}
        for e in entries:
            v = getattr(e, field)
            if v in seen:
                raise RegistryError("%s:%d: duplicate %s %r (first on line %d)"
                                    % (path, e.line, field, v, seen[v]))
            seen[v] = e.line
    for e in entries:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", e.name):
            raise RegistryError("%s:%d: name %r is not snake_case" % (path, e.line, e.name))
        if not 100 <= e.status <= 599:
            raise RegistryError("%s:%d: bad HTTP status %d" % (path, e.line, e.status))
    return entries
