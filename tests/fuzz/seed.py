#!/usr/bin/env python3
"""Write the seed corpora of tests/fuzz/ from the test suite's inputs (python3 stdlib only).

  python3 tests/fuzz/seed.py SUANLI_VERIFY_BINARY

target:  every "/v1/..." or "/healthz"-like path literal in tests/e2e/*.py, plus the hostile
         targets of test_hostile.py (%00, %2F, dot segments, invalid UTF-8, many parameters);
order:   OrderRequest bodies like those of tests/e2e/test_market.py (every optional field);
records, verify: the sample receipts, checkpoints and signature files of
         `suanli-verify selftest-sample` (the verifier's own test set), records hex-decoded;
merkle:  inclusion and consistency inputs for small RFC 9162 trees, valid and tampered.
Files are named by the SHA-1 of their content (libFuzzer's convention), so reruns add nothing."""
import glob
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def put(kind, data):
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    d = os.path.join(HERE, "corpus", kind)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


def targets():
    seen = set()
    for fn in glob.glob(os.path.join(ROOT, "tests", "e2e", "*.py")):
        for m in re.finditer(r'"(/(?:v1|healthz|readyz)[^"\s%]*)"', open(fn, encoding="utf-8").read()):
            seen.add(m.group(1))
    for p in sorted(seen)[:200]:
        put("target", p)
    for p in ["/%ff", "/v1/accounts/1%00", "/v1/pools%2f1", "/v1/accounts/6%00/../../audit",
              "/v1/%c0%af", "/v1/pools?%ff=1", "/v1/r%65gions", "/v1/pools/1%2F2", "/v1/%2e%2e/audit",
              "/v1/pools?" + "&".join("u%d=1" % i for i in range(40)), "/v1/tokens/31%00junk",
              "/v1/pools?region=a+b&limit=5", "/v1/pools/\xff", "/v1/./x", "/v1/pools?name=%E7%AE%97"]:
        put("target", p)


def orders():
    base = {"gpus": 8, "duration_hours": 4, "earliest_start": "2026-12-02T10:00:00Z"}
    variants = [
        {}, {"latest_start": "2026-12-03T10:00:00Z"},
        {"spec": {"accelerators": ["H100-SXM", "A100-SXM4-80GB"], "min_memory_gb": 80, "min_ncu": "0.9",
                  "intra_node": "nvlink", "min_inter_node": "infiniband", "min_inter_node_gbps": 200}},
        {"origin_region": "us-east-1", "max_rtt_ms": 40, "objective": "lowest_latency"},
        {"origin_region": "us-east-1", "objective": "tradeoff", "money_per_ms": "0.01"},
        {"regions": ["us-east-1", "eu-west-1"], "exclude_regions": ["cn-west-1"]},
        {"max_price_per_gpu_hour": "3.50", "max_price_per_ncu_hour": "4.00"},
        {"placement": "split", "max_pieces": 4},
        {"time_in_force": "good_till", "expires_at": "2026-12-05T00:00:00Z"},
        {"gpus": 0}, {"gpus": 100001}, {"duration_hours": 2161}, {"earliest_start": "tomorrow"},
        {"unknown": 1}, {"spec": {"accelerators": []}}, {"max_price_per_gpu_hour": "1.234"},
    ]
    for v in variants:
        b = dict(base)
        b.update(v)
        put("order", json.dumps(b))
    for raw in ['{', '[]', '{"gpus": 1e400}', '{"gpus": "8"}', '"x"', '{"a":' * 50, '{"gpus": 9223372036854775808}']:
        put("order", raw)


def sample(verify):
    d = tempfile.mkdtemp()
    subprocess.run([verify, "selftest-sample", d], check=True, stdout=subprocess.DEVNULL)
    for fn in sorted(os.listdir(d)):
        data = open(os.path.join(d, fn), "rb").read()
        if fn.endswith(".json"):
            put("verify", data)
            for m in re.finditer(rb'"record"\s*:\s*"([0-9a-f]+)"', data):
                put("records", bytes.fromhex(m.group(1).decode()))


def sha(b):
    return hashlib.sha256(b).digest()


def mth(leaves):
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return sha(b"\x01" + mth(leaves[:k]) + mth(leaves[k:]))


def path(m, leaves):
    if len(leaves) <= 1:
        return []
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    if m < k:
        return path(m, leaves[:k]) + [mth(leaves[k:])]
    return path(m - k, leaves[k:]) + [mth(leaves[:k])]


def merkle():
    for n in (1, 2, 3, 5, 8, 13):
        leaves = [sha(b"\x00" + bytes([i])) for i in range(n)]
        root = mth(leaves)
        for i in (0, n // 2, n - 1):
            pr = path(i, leaves)
            blob = b"\x00" + i.to_bytes(8, "big") + n.to_bytes(8, "big") + leaves[i] + root + b"".join(pr)
            put("merkle", blob)
            put("merkle", blob[:-1] + bytes([blob[-1] ^ 1]))
        for m in (1, n // 2 or 1):
            blob = b"\x01" + m.to_bytes(8, "big") + n.to_bytes(8, "big") + mth(leaves[:m]) + root
            put("merkle", blob + b"".join(path(0, leaves)))


if __name__ == "__main__":
    targets()
    orders()
    sample(sys.argv[1])
    merkle()
    for k in sorted(os.listdir(os.path.join(HERE, "corpus"))):
        print(k, len(os.listdir(os.path.join(HERE, "corpus", k))))
