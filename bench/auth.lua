-- bench/auth.lua — wrk script used by bench/run.sh for both targets (suanlid and the baseline),
-- so both see the same request headers.
--
-- Sends `Authorization: Bearer $SUANLI_TOKEN` when SUANLI_TOKEN is set (the token is read from
-- the environment so it never appears on a command line), and at the end prints one line that
-- bench/run.sh parses:
--   BENCH requests=N duration_us=N bytes=N rps=X p50_us=N p90_us=N p99_us=N max_us=N
--         non2xx=N connect=N read=N write=N timeout=N
local token = os.getenv("SUANLI_TOKEN")
if token ~= nil and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end
wrk.headers["Accept"] = "application/json"

function done(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    "BENCH requests=%d duration_us=%d bytes=%d rps=%.1f p50_us=%d p90_us=%d p99_us=%d max_us=%d " ..
    "non2xx=%d connect=%d read=%d write=%d timeout=%d\n",
    summary.requests, summary.duration, summary.bytes, summary.requests / secs,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.status, e.connect, e.read, e.write, e.timeout))
end
