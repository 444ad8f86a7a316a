/* Suanli dashboard.  Every figure comes from the JSON API with the signed-in token, so the
 * page shows exactly what that token's role may see.  The token lives in this closure only
 * (never a URL, a cookie or storage).  Views refresh every few seconds with If-None-Match,
 * so an unchanged figure costs a 304.  Text from the server is always set as textContent. */
"use strict";
(function () {
  let token = null;
  let me = null;
  let current = null;
  let timer = null;
  const cache = new Map(); // path -> {etag, data}
  const REFRESH_MS = 3000;
  const $ = (id) => document.getElementById(id);

  // ---------------------------------------------------------------- helpers
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") e.textContent = v;
      else if (k === "on") for (const [ev, fn] of Object.entries(v)) e.addEventListener(ev, fn);
      else e.setAttribute(k, v === true ? "" : v);
    }
    for (const k of kids) if (k !== null && k !== undefined) e.append(k);
    return e;
  }
  function time(iso) {
    if (!iso) return el("span", { text: "never" });
    const d = new Date(iso);
    return el("time", { datetime: iso, title: iso.replace("T", " ").replace("Z", " UTC"), text: d.toLocaleString() });
  }
  const fmtInt = (n) => Number(n || 0).toLocaleString("en-US");
  const usd = (s) => (s === null || s === undefined ? "–" : "$" + s);
  const pct = (bp) => (Number(bp || 0) / 100).toFixed(1) + " %";
  function dur(s) {
    s = Number(s);
    if (!isFinite(s)) return "–";
    if (s < 120) return s.toFixed(0) + " s";
    if (s < 7200) return (s / 60).toFixed(0) + " min";
    return (s / 3600).toFixed(1) + " h";
  }
  function card(k, v) {
    return el("div", { class: "card" }, el("div", { class: "k", text: k }), el("div", { class: "v", text: v }));
  }
  /* table(caption, [{h, num?, get(row) -> text|Node}], rows) */
  function table(caption, cols, rows, attrs) {
    const t = el("table", attrs || {}, el("caption", { text: caption }));
    const hr = el("tr");
    for (const c of cols) hr.append(el("th", { scope: "col", class: c.num ? "num" : null }, c.head || c.h));
    t.append(el("thead", {}, hr));
    const tb = el("tbody");
    if (!rows.length) tb.append(el("tr", {}, el("td", { colspan: cols.length, text: "none" })));
    for (const r of rows) {
      const tr = el("tr");
      for (const c of cols) {
        const v = c.get(r);
        tr.append(el("td", { class: c.num ? "num" : null }, v instanceof Node ? v : String(v ?? "–")));
      }
      tb.append(tr);
    }
    t.append(tb);
    return t;
  }
  function setStatus(msg, bad) {
    const s = $("status");
    s.textContent = msg;
    s.className = bad ? "status error" : "status";
  }

  class HttpError extends Error {
    constructor(status, body) {
      super((body && body.detail) || "HTTP " + status);
      this.status = status;
      this.body = body;
    }
  }
  async function api(path) {
    const headers = { Authorization: "Bearer " + token };
    const c = cache.get(path);
    if (c && c.etag) headers["If-None-Match"] = c.etag;
    const r = await fetch(path, { headers, cache: "no-store", credentials: "omit" });
    if (r.status === 304 && c) return c.data;
    let body = null;
    try { body = await r.json(); } catch (e) { body = null; }
    if (!r.ok) throw new HttpError(r.status, body);
    cache.set(path, { etag: r.headers.get("ETag"), data: body });
    return body;
  }

  // ---------------------------------------------------------------- sign in / out
  const VIEWS = {
    overview: { label: "Region overview", roles: ["admin", "operator"], render: renderOverview },
    health: { label: "Pool health", roles: ["admin", "operator", "provider"], render: renderHealth },
    dispatch: { label: "Dispatch", roles: ["admin", "operator"], render: renderDispatch },
    market: { label: "Market", roles: ["admin", "operator", "provider", "tenant"], render: renderMarket },
    ledger: { label: "Ledger", roles: ["admin", "operator", "provider", "tenant"], render: renderLedger },
    mine: { label: "", roles: ["provider", "tenant"], render: renderMine },
  };

  async function signIn(ev) {
    ev.preventDefault();
    const t = $("token").value.trim();
    $("signin-error").textContent = "";
    if (!t) return;
    token = t;
    try {
      me = await api("/v1/me");
    } catch (e) {
      token = null;
      me = null;
      $("signin-error").textContent = e.status === 401 ? "The token was refused (unknown, revoked or expired)." : "Sign-in failed: " + e.message;
      return;
    }
    $("token").value = "";
    $("signin").hidden = true;
    $("who").hidden = false;
    const a = me.account;
    const scope = a.kind === "operator" ? " — regions " + (a.regions || []).join(", ") : "";
    $("who-text").textContent = a.name + " (" + a.kind + ")" + scope;
    const tabs = $("tabs");
    tabs.replaceChildren();
    tabs.setAttribute("role", "tablist");
    VIEWS.mine.label = a.kind === "provider" ? "My pools" : "My orders";
    for (const [id, v] of Object.entries(VIEWS)) {
      if (!v.roles.includes(a.kind)) continue;
      tabs.append(el("button", { type: "button", role: "tab", id: "tab-" + id, "aria-controls": "view-" + id,
                                 "aria-selected": "false", text: v.label, on: { click: () => show(id) } }));
    }
    tabs.hidden = false;
    show(Object.keys(VIEWS).find((id) => VIEWS[id].roles.includes(a.kind)));
  }

  function signOut() {
    token = null;
    me = null;
    cache.clear();
    if (timer) clearInterval(timer);
    timer = null;
    current = null;
    for (const id of Object.keys(VIEWS)) {
      $("view-" + id).hidden = true;
      $(id).replaceChildren();
    }
    $("tabs").hidden = true;
    $("who").hidden = true;
    $("signin").hidden = false;
    setStatus("");
    $("token").focus();
  }

  function show(id) {
    current = id;
    for (const v of Object.keys(VIEWS)) {
      $("view-" + v).hidden = v !== id;
      const b = $("tab-" + v);
      if (b) b.setAttribute("aria-selected", v === id ? "true" : "false");
    }
    $("h-mine").textContent = VIEWS.mine.label;
    refresh();
    if (timer) clearInterval(timer);
    timer = setInterval(refresh, REFRESH_MS);
  }

  let busy = false;
  async function refresh() {
    if (!token || !current || busy) return;
    busy = true;
    const id = current;
    try {
      await VIEWS[id].render($(id));
      setStatus("Updated " + new Date().toLocaleTimeString());
    } catch (e) {
      if (e.status === 401) { signOut(); $("signin-error").textContent = "The token is no longer valid."; }
      else setStatus("Could not refresh: " + e.message, true);
    } finally {
      busy = false;
    }
  }

  /* Replace a container's content only when the data changed (keeps focus and scroll). */
  function renderInto(box, key, data, build) {
    const sig = JSON.stringify(data);
    if (box.dataset.sig === key + sig) return;
    const active = document.activeElement && document.activeElement.id;
    box.replaceChildren(build());
    box.dataset.sig = key + sig;
    if (active && $(active)) $(active).focus();
  }

  // ---------------------------------------------------------------- region overview
  let ovRegion = null;
  async function renderOverview(box) {
    const all = await api("/v1/stats/regions");
    const codes = all.items.map((x) => x.region);
    if (!ovRegion || !codes.includes(ovRegion)) ovRegion = codes[0] || null;
    const grid = ovRegion ? await api("/v1/stats/utilization?region=" + encodeURIComponent(ovRegion) + "&hours=336") : null;
    renderInto(box, ovRegion, [all, grid], () => {
      const frag = document.createDocumentFragment();
      const sel = el("select", { id: "ov-region", on: { change: (e) => { ovRegion = e.target.value; refresh(); } } });
      for (const c of codes) sel.append(el("option", { value: c, selected: c === ovRegion, text: c }));
      frag.append(el("div", { class: "filters" }, el("label", { for: "ov-region", text: "Region" }), sel,
                     el("span", { class: "legend-note", text: codes.length + " region(s) in your scope; live period from " }),
                     time(all.period_start)));
      const r = all.items.find((x) => x.region === ovRegion);
      if (!r) { frag.append(el("p", { text: "No regions in your scope." })); return frag; }
      const sec = el("div", { class: "region", "data-region": r.region });
      sec.append(el("h3", { text: r.region + " — " + r.name + " (" + r.tier + ")" }));
      sec.append(el("div", { class: "cards" },
        card("Pools", fmtInt(r.pools)), card("GPUs", fmtInt(r.gpus) + " GPUs"), card("Capacity", r.ncu + " NCU"),
        card("Booked now", fmtInt(r.gpus_booked_now) + " / " + fmtInt(r.gpus_open_now) + " GPUs"),
        card("Utilization, next 14 days", pct(r.utilization_14d_bp)),
        card("Trades this period", fmtInt(r.period.trades)), card("GPU-hours sold", fmtInt(r.period.gpu_hours) + " GPU-h"),
        card("Revenue", usd(r.period.revenue)), card("Fees", usd(r.period.fees)), card("Refunds", usd(r.period.refunds))));
      sec.append(el("div", { class: "cards" },
        card("Orders filled", fmtInt(r.orders.filled)), card("Orders killed", fmtInt(r.orders.killed)),
        card("Orders resting", fmtInt(r.orders.resting)), card("Orders expired", fmtInt(r.orders.expired))));
      sec.append(table("Top reasons orders naming this region did not fill", [
        { h: "Reason", get: (x) => x.reason }, { h: "Orders", num: true, get: (x) => fmtInt(x.orders) }], r.orders.top_reasons));
      sec.append(table("Pools and GPUs by accelerator model and health", [
        { h: "Model", get: (x) => x.accelerator }, { h: "Health", get: (x) => x.health },
        { h: "Pools", num: true, get: (x) => fmtInt(x.pools) }, { h: "GPUs", num: true, get: (x) => fmtInt(x.gpus) },
        { h: "Healthy GPUs", num: true, get: (x) => fmtInt(x.healthy_gpus) }, { h: "NCU", num: true, get: (x) => x.ncu }],
        r.by_model, { id: "ov-models" }));
      if (grid) sec.append(heatmap(grid));
      frag.append(sec);
      return frag;
    });
  }

  /* Utilization heatmap (pools x hourly slots) on a canvas, with a table as its text alternative. */
  function heatmap(grid) {
    const wrap = el("div", { class: "chart" });
    wrap.append(el("h3", { id: "heat-h", text: "Utilization, next " + grid.hours + " hours (pools × hourly slots)" }));
    const cw = 3, ch = 14, left = 0;
    const cv = el("canvas", { class: "heat", width: left + grid.hours * cw, height: Math.max(1, grid.pools.length) * ch,
                              role: "img", "aria-labelledby": "heat-h", "aria-describedby": "heat-table" });
    const g = cv.getContext("2d");
    grid.pools.forEach((p, row) => {
      p.booked.forEach((b, i) => {
        if (b === null) g.fillStyle = "#e5e7eb";
        else {
          const f = p.gpus ? b / p.gpus : 0;
          const l = Math.round(95 - 65 * f);
          g.fillStyle = "hsl(212, 80%, " + l + "%)";
        }
        g.fillRect(left + i * cw, row * ch, cw, ch - 1);
      });
    });
    wrap.append(cv, el("p", { class: "legend-note", text: "Darker = more of the pool's GPUs booked; grey = outside the pool's availability window. Starts " },
                       time(grid.start)));
    const rows = grid.pools.map((p) => {
      const v = p.booked.filter((b) => b !== null);
      const peak = v.length ? Math.max(...v) : 0;
      const avg = v.length && p.gpus ? v.reduce((a, b) => a + b, 0) / (v.length * p.gpus) : 0;
      return { name: p.name, model: p.accelerator, gpus: p.gpus, peak, avg, hours: v.length };
    });
    const det = el("details", {}, el("summary", { text: "Heatmap as a table" }),
      table("Booked GPUs per pool over the window", [
        { h: "Pool", get: (x) => x.name }, { h: "Model", get: (x) => x.model }, { h: "GPUs", num: true, get: (x) => fmtInt(x.gpus) },
        { h: "Available hours", num: true, get: (x) => fmtInt(x.hours) }, { h: "Peak booked (GPUs)", num: true, get: (x) => fmtInt(x.peak) },
        { h: "Average booked", num: true, get: (x) => (x.avg * 100).toFixed(1) + " %" }], rows, { id: "heat-table" }));
    wrap.append(det);
    return wrap;
  }

  // ---------------------------------------------------------------- pool health
  async function renderHealth(box) {
    const h = await api("/v1/stats/health");
    renderInto(box, "", h, () => {
      const f = document.createDocumentFragment();
      const bh = h.by_health || {};
      f.append(el("div", { class: "cards" },
        card("Healthy pools", fmtInt(bh.healthy)), card("Degraded", fmtInt(bh.degraded)), card("Down", fmtInt(bh.down)),
        card("Unknown", fmtInt(bh.unknown)), card("Silent (> " + dur(h.heartbeat_timeout_s) + ")", fmtInt(h.silent_count)),
        card("Failovers, 24 h", fmtInt(h.failovers_24h))));
      f.append(table("Pools gone silent", [
        { h: "Pool", get: (x) => x.name }, { h: "Region", get: (x) => x.region }, { h: "Model", get: (x) => x.accelerator },
        { h: "Health", get: (x) => x.health }, { h: "Last heartbeat", get: (x) => time(x.last_heartbeat_at) }], h.silent));
      f.append(table("Refunds in the last 24 hours by cause", [
        { h: "Cause", get: (x) => x.cause }, { h: "Refunds", num: true, get: (x) => fmtInt(x.refunds) },
        { h: "Amount", num: true, get: (x) => usd(x.amount) }], h.refunds_24h));
      f.append(table("Heartbeats (oldest first, at most 200 pools)", [
        { h: "Pool", get: (x) => x.name }, { h: "Region", get: (x) => x.region }, { h: "Model", get: (x) => x.accelerator },
        { h: "Status", get: (x) => x.status }, { h: "Health", get: (x) => x.health },
        { h: "Healthy GPUs", num: true, get: (x) => (x.healthy_gpus ?? "–") + " / " + x.gpus },
        { h: "Utilization", num: true, get: (x) => (x.utilization_bp === null ? "–" : pct(x.utilization_bp)) },
        { h: "Heartbeat age", num: true, get: (x) => (x.heartbeat_age_s === null ? "never" : dur(x.heartbeat_age_s)) },
        { h: "Last heartbeat", get: (x) => time(x.last_heartbeat_at) }], h.pools, { id: "health-pools" }));
      return f;
    });
  }

  // ---------------------------------------------------------------- dispatch
  async function renderDispatch(box) {
    const d = await api("/v1/stats/dispatch");
    renderInto(box, "", d, () => {
      const f = document.createDocumentFragment();
      f.append(table("Reservations by adapter and state (live, and ended in the last 24 hours)", [
        { h: "Adapter", get: (x) => x.adapter }, { h: "State", get: (x) => x.state }, { h: "Reservations", num: true, get: (x) => fmtInt(x.count) }],
        d.reservations));
      f.append(table("Dispatch lag, last 24 hours (trade to confirmed reservation)", [
        { h: "Adapter", get: (x) => x.adapter }, { h: "Jobs", num: true, get: (x) => fmtInt(x.jobs) },
        { h: "p50", num: true, get: (x) => x.p50_s + " s" }, { h: "p90", num: true, get: (x) => x.p90_s + " s" },
        { h: "p99", num: true, get: (x) => x.p99_s + " s" }], d.lag));
      f.append(table("Dispatch jobs, last 24 hours", [
        { h: "Adapter", get: (x) => x.adapter }, { h: "Action", get: (x) => x.action }, { h: "State", get: (x) => x.state },
        { h: "Jobs", num: true, get: (x) => fmtInt(x.count) }, { h: "Retries", num: true, get: (x) => fmtInt(x.retries) }], d.jobs));
      f.append(table("Terminal failures, last 24 hours (newest first)", [
        { h: "Reservation", num: true, get: (x) => x.reservation_id }, { h: "Adapter", get: (x) => x.adapter },
        { h: "Region", get: (x) => x.region }, { h: "Action", get: (x) => x.action },
        { h: "Attempts", num: true, get: (x) => x.attempts }, { h: "Last error", get: (x) => x.last_error },
        { h: "At", get: (x) => time(x.at) }], d.failures));
      return f;
    });
  }

  // ---------------------------------------------------------------- market
  const mk = { sort: "min_price", dir: 1, filter: "", model: null, chart: null };
  const num = (s) => (s === null || s === undefined ? Infinity : Number(s));
  async function renderMarket(box) {
    const offers = await api("/v1/market/offers?limit=2000");
    const last = await api("/v1/market/last");
    const models = [...new Set([...last.items.map((x) => x.accelerator), ...offers.items.map((x) => x.accelerator)])].sort();
    if (!mk.model || !models.includes(mk.model)) mk.model = last.items.length ? last.items[0].accelerator : models[0] || null;
    const prices = mk.model ? await api("/v1/market/prices?accelerator=" + encodeURIComponent(mk.model) + "&days=7") : null;
    if (!box.dataset.built) {
      box.dataset.built = "1";
      box.append(el("div", { id: "mk-prices" }), el("div", { id: "mk-last" }), el("div", { id: "mk-offers" }));
    }
    renderInto($("mk-offers"), mk.sort + mk.dir + mk.filter, offers, () => offerTable(offers));
    renderInto($("mk-last"), "", last, () => table("Last trade price per model", [
      { h: "Model", get: (x) => x.accelerator }, { h: "Price", num: true, get: (x) => usd(x.unit_price) + " /GPU-h" },
      { h: "Region", get: (x) => x.region }, { h: "At", get: (x) => time(x.at) }], last.items, { id: "last-prices" }));
    renderInto($("mk-prices"), mk.model, [models, prices], () => priceChart(models, prices));
  }

  function offerTable(offers) {
    const f = document.createDocumentFragment();
    const inp = el("input", { id: "offer-filter", type: "search", value: mk.filter, placeholder: "model or region",
                              on: { input: (e) => { mk.filter = e.target.value; renderInto($("mk-offers"), mk.sort + mk.dir + mk.filter, offers, () => offerTable(offers)); } } });
    f.append(el("div", { class: "filters" }, el("label", { for: "offer-filter", text: "Filter offers" }), inp,
                el("span", { class: "legend-note", text: "Free GPUs this hour in active, healthy pools; sort by a column heading." })));
    const q = mk.filter.trim().toLowerCase();
    let rows = offers.items.filter((o) => !q || o.accelerator.toLowerCase().includes(q) || o.region.toLowerCase().includes(q));
    const key = mk.sort;
    rows = rows.slice().sort((a, b) => {
      const x = a[key], y = b[key];
      const c = typeof x === "string" && isNaN(Number(x)) ? String(x).localeCompare(String(y)) : num(x) - num(y);
      return c * mk.dir || a.region.localeCompare(b.region);
    });
    const col = (h, k, isNum, get) => ({
      num: isNum, get,
      head: el("button", { type: "button", "data-sort": k, "aria-label": "Sort by " + h,
                           on: { click: () => { mk.dir = mk.sort === k ? -mk.dir : 1; mk.sort = k; renderInto($("mk-offers"), mk.sort + mk.dir + mk.filter, offers, () => offerTable(offers)); $("mk-offers").querySelector('[data-sort="' + k + '"]').focus(); } } },
                 h + (mk.sort === k ? (mk.dir > 0 ? " ▲" : " ▼") : "")),
    });
    const t = table("Offers: free capacity and price bands per model and region (" + rows.length + " of " + offers.items.length + ")", [
      col("Region", "region", false, (x) => x.region), col("Model", "accelerator", false, (x) => x.accelerator),
      col("Memory", "memory_gb", true, (x) => x.memory_gb + " GB"), col("Pools", "pools", true, (x) => fmtInt(x.pools)),
      col("Free GPUs", "free_gpus", true, (x) => fmtInt(x.free_gpus)),
      col("Min price", "min_price", true, (x) => usd(x.min_price) + " /GPU-h"),
      col("Median", "median_price", true, (x) => usd(x.median_price) + " /GPU-h"),
      col("Max", "max_price", true, (x) => usd(x.max_price) + " /GPU-h"),
      col("Min per NCU", "min_price_per_ncu_hour", true, (x) => (x.min_price_per_ncu_hour ? usd(x.min_price_per_ncu_hour) + " /NCU-h" : "unrated"))],
      rows, { id: "offers" });
    for (const th of t.querySelectorAll("th")) {
      const b = th.querySelector("button");
      if (b) th.setAttribute("aria-sort", b.dataset.sort === mk.sort ? (mk.dir > 0 ? "ascending" : "descending") : "none");
    }
    f.append(el("div", { class: "scroll", tabindex: "0", role: "region", "aria-label": "Offer table (scrolls)" }, t));
    return f;
  }

  function priceChart(models, p) {
    const f = document.createDocumentFragment();
    const sel = el("select", { id: "price-model", on: { change: (e) => { mk.model = e.target.value; refresh(); } } });
    for (const m of models) sel.append(el("option", { value: m, selected: m === mk.model, text: m }));
    f.append(el("h3", { id: "price-h", text: "Price history" + (p ? " — " + p.accelerator + ", last " + p.days + " days, volume-weighted per " + p.bucket : "") }),
             el("div", { class: "filters" }, el("label", { for: "price-model", text: "Model" }), sel));
    if (!p) return f;
    const pts = p.points;
    const box = el("div", { class: "chart", id: "price-chart", role: "img", "aria-labelledby": "price-h",
                            "aria-describedby": "price-table", "data-points": String(pts.length) });
    f.append(box);
    if (!pts.length) box.append(el("p", { text: "No trades of this model in the window." }));
    else if (typeof uPlot === "undefined") box.append(el("p", { text: "The charting library is missing from this build; see the table." }));
    else {
      const xs = pts.map((x) => Date.parse(x.t) / 1000);
      const data = [xs, pts.map((x) => Number(x.vwap)), pts.map((x) => Number(x.min)), pts.map((x) => Number(x.max))];
      const opts = {
        width: Math.min(1000, Math.max(320, (document.body.clientWidth || 900) - 60)), height: 280,
        series: [{ label: "Time" },
          { label: "VWAP $/GPU-h", stroke: "#0b5cad", width: 2, points: { show: true, size: 6 } },
          { label: "Min", stroke: "#1d6b2f", dash: [4, 4] },
          { label: "Max", stroke: "#a4161a", dash: [4, 4] }],
        // the whole window on the time axis, however few points it has
        scales: { x: { time: true, range: () => [Date.now() / 1000 - p.days * 86400, Date.now() / 1000] } },
        axes: [{}, { label: "USD per GPU-hour" }],
      };
      // uPlot renders into a detached node first; attach after the fragment is in the page
      queueMicrotask(() => { if (mk.chart) mk.chart.destroy(); mk.chart = new uPlot(opts, data, box); });
    }
    f.append(el("details", {}, el("summary", { text: "Price history as a table" }),
      table("Price points", [
        { h: "Time", get: (x) => time(x.t) }, { h: "Trades", num: true, get: (x) => fmtInt(x.trades) },
        { h: "GPU-hours", num: true, get: (x) => fmtInt(x.gpu_hours) + " GPU-h" },
        { h: "VWAP", num: true, get: (x) => usd(x.vwap) + " /GPU-h" }, { h: "Min", num: true, get: (x) => usd(x.min) },
        { h: "Max", num: true, get: (x) => usd(x.max) }], pts, { id: "price-table" })));
    return f;
  }

  // ---------------------------------------------------------------- ledger
  async function renderLedger(box) {
    let ck = null, au = null;
    try { ck = await api("/v1/ledger/checkpoint"); } catch (e) { if (e.status !== 404) throw e; }
    try { au = await api("/v1/ledger/audit"); } catch (e) { if (e.status !== 404) throw e; }
    renderInto(box, "", { ck, au }, () => {
      const f = document.createDocumentFragment();
      if (!ck) { f.append(el("p", { text: "No checkpoint has been signed yet." })); return f; }
      const age = (Date.now() - Date.parse(ck.timestamp)) / 1000;
      f.append(el("div", { class: "cards" }, card("Entries in the signed tree", fmtInt(ck.tree_size)),
                  card("Checkpoint age", dur(Math.max(0, age))), card("Signing key", ck.key_id)));
      f.append(el("p", {}, "Latest signed checkpoint at ", time(ck.timestamp), ". Root hash ",
                  el("code", { text: ck.root_hash })));
      if (!au) {
        f.append(el("p", { text: "No run of the ledger auditor (suanlid audit) has been recorded yet." }));
        return f;
      }
      const checks = Object.entries(au.by_check || {});
      f.append(el("div", { class: "cards", id: "audit-cards" },
                  card("Last audit", au.findings === 0 ? "clean" : fmtInt(au.findings) + " findings"),
                  card("Audit age", dur(Math.max(0, (Date.now() - Date.parse(au.finished_at)) / 1000))),
                  card("Tree size audited", au.tree_size === null ? "-" : fmtInt(au.tree_size))));
      f.append(el("p", {}, "Last audit run from ", time(au.started_at), " to ", time(au.finished_at), "."));
      if (checks.length)
        f.append(table("Findings of the last audit by check", [
          { h: "Check", get: (x) => x[0] }, { h: "Findings", num: true, get: (x) => fmtInt(x[1]) }], checks));
      return f;
    });
  }

  // ---------------------------------------------------------------- mine (providers, tenants)
  async function renderMine(box) {
    if (me.account.kind === "provider") {
      const p = await api("/v1/pools?owner=" + me.account.id + "&limit=200");
      renderInto(box, "p", p, () => table("My pools", [
        { h: "Pool", get: (x) => x.name }, { h: "Region", get: (x) => x.region }, { h: "Model", get: (x) => x.accelerator },
        { h: "GPUs", num: true, get: (x) => fmtInt(x.gpu_count) }, { h: "Price", num: true, get: (x) => usd(x.price_per_gpu_hour) + " /GPU-h" },
        { h: "Status", get: (x) => x.status }, { h: "Health", get: (x) => x.health.state }], p.items));
    } else {
      const o = await api("/v1/orders?limit=100");
      renderInto(box, "o", o, () => table("My orders (latest 100)", [
        { h: "Order", num: true, get: (x) => x.id }, { h: "State", get: (x) => x.state },
        { h: "GPUs", num: true, get: (x) => fmtInt(x.request.gpus) }, { h: "Hours", num: true, get: (x) => fmtInt(x.request.duration_hours) },
        { h: "Trades", num: true, get: (x) => (x.trades || []).length }, { h: "Reason", get: (x) => x.reason },
        { h: "Created", get: (x) => time(x.created_at) }], o.items));
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("signin-form").addEventListener("submit", signIn);
    $("signout").addEventListener("click", signOut);
  });
})();
