-- bench/market_post.lua — wrk script of bench/market_scale.py: POSTs JSON bodies.
--
-- Environment: SUANLI_TOKEN (Bearer token), BENCH_BODY (a JSON body sent as is), or, for
-- orders, BENCH_ORDER_REGIONS (comma-separated regions) and BENCH_ORDER_T0 (the first start,
-- epoch seconds): each request is then a fill-or-kill order of 1 GPU for 1 hour in a random
-- region of the list, starting at a random one of the 48 hours from T0, so 32 clients do not
-- all race for the same cheapest pool.  Each order has its own Idempotency-Key (orders move
-- money: the server refuses them without one) and, when BENCH_TOKENS (comma-separated) is
-- set, the next of those tenants' tokens in turn (one tenant's orders serialize on its
-- balance row).  At the end one line is printed:
--   BENCH requests=N duration_us=N bytes=N rps=X p50_us=N p90_us=N p99_us=N max_us=N
--         non2xx=N connect=N read=N write=N timeout=N
local token = os.getenv("SUANLI_TOKEN")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json"
if token ~= nil and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end
wrk.body = os.getenv("BENCH_BODY")

local regions, tokens = {}, {}
for t in string.gmatch(os.getenv("BENCH_TOKENS") or "", "[^,]+") do
  tokens[#tokens + 1] = t
end
local t0 = tonumber(os.getenv("BENCH_ORDER_T0") or "0")
for r in string.gmatch(os.getenv("BENCH_ORDER_REGIONS") or "", "[^,]+") do
  regions[#regions + 1] = r
end

local prefix, sent, turn = "", 0, 0

function init(args)
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
  prefix = string.format("bench-%d-%d", os.time(), math.random(1, 1000000000))
  turn = math.random(0, 1000000)
end

local function iso(t)
  return os.date("!%Y-%m-%dT%H:%M:%SZ", t)
end

function request()
  if #regions == 0 then
    return wrk.format()
  end
  local r = regions[math.random(#regions)]
  local s = t0 + 3600 * math.random(0, 47)
  local body = string.format(
    '{"gpus":1,"duration_hours":1,"earliest_start":"%s","regions":["%s"],"time_in_force":"fill_or_kill"}',
    iso(s), r)
  sent = sent + 1
  wrk.headers["Idempotency-Key"] = prefix .. "-" .. sent
  if #tokens > 0 then
    wrk.headers["Authorization"] = "Bearer " .. tokens[(sent + turn) % #tokens + 1]
  end
  return wrk.format(nil, nil, nil, body)
end

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
