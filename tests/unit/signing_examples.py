#!/usr/bin/env python3
"""The worked examples of api/SIGNING.md, recomputed independently of the C code (python3:
struct, hashlib, and Ed25519 from the `cryptography` package when it is installed, else the
pure-Python RFC 8032 signer of tests/e2e/ledger_util.py).

Every record is packed here from the field values of the page's prose (written out below, not
read from the page), signed with the example keys, and compared byte for byte with the
`record`, `signature` and `leaf hash` lines of the page's code blocks.  Exit 0 when all agree,
1 otherwise (each difference printed).  Usage: signing_examples.py [path/to/SIGNING.md]
"""
import hashlib
import os
import re
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

try:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    def public(seed):
        return Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()

    def sign(seed, msg):
        return Ed25519PrivateKey.from_private_bytes(seed).sign(msg)
except ImportError:  # the slow but exact RFC 8032 signer of the e2e tests
    sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
    import ledger_util  # noqa: E402

    public, sign = ledger_util.ed25519_public, ledger_util.ed25519_sign

SEED = bytes(range(32))            # the exchange's example key
WITNESS_SEED = bytes(range(32, 64))  # the witness's example key


def key_id(pk):
    return hashlib.blake2b(pk, digest_size=32).digest()[:8]


def money(p, e, t, a, j, tt, tp, f, at):
    return struct.pack(">IIQQQQqqqq", 72, p, e, t, a, j, tt, tp, f, at)


def leaf(rec, sig):
    return hashlib.sha256(b"\x00" + rec + key_id(public(SEED)) + sig).digest()


def examples():
    """name -> (record bytes, signing seed, is an entry)."""
    trade = struct.pack(">IIQQQQQQIqqqqIq", 104, 1, 42, 1001, 501, 7, 3, 12, 8, 1796083200, 1796097600,
                        245, 7840, 250, 1795818615)
    abc = hashlib.sha256(b"abc").digest()
    cp = struct.pack(">IIQ32sq", 56, 7, 1, leaf(trade, sign(SEED, trade)), 1795818620)
    return {
        "TRADE": (trade, SEED, True),
        "CANCELLATION": (money(2, 43, 1001, 7, 9001, 7840 - 784, 784 - 20, 20, 1795905015), SEED, True),
        "SETTLEMENT": (money(3, 44, 1002, 7, 9002, 0, 7840 - 196, 196, 1796097600), SEED, True),
        "REFUND": (money(4, 45, 1003, 7, 9003, 3920, 0, 0, 1796090400), SEED, True),
        "DEPOSIT": (money(5, 46, 0, 3, 9004, 100000, 0, 0, 1795800000), SEED, True),
        "WITHDRAWAL": (money(6, 47, 0, 7, 9005, -7770, 0, 0, 1795810000), SEED, True),
        "CHECKPOINT": (cp, SEED, False),
        "EXPORT": (struct.pack(">II32s", 40, 8, abc), SEED, False),
        "PERIOD_CLOSE": (struct.pack(">IIQQqq32sq", 80, 9, 48, 2, 1793491200, 1796083200, abc, 1796083260), SEED,
                         True),
        "COSIGNATURE": (struct.pack(">IIqQ32s32s", 88, 12, 1795818630, 1, cp[16:48], hashlib.sha256(cp).digest()),
                        WITNESS_SEED, False),
    }


def page_blocks(text):
    """name -> {"record": hex, "signature": hex, "leaf hash": hex} from the page's examples of
    the other purposes (a **NAME** paragraph followed by a code block of labelled lines)."""
    out = {}
    part = text.split("### Worked examples of the other purposes", 1)
    if len(part) != 2:
        return out
    for m in re.finditer(r"\*\*([A-Z_]+)\*\*.*?```\n(.*?)```", part[1], re.S):
        fields = {}
        for line in m.group(2).splitlines():
            k = re.match(r"^(record|signature|leaf hash)\s+([0-9a-f]+)$", line.strip())
            if k:
                fields[k.group(1)] = k.group(2)
        out[m.group(1)] = fields
    return out


def main(argv):
    path = argv[1] if len(argv) > 1 else os.path.join(ROOT, "api", "SIGNING.md")
    text = open(path, encoding="utf-8").read()
    bad = []
    if public(SEED).hex() not in text or public(WITNESS_SEED).hex() not in text:
        bad.append("the example public keys are not on the page")
    blocks = page_blocks(text)
    ex = examples()
    # the first example (TRADE) is written as wrapped hex in its own blocks
    flat = re.sub(r"\s+", "", text)
    rec, seed, _ = ex.pop("TRADE")
    if rec.hex() not in flat or sign(seed, rec).hex() not in flat or leaf(rec, sign(seed, rec)).hex() not in text:
        bad.append("TRADE: the record, signature or leaf hash on the page differs")
    for name, (rec, seed, entry) in ex.items():
        b = blocks.get(name)
        if b is None:
            bad.append("%s: no worked example on the page" % name)
            continue
        sig = sign(seed, rec)
        want = {"record": rec.hex(), "signature": sig.hex()}
        if entry:
            want["leaf hash"] = leaf(rec, sig).hex()
        for k, v in want.items():
            if b.get(k) != v:
                bad.append("%s %s: page %s, recomputed %s" % (name, k, b.get(k), v))
        if not entry and "leaf hash" in b:
            bad.append("%s is not a ledger entry but the page gives a leaf hash" % name)
        if len(rec) != struct.unpack(">I", rec[:4])[0]:
            bad.append("%s: size field %d, length %d" % (name, struct.unpack(">I", rec[:4])[0], len(rec)))
    for line in bad:
        print("FAIL " + line)
    print("%d worked examples checked, %d difference(s)" % (len(ex) + 1, len(bad)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
