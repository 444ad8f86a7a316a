// The dashboard in a real browser, and /metrics in a real Prometheus (tests/browser/run.sh
// starts the server on a seeded demo market and runs this file).
//
// Browser (Debian's chromium, headless, through playwright-core):
//   - a wrong token is refused and nothing is shown;
//   - an operator of one region sees only that region (overview, pool health);
//   - the operator's figures change after a trade is made through the API (live refresh);
//   - the market view's price chart has points (uPlot canvas, data table);
//   - a tenant finds an offer in the offer table (filter, sort);
//   - accessibility basics: every chart has a text alternative (a table it points to),
//     text contrast >= 4.5:1, every control reachable by keyboard with a visible focus ring;
//   - the page logs no console errors and throws no exceptions.
// Prometheus (Debian's prometheus): scrapes /metrics with an admin token; the PromQL
// `sum(suanli_trades_total)` equals the number of trades the API lists.
// Screenshots of each view: $SUANLI_TEST_OUT/*.png.  Last line: `N passed, N failed`.
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer } from "node:net";
import { chromium } from "playwright-core";

const BASE = process.env.SUANLI_URL;
const ADMIN = process.env.SUANLI_ADMIN_TOKEN;
const OUT = process.env.SUANLI_TEST_OUT || ".";
const CHROMIUM = process.env.SUANLI_CHROMIUM || "/usr/bin/chromium";
const PROMETHEUS = process.env.SUANLI_PROMETHEUS || "/usr/bin/prometheus";
const REGION = "us-east-1";   // the operator's region (seeded with pools of many models)
const OTHER = "ap-south-1";   // another seeded region the operator must not see
const MODEL = "H100-SXM";

let passed = 0, failed = 0;
function result(name, ok, detail) {
  if (ok) { passed++; console.log("PASS " + name); }
  else { failed++; console.log("FAIL " + name + (detail ? ": " + detail : "")); }
}
async function test(name, fn) {
  try { await fn(); result(name, true); }
  catch (e) { result(name, false, e && e.stack ? e.stack.split("\n").slice(0, 3).join(" | ") : String(e)); }
}
function assert(cond, msg) { if (!cond) throw new Error(msg); }
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(what, fn, ms = 20000) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try { last = await fn(); if (last) return last; } catch (e) { last = e; }
    await sleep(250);
  }
  throw new Error("timed out waiting for " + what + " (last: " + (last && last.message ? last.message : JSON.stringify(last)) + ")");
}

async function api(method, path, body, token) {
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = "Bearer " + token;
  // every POST as a careful client sends it: one fresh key per intended operation (money-moving
  // routes require one)
  if (method === "POST") headers["Idempotency-Key"] = crypto.randomUUID();
  const r = await fetch(BASE + path, { method, headers, body: body ? JSON.stringify(body) : undefined });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch (e) { json = null; }
  return { status: r.status, json, text };
}
async function must(method, path, body, token, want) {
  const r = await api(method, path, body, token);
  assert(r.status === want, `${method} ${path}: want ${want}, got ${r.status} ${r.text.slice(0, 200)}`);
  return r.json;
}
const uniq = (p) => p + "-" + Date.now().toString(36) + Math.random().toString(36).slice(2, 6);
function nextHour(h) {
  const d = new Date();
  d.setUTCMinutes(0, 0, 0);
  d.setUTCHours(d.getUTCHours() + h);
  return d.toISOString().replace(".000Z", "Z");
}

async function account(kind, extra) {
  const a = await must("POST", "/v1/accounts", { kind, name: uniq(kind), ...(extra || {}) }, ADMIN, 201);
  const t = await must("POST", `/v1/accounts/${a.id}/tokens`, { label: "browser" }, ADMIN, 201);
  return { id: a.id, token: t.token };
}
let hourOffset = 2;
async function trade(tenant, region) {
  const o = await must("POST", "/v1/orders", { gpus: 1, duration_hours: 1, earliest_start: nextHour(hourOffset++),
    regions: [region], spec: { accelerators: [MODEL] } }, tenant.token, 201);
  assert(o.state === "filled", "order not filled: " + JSON.stringify(o).slice(0, 200));
  return o;
}
async function tradeCount() {
  let n = 0, after = null;
  for (;;) {
    const p = await must("GET", "/v1/trades?limit=500" + (after ? "&after=" + after : ""), null, ADMIN, 200);
    n += p.items.length;
    if (!p.next_after) return n;
    after = p.next_after;
  }
}

// ------------------------------------------------------------------------ setup
const op = await account("operator", { regions: [REGION] });
const tenant = await account("tenant");
await must("POST", `/v1/accounts/${tenant.id}/deposits`, { amount: "100000.00" }, ADMIN, 201);
await trade(tenant, REGION);
await trade(tenant, OTHER);

const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true,
  args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"] });
const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 }, timezoneId: "Asia/Shanghai", locale: "en-US" });
const page = await ctx.newPage();
const consoleErrors = [];
let expect401 = false; // the refused sign-in's own 401 is logged by the browser, not the page
page.on("console", (m) => {
  if (m.type() !== "error") return;
  const where = m.location() && m.location().url ? " (" + m.location().url + ")" : "";
  if (expect401 && /status of 401/.test(m.text())) return;
  consoleErrors.push(m.text() + where);
});
page.on("pageerror", (e) => consoleErrors.push("exception: " + e.message));
const shot = (name) => page.screenshot({ path: join(OUT, name + ".png"), fullPage: true });

async function signIn(token) {
  await page.goto(BASE + "/ui");
  await page.fill("#token", token);
  await page.click("#signin-btn");
}
async function openTab(id) {
  await page.click("#tab-" + id);
  await page.waitForSelector("#view-" + id + ":not([hidden])");
}
const cardValue = (label) => page.evaluate((k) => {
  for (const c of document.querySelectorAll("#overview .card"))
    if (c.querySelector(".k").textContent === k) return c.querySelector(".v").textContent;
  return null;
}, label);

try {
  await test("the dashboard is served with a strict Content-Security-Policy", async () => {
    const r = await fetch(BASE + "/ui");
    assert(r.status === 200, "GET /ui " + r.status);
    assert((r.headers.get("content-type") || "").startsWith("text/html"), "content type " + r.headers.get("content-type"));
    assert((r.headers.get("content-security-policy") || "").includes("script-src 'self'"), "no CSP");
  });

  await test("a wrong token is refused", async () => {
    expect401 = true;
    await signIn("sl_" + "0".repeat(40));
    await page.waitForFunction(() => document.getElementById("signin-error").textContent.length > 0);
    expect401 = false;
    const err = await page.textContent("#signin-error");
    assert(/refused/.test(err), "message: " + err);
    assert(await page.isHidden("#tabs"), "tabs shown after a refused token");
    assert(!page.url().includes("sl_"), "the token is in the URL");
    await shot("01-wrong-token");
  });

  await test("keyboard: the token field is reachable with Tab and shows a focus ring", async () => {
    await page.goto(BASE + "/ui");
    let id = null;
    for (let i = 0; i < 10 && id !== "token"; i++) {
      await page.keyboard.press("Tab");
      id = await page.evaluate(() => document.activeElement && document.activeElement.id);
    }
    assert(id === "token", "Tab never reached the token field");
    const ring = await page.evaluate(() => {
      const s = getComputedStyle(document.activeElement);
      return { style: s.outlineStyle, width: parseFloat(s.outlineWidth) };
    });
    assert(ring.style !== "none" && ring.width >= 2, "no visible focus ring: " + JSON.stringify(ring));
    await page.keyboard.type(op.token);
    await page.keyboard.press("Enter"); // submits the form: sign-in works without a mouse
    await page.waitForSelector("#tabs:not([hidden])");
  });

  await test("operator of one region sees only that region", async () => {
    await page.waitForSelector("#ov-region");
    const opts = await page.$$eval("#ov-region option", (o) => o.map((x) => x.value));
    assert(opts.length === 1 && opts[0] === REGION, "regions offered: " + opts);
    assert((await page.getAttribute("#overview .region", "data-region")) === REGION, "region section");
    const who = await page.textContent("#who-text");
    assert(who.includes(REGION) && who.includes("operator"), "who: " + who);
    const models = await page.$$eval("#ov-models tbody tr", (r) => r.length);
    assert(models >= 2, "model rows: " + models);
    await page.waitForSelector("#overview canvas.heat");
    await shot("02-operator-overview");
    await openTab("health");
    await page.waitForSelector("#health-pools tbody tr");
    const regions = await page.$$eval("#health-pools tbody tr", (rows) => rows.map((r) => r.children[1].textContent));
    assert(regions.length > 0 && regions.every((x) => x === REGION), "pool regions: " + [...new Set(regions)]);
    await shot("03-operator-health");
    await openTab("dispatch");
    await page.waitForSelector("#dispatch table");
    const adapters = await page.$$eval("#dispatch table:first-of-type tbody tr", (r) => r.length);
    assert(adapters >= 1, "no reservation rows");
    await shot("04-operator-dispatch");
    await openTab("ledger");
    await page.waitForSelector("#ledger .cards, #ledger p");
    // the last recorded run of the ledger auditor (run.sh ran `suanlid audit` on the seed)
    await page.waitForSelector("#audit-cards");
    const auditText = await page.$eval("#audit-cards", (x) => x.textContent);
    assert(/Last audit/.test(auditText) && /clean|findings/.test(auditText), "ledger view audit cards: " + auditText);
    await shot("05-operator-ledger");
  });

  await test("the operator's numbers change after a trade made through the API", async () => {
    await openTab("overview");
    await page.waitForSelector("#overview .card");
    const before = Number((await cardValue("Trades this period")).replace(/,/g, ""));
    assert(before >= 1, "trades before: " + before);
    await trade(tenant, REGION);
    await trade(tenant, OTHER); // not the operator's: must not count
    const after = await until("the trade count to change", async () => {
      const v = Number((await cardValue("Trades this period")).replace(/,/g, ""));
      return v !== before ? v : null;
    });
    assert(after === before + 1, `trades ${before} -> ${after} (want +1)`);
    await shot("06-operator-after-trade");
  });

  await test("the price chart has points and a table alternative", async () => {
    await openTab("market");
    await page.waitForSelector("#price-model");
    await page.selectOption("#price-model", MODEL);
    await page.waitForSelector("#price-chart canvas", { timeout: 15000 });
    const n = Number(await page.getAttribute("#price-chart", "data-points"));
    assert(n >= 1, "points: " + n);
    const rows = await page.$$eval("#price-table tbody tr", (r) => r.length);
    assert(rows === n, `table rows ${rows} != points ${n}`);
    await shot("07-operator-market");
  });

  await test("accessibility: every chart has a text alternative", async () => {
    for (const tab of ["overview", "market"]) {
      await openTab(tab);
      await page.waitForSelector("#view-" + tab + " .chart");
      const bad = await page.evaluate((t) => {
        const out = [];
        for (const c of document.querySelectorAll("#view-" + t + " .chart [role=img], #view-" + t + " .chart[role=img]")) {
          const label = c.getAttribute("aria-labelledby"), desc = c.getAttribute("aria-describedby");
          const l = label && document.getElementById(label), d = desc && document.getElementById(desc);
          if (!l || !l.textContent.trim() || !d || d.tagName !== "TABLE") out.push(c.id || c.tagName);
        }
        const charts = document.querySelectorAll("#view-" + t + " .chart").length;
        return { out, charts };
      }, tab);
      assert(bad.charts >= 1 && bad.out.length === 0, tab + ": charts without label and table: " + JSON.stringify(bad));
    }
  });

  await test("accessibility: text contrast is at least 4.5:1", async () => {
    const low = await page.evaluate(() => {
      const rgb = (s) => (s.match(/[\d.]+/g) || []).map(Number);
      const lum = ([r, g, b]) => {
        const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
        return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
      };
      const bg = (e) => {
        for (; e; e = e.parentElement) {
          const c = rgb(getComputedStyle(e).backgroundColor);
          if (c.length === 3 || (c.length === 4 && c[3] > 0)) return c.slice(0, 3);
        }
        return [255, 255, 255];
      };
      const out = [];
      let checked = 0;
      for (const e of document.querySelectorAll("body *")) {
        if (!e.offsetParent && e.tagName !== "BODY") continue;
        const own = [...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
        if (!own) continue;
        checked++;
        const a = lum(rgb(getComputedStyle(e).color)), b = lum(bg(e));
        const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
        if (ratio < 4.5) out.push(e.tagName + "." + e.className + " " + ratio.toFixed(2));
      }
      return { out: out.slice(0, 5), checked };
    });
    assert(low.checked > 20 && low.out.length === 0, "low contrast: " + JSON.stringify(low));
  });

  await test("keyboard: the views switch from the keyboard", async () => {
    await page.focus("#tab-health");
    await page.keyboard.press("Enter");
    await page.waitForSelector("#view-health:not([hidden])");
    const ring = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
    assert(ring !== "none", "no focus ring on the tab button");
  });

  await test("a tenant finds an offer in the offer table", async () => {
    await page.click("#signout");
    await signIn(tenant.token);
    await page.waitForSelector("#tabs:not([hidden])");
    const tabs = await page.$$eval("#tabs button", (b) => b.map((x) => x.id));
    assert(!tabs.includes("tab-overview") && !tabs.includes("tab-dispatch"), "tenant tabs: " + tabs);
    await openTab("market");
    await page.waitForSelector("#offers tbody tr");
    await page.fill("#offer-filter", MODEL);
    await page.waitForFunction((m) => {
      const rows = [...document.querySelectorAll("#offers tbody tr")];
      return rows.length > 0 && rows.every((r) => r.children[1].textContent === m);
    }, MODEL);
    await page.click('#offers button[data-sort="min_price"]'); // ascending by default: now descending
    const sort = await page.getAttribute('#offers th:has(button[data-sort="min_price"])', "aria-sort");
    assert(sort === "descending", "aria-sort " + sort);
    const prices = await page.$$eval("#offers tbody tr", (r) => r.map((x) => Number(x.children[5].textContent.replace(/[^0-9.]/g, ""))));
    assert(prices.length >= 1 && prices.every((p, i) => i === 0 || prices[i - 1] >= p), "not sorted: " + prices);
    const row = await page.$$eval("#offers tbody tr", (r, reg) => r.some((x) => x.children[0].textContent === reg), REGION);
    assert(row, "no " + MODEL + " offer in " + REGION);
    await shot("08-tenant-market");
    await openTab("mine");
    await page.waitForSelector("#mine tbody tr");
    await shot("09-tenant-orders");
  });

  await test("the page logged no console errors", async () => {
    assert(consoleErrors.length === 0, consoleErrors.slice(0, 5).join(" | "));
  });
} finally {
  await browser.close();
}

// ------------------------------------------------------------------------ Prometheus
function freePort() {
  return new Promise((res) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => res(p)); });
  });
}
await test("a real Prometheus scrapes /metrics and PromQL returns the API's trade count", async () => {
  const dir = mkdtempSync(join(tmpdir(), "suanli-prom-"));
  const port = await freePort();
  const target = new URL(BASE).host;
  writeFileSync(join(dir, "token"), ADMIN);
  writeFileSync(join(dir, "prometheus.yml"), [
    "global: {scrape_interval: 1s, scrape_timeout: 1s}",
    "scrape_configs:",
    "  - job_name: suanli",
    "    metrics_path: /metrics",
    "    authorization: {type: Bearer, credentials_file: " + JSON.stringify(join(dir, "token")) + "}",
    "    static_configs: [{targets: [" + JSON.stringify(target) + "]}]", ""].join("\n"));
  const prom = spawn(PROMETHEUS, ["--config.file=" + join(dir, "prometheus.yml"), "--storage.tsdb.path=" + join(dir, "data"),
    "--web.listen-address=127.0.0.1:" + port, "--log.level=warn"], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  prom.stderr.on("data", (d) => { log += d; });
  try {
    const want = await tradeCount();
    assert(want >= 4, "trades through the API: " + want);
    const q = async (expr) => {
      const r = await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(expr)}`);
      const j = await r.json();
      return j.data && j.data.result.length ? Number(j.data.result[0].value[1]) : null;
    };
    const up = await until("the scrape to succeed", async () => (await q('up{job="suanli"}')) === 1, 30000);
    assert(up, "target down");
    const got = await until("sum(suanli_trades_total) == " + want, async () => {
      const v = await q("sum(suanli_trades_total)");
      return v === want ? v : null;
    }, 30000);
    assert(got === want, `PromQL ${got}, API ${want}`);
    const http = await q('sum(suanli_http_requests_total{route="/v1/orders",method="POST",status="201"})');
    assert(http >= 4, "POST /v1/orders 201 count " + http);
  } catch (e) {
    throw new Error(e.message + " | prometheus: " + log.slice(-300));
  } finally {
    if (prom.exitCode === null && prom.signalCode === null) {
      const gone = new Promise((r) => prom.once("exit", r));
      prom.kill("SIGTERM");
      await gone;
    }
    rmSync(dir, { recursive: true, force: true });
  }
});

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
