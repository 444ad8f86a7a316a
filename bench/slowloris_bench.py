#!/usr/bin/env python3
"""Slow clients at scale (issue 16): N slow connections from many loopback addresses against
one suanlid, while a legitimate client keeps requesting.

  python3 bench/slowloris_bench.py URL ADMIN_TOKEN [--conns 3000] [--addresses 300]
                                   [--seconds 20] [--record bench/RESULTS.md]

Each slow connection sends a request line and then one header byte every 2 s, never finishing
its headers (a closed one is reopened at once, so the pressure stays on).  The legitimate
client (127.0.0.1, known to the server from a first request) sends GET /v1/me on a new
connection every 50 ms.  Prints (and with --record appends) the legitimate success rate, the
slow connections opened, refused at connect and shut by the server.  One thread, poll()."""
import argparse
import http.client
import os
import platform
import select
import socket
import subprocess
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("admin")
    ap.add_argument("--conns", type=int, default=3000)
    ap.add_argument("--addresses", type=int, default=300)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--record")
    a = ap.parse_args()
    host, port = a.url.split("//")[1].split(":")
    port = int(port)

    def legit():
        c = http.client.HTTPConnection(host, port, timeout=5)
        try:
            c.request("GET", "/v1/me", headers={"Authorization": "Bearer " + a.admin})
            r = c.getresponse()
            r.read()
            return r.status == 200
        except (OSError, http.client.HTTPException):
            return False
        finally:
            c.close()

    if not legit():
        raise SystemExit("the legitimate client cannot reach %s" % a.url)
    addrs = ["127.%d.%d.%d" % (10 + i // 65000, (i // 250) % 250 + 1, i % 250 + 1) for i in range(a.addresses)]
    per = max(1, a.conns // a.addresses)
    slots = {}  # socket -> address index
    stats = {"opened": 0, "refused": 0, "shut": 0}

    def open_one(k):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.bind((addrs[k], 0))
            s.connect_ex((host, port))
        except OSError:
            s.close()
            stats["refused"] += 1
            return
        slots[s] = [k, 0, False]
        stats["opened"] += 1

    for k in range(a.addresses):
        for _ in range(per):
            open_one(k)
    ok = total = 0
    t_end = time.time() + a.seconds
    next_legit = time.time() + 1.0
    next_drip = time.time()
    while time.time() < t_end:
        now = time.time()
        if now >= next_drip:
            next_drip = now + 2.0
            for s, st in list(slots.items()):
                try:
                    s.send(b"GET /v1/pools HTTP/1.1\r\nHost: x\r\n" if not st[2] else b"X")
                    st[2] = True
                except BlockingIOError:
                    pass
                except OSError:
                    pass
        poller = select.poll()
        by_fd = {}
        for s in slots:
            poller.register(s, select.POLLIN | select.POLLHUP | select.POLLERR)
            by_fd[s.fileno()] = s
        r = [by_fd[fd] for fd, _ in poller.poll(10)]
        for s in r:
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if not data:
                k = slots.pop(s)[0]
                s.close()
                stats["shut"] += 1
                open_one(k)
        if now >= next_legit:
            next_legit = now + 0.05
            total += 1
            ok += legit()
    for s in slots:
        s.close()
    rate = 100.0 * ok / total if total else 0.0
    line = ("| %d slow connections from %d addresses, %.0f s | %d / %d = **%.2f %%** | %d | %d | %d |"
            % (a.conns, a.addresses, a.seconds, ok, total, rate, stats["opened"], stats["refused"], stats["shut"]))
    print(line)
    if a.record:
        load = open("/proc/loadavg").read().split()[:3]
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
        with open(a.record, "a") as f:
            f.write("\n## %s — slow clients at scale (issue 16)\n\n" % time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
            f.write("- command: `python3 bench/slowloris_bench.py URL TOKEN --conns %d --addresses %d --seconds %.0f`"
                    " against `build/suanlid` with its defaults (conn limit 1024, reserve 128, per address 512,"
                    " header deadline 10 s)\n" % (a.conns, a.addresses, a.seconds))
            f.write("- host: `%s`; nproc %d; load average %s at the end (shared machine); revision %s\n\n"
                    % (platform.platform(), os.cpu_count(), " ".join(load), rev))
            f.write("| scenario | legitimate GET /v1/me succeeded | slow connections opened | local bind/connect errors | closed by the server (refused at accept or past the header deadline) |\n")
            f.write("|---|---:|---:|---:|---:|\n")
            f.write(line + "\n")


if __name__ == "__main__":
    main()
