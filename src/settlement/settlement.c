/* settlement.c — periods, statements and signed exports; see
 * include/suanli/settlement/settlement.h. */
#include "suanli/settlement/settlement.h"
#include "suanli/core/money.h"
#include "suanli/core/timeutil.h"
#include "suanli/db/settlement.h"
#include "suanli/ledger/ledger.h"
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct sl_settlement_export {
  FILE *f; /* NULL: hash only */
  crypto_hash_sha256_state h;
  uint64_t size;
  bool failed;
};

sl_settlement_export *sl_settlement_export_new(bool to_file) {
  sl_settlement_export *e = calloc(1, sizeof *e);
  if (!e) return NULL;
  crypto_hash_sha256_init(&e->h);
  if (to_file && !(e->f = tmpfile())) {
    free(e);
    return NULL;
  }
  return e;
}

static void put(sl_settlement_export *e, const char *s, size_t n) {
  crypto_hash_sha256_update(&e->h, (const unsigned char *)s, n);
  e->size += n;
  if (e->f && fwrite(s, 1, n, e->f) != n) e->failed = true;
}

static void puts_(sl_settlement_export *e, const char *s) { put(e, s, strlen(s)); }

bool sl_settlement_export_finish(sl_settlement_export *e, uint8_t sha256[32], int *fd,
                                 uint64_t *size, char key_id[17], char sig_hex[129]) {
  crypto_hash_sha256_final(&e->h, sha256);
  if (size) *size = e->size;
  if (key_id && sig_hex) {
    uint8_t sig[64];
    key_id[0] = sig_hex[0] = '\0';
    if (sl_ledger_enabled() && sl_ledger_sign_digest(sha256, sig, key_id))
      for (int i = 0; i < 64; i++) snprintf(sig_hex + 2 * i, 3, "%02x", sig[i]);
  }
  if (fd && e->f) {
    if (fflush(e->f) != 0 || e->failed) return false;
    *fd = dup(fileno(e->f));
    if (*fd < 0 || lseek(*fd, 0, SEEK_SET) != 0) return false;
  }
  return !e->failed;
}

void sl_settlement_export_free(sl_settlement_export *e) {
  if (!e) return;
  if (e->f) fclose(e->f);
  free(e);
}

/* RFC 4180 field: quoted when it holds a comma, quote, CR or LF; quotes doubled. */
static void csv_field(sl_settlement_export *e, const char *s, bool last) {
  if (strpbrk(s, ",\"\r\n")) {
    put(e, "\"", 1);
    for (const char *p = s; *p; p++) {
      if (*p == '"') put(e, "\"\"", 2);
      else put(e, p, 1);
    }
    put(e, "\"", 1);
  } else {
    puts_(e, s);
  }
  put(e, last ? "\r\n" : ",", last ? 2 : 1);
}

static const char *money_str(const char *minor, char buf[SL_MONEY_STRLEN]) {
  sl_money_format(strtoll(minor, NULL, 10), buf, SL_MONEY_STRLEN);
  return buf;
}

static const char csv_header[] =
    "account_id,account_kind,txn_id,at,kind,trade_id,pool_id,region,gpu_hours,"
    "available_change,escrow_change,fee,memo\r\n";

/* One sl_period_lines row as a CSV record. */
/* One element of a streamed JSON array: a comma unless it is the first, then o (stolen). */
static void json_item(sl_settlement_export *e, bool *first, json_t *o) {
  char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(o);
  if (!*first) puts_(e, ",");
  *first = false;
  if (text) puts_(e, text);
  free(text);
}

static void csv_line(sl_settlement_export *e, const char *const *col) {
  char a[SL_MONEY_STRLEN], b[SL_MONEY_STRLEN], f[SL_MONEY_STRLEN];
  const char *fields[13] = {col[0],
                            col[1],
                            col[2],
                            col[3],
                            col[4],
                            strcmp(col[5], "0") ? col[5] : "",
                            strcmp(col[6], "0") ? col[6] : "",
                            col[7],
                            strcmp(col[8], "0") ? col[8] : "",
                            money_str(col[9], a),
                            money_str(col[10], b),
                            money_str(col[11], f),
                            col[12]};
  for (int i = 0; i < 13; i++) csv_field(e, fields[i], i == 12);
}

static bool csv_row(int nc, const char *const *col, const bool *nul, void *arg) {
  if (nc >= 13) csv_line(arg, col);
  return true;
}

sl_dbrc sl_settlement_period_csv(sl_dbc *c, int64_t from, int64_t to, sl_settlement_export *out) {
  puts_(out, csv_header);
  return sl_db_period_lines(c, -1, from, to, csv_row, out);
}

/* ---------------------------------------------------------------- statements */

typedef struct {
  sl_settlement_export *out;
  bool csv;
  bool first;
  const char *kind;
  int64_t deposits, withdrawals, charges, refunds, settled, payouts, fees, gpu_hours, lines;
  int64_t d_available, d_escrow;
  json_t *groups; /* per trade (tenant), per pool (provider), per region (exchange) */
} stmt_ctx;

static int64_t n64(const char *s) { return strtoll(s, NULL, 10); }

static json_t *group(stmt_ctx *s, const char *key, const char *idname, const char *id) {
  json_t *g = json_object_get(s->groups, key);
  if (!g) {
    g = json_pack("{s:o,s:I,s:I,s:I,s:I,s:I,s:I}", idname,
                  strcmp(idname, "region") ? json_integer(strtoll(id, NULL, 10)) : json_string(id),
                  "gpu_hours", (json_int_t)0, "charged_minor", (json_int_t)0, "refunded_minor",
                  (json_int_t)0, "payout_minor", (json_int_t)0, "fees_minor", (json_int_t)0,
                  "refunds_borne_minor", (json_int_t)0);
    json_object_set_new(s->groups, key, g);
  }
  return g;
}

static void add(json_t *g, const char *k, int64_t v) {
  json_object_set_new(g, k, json_integer(json_integer_value(json_object_get(g, k)) + v));
}

static bool stmt_row(int nc, const char *const *col, const bool *nul, void *arg) {
  stmt_ctx *s = arg;
  if (nc < 13) return true;
  const char *kind = col[4];
  int64_t avail = n64(col[9]), escrow = n64(col[10]), fee = n64(col[11]), gh = n64(col[8]);
  s->lines++;
  s->d_available += avail;
  s->d_escrow += escrow;
  bool tenant = !strcmp(s->kind, "tenant"), provider = !strcmp(s->kind, "provider");
  if (!strcmp(kind, "deposit")) s->deposits += avail;
  else if (!strcmp(kind, "withdrawal")) s->withdrawals += avail; /* the lines' sum: negative */
  else if (!strcmp(kind, "trade")) s->charges += escrow;
  else if (!strcmp(kind, "settlement")) {
    s->settled -= escrow;
    s->gpu_hours += gh;
    if (provider) {
      s->payouts += avail;
      s->fees += fee;
    }
  } else if (!strcmp(kind, "refund") || !strcmp(kind, "cancellation")) {
    if (tenant) s->refunds += avail;
    if (provider) {
      s->payouts += avail;
      s->fees += fee;
    }
  }
  if (tenant && strcmp(col[5], "0")) {
    json_t *g = group(s, col[5], "trade_id", col[5]);
    if (!strcmp(kind, "trade")) add(g, "charged_minor", escrow);
    if (!strcmp(kind, "refund") || !strcmp(kind, "cancellation")) {
      add(g, "refunded_minor", avail);
      json_t *causes = json_object_get(g, "refund_causes");
      if (!causes) json_object_set_new(g, "refund_causes", causes = json_array());
      json_array_append_new(causes, json_pack("{s:s,s:s}", "kind", kind, "memo", col[12]));
    }
    if (!strcmp(kind, "settlement")) add(g, "gpu_hours", gh);
  } else if (provider && strcmp(col[6], "0")) {
    json_t *g = group(s, col[6], "pool_id", col[6]);
    add(g, "payout_minor", avail);
    add(g, "fees_minor", fee);
    if (!strcmp(kind, "settlement")) add(g, "gpu_hours", gh);
  } else if (!strcmp(s->kind, "exchange") && col[7][0] && fee) {
    json_t *g = group(s, col[7], "region", col[7]);
    add(g, "fees_minor", fee);
  }
  if (!strcmp(s->kind, "exchange")) s->fees += fee; /* the exchange earns the platform fees */
  if (s->csv) {
    csv_line(s->out, col);
  } else {
    char a[SL_MONEY_STRLEN], b[SL_MONEY_STRLEN], f[SL_MONEY_STRLEN];
    json_t *line =
        json_pack("{s:I,s:s,s:s,s:o,s:o,s:s,s:o,s:s,s:s,s:s,s:s}", "txn_id",
                  (json_int_t)n64(col[2]), "at", col[3], "kind", kind, "trade_id",
                  strcmp(col[5], "0") ? json_integer(n64(col[5])) : json_null(), "pool_id",
                  strcmp(col[6], "0") ? json_integer(n64(col[6])) : json_null(), "region", col[7],
                  "gpu_hours", strcmp(col[8], "0") ? json_integer(gh) : json_null(),
                  "available_change", money_str(col[9], a), "escrow_change", money_str(col[10], b),
                  "fee", money_str(col[11], f), "memo", col[12]);
    json_item(s->out, &s->first, line);
  }
  (void)nul;
  return true;
}

static bool borne_row(int nc, const char *const *col, const bool *nul, void *arg) {
  stmt_ctx *s = arg;
  json_t *g = group(s, col[0], "pool_id", col[0]);
  add(g, "refunds_borne_minor", n64(col[1]));
  (void)nc;
  (void)nul;
  return true;
}

static json_t *m(int64_t minor) {
  char buf[SL_MONEY_STRLEN];
  sl_money_format(minor, buf, sizeof buf);
  return json_string(buf);
}

static int by_key(const void *a, const void *b) {
  const char *x = *(const char *const *)a, *y = *(const char *const *)b;
  size_t lx = strlen(x), ly = strlen(y);
  bool nx = x[0] >= '0' && x[0] <= '9', ny = y[0] >= '0' && y[0] <= '9';
  if (nx && ny && lx != ly) return lx < ly ? -1 : 1; /* numeric ids: shorter is smaller */
  return strcmp(x, y);
}

/* The groups object as an array ordered by key (ids numerically, regions by code), money
 * fields as decimal strings. */
static json_t *groups_array(json_t *groups) {
  json_t *arr = json_array();
  size_t n = json_object_size(groups), i = 0;
  const char **keys = calloc(n ? n : 1, sizeof *keys);
  const char *k;
  json_t *g;
  json_object_foreach(groups, k, g) if (keys) keys[i++] = k;
  if (keys) qsort(keys, n, sizeof *keys, by_key);
  for (i = 0; keys && i < n; i++) {
    g = json_object_get(groups, keys[i]);
    static const char *const money_keys[] = {"charged_minor", "refunded_minor", "payout_minor",
                                             "fees_minor", "refunds_borne_minor"};
    for (size_t f = 0; f < 5; f++) {
      char out[32];
      snprintf(out, sizeof out, "%.*s", (int)(strlen(money_keys[f]) - 6), money_keys[f]);
      json_object_set_new(g, out, m(json_integer_value(json_object_get(g, money_keys[f]))));
      json_object_del(g, money_keys[f]);
    }
    json_array_append(arr, g);
  }
  free(keys);
  return arr;
}

/* The statement's "account": {"id", "kind", "name"} of the Account, or of the exchange. */
static json_t *statement_party(const json_t *account) {
  if (!account) return json_pack("{s:i,s:s,s:s}", "id", 0, "kind", "exchange", "name", "exchange");
  return json_pack("{s:O,s:O,s:O}", "id", json_object_get(account, "id"), "kind",
                   json_object_get(account, "kind"), "name", json_object_get(account, "name"));
}

sl_dbrc sl_settlement_statement(sl_dbc *c, const json_t *period, int64_t from, int64_t to,
                                const json_t *account, bool csv, sl_settlement_export *out) {
  int64_t id = json_integer_value(json_object_get(account, "id"));
  const char *kind = json_string_value(json_object_get(account, "kind"));
  stmt_ctx s = {.out = out,
                .csv = csv,
                .first = true,
                .kind = kind ? kind : "exchange",
                .groups = json_object()};
  int64_t open_a = 0, open_e = 0;
  sl_dbrc rc = sl_db_balances_at(c, id, from, &open_a, &open_e);
  if (rc == SL_DB_OK) {
    if (csv) {
      puts_(out, csv_header);
    } else {
      json_t *party = statement_party(account);
      char *p = json_dumps(period, JSON_COMPACT | JSON_SORT_KEYS);
      char *a = party ? json_dumps(party, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
      json_decref(party);
      puts_(out, "{\"period\":");
      puts_(out, p ? p : "null");
      puts_(out, ",\"account\":");
      puts_(out, a ? a : "null");
      puts_(out, ",\"currency\":\"USD\",\"lines\":[");
      free(p);
      free(a);
    }
    rc = sl_db_period_lines(c, id, from, to, stmt_row, &s);
  }
  if (rc == SL_DB_OK && !strcmp(s.kind, "provider"))
    rc = sl_db_refunds_borne(c, id, from, to, borne_row, &s);
  if (rc == SL_DB_OK && !csv) {
    int64_t borne = 0;
    const char *k;
    json_t *g;
    json_object_foreach(s.groups, k, g) borne +=
        json_integer_value(json_object_get(g, "refunds_borne_minor"));
    json_t *tail = json_pack(
        "{s:{s:o,s:o},s:{s:o,s:o},s:{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:I,s:I},s:o}", "opening",
        "available", m(open_a), "escrow", m(open_e), "closing", "available",
        m(open_a + s.d_available), "escrow", m(open_e + s.d_escrow), "totals", "deposits",
        m(s.deposits), "withdrawals", m(s.withdrawals), "charges", m(s.charges), "refunds",
        m(s.refunds), "settled", m(s.settled), "payouts", m(s.payouts), "platform_fees", m(s.fees),
        "gross_earnings", m(s.payouts + s.fees), "refunds_borne", m(borne), "delivered_gpu_hours",
        (json_int_t)s.gpu_hours, "lines", (json_int_t)s.lines,
        !strcmp(s.kind, "tenant")     ? "trades"
        : !strcmp(s.kind, "provider") ? "pools"
                                      : "regions",
        groups_array(s.groups));
    char *t = json_dumps(tail, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(tail);
    puts_(out, "],");
    if (t) put(out, t + 1, strlen(t) - 1); /* the tail's members, after its opening brace */
    free(t);
  }
  json_decref(s.groups);
  return rc;
}

typedef struct {
  sl_settlement_export *out;
  bool csv, first;
} region_ctx;

static bool region_row(int nc, const char *const *col, const bool *nul, void *arg) {
  region_ctx *r = arg;
  char g[SL_MONEY_STRLEN], f[SL_MONEY_STRLEN], x[SL_MONEY_STRLEN];
  if (r->csv) {
    const char *fields[6] = {
        col[0], col[1], col[2], money_str(col[3], g), money_str(col[4], f), money_str(col[5], x)};
    for (int i = 0; i < 6; i++) csv_field(r->out, fields[i], i == 5);
  } else {
    json_t *o =
        json_pack("{s:s,s:I,s:I,s:s,s:s,s:s}", "region", col[0], "trades", (json_int_t)n64(col[1]),
                  "gpu_hours", (json_int_t)n64(col[2]), "gross", money_str(col[3], g), "fees",
                  money_str(col[4], f), "refunds", money_str(col[5], x));
    json_item(r->out, &r->first, o);
  }
  (void)nc;
  (void)nul;
  return true;
}

sl_dbrc sl_settlement_regions(sl_dbc *c, const json_t *period, int64_t from, int64_t to,
                              const json_t *regions, bool csv, sl_settlement_export *out) {
  region_ctx r = {out, csv, true};
  if (csv) {
    puts_(out, "region,trades,gpu_hours,gross,fees,refunds\r\n");
  } else {
    char *p = json_dumps(period, JSON_COMPACT | JSON_SORT_KEYS);
    puts_(out, "{\"period\":");
    puts_(out, p ? p : "null");
    puts_(out, ",\"currency\":\"USD\",\"regions\":[");
    free(p);
  }
  sl_dbrc rc = sl_db_region_summary(c, from, to, regions, region_row, &r);
  if (!csv) puts_(out, "]}");
  return rc;
}

sl_dbrc sl_settlement_period_digest(sl_dbc *c, int64_t from, int64_t to, uint8_t sha256[32]) {
  sl_settlement_export *e = sl_settlement_export_new(false);
  if (!e) return SL_DB_HARD;
  sl_dbrc rc = sl_settlement_period_csv(c, from, to, e);
  if (rc == SL_DB_OK && !sl_settlement_export_finish(e, sha256, NULL, NULL, NULL, NULL))
    rc = SL_DB_HARD;
  sl_settlement_export_free(e);
  return rc;
}

sl_dbrc sl_settlement_close(sl_dbc *c, int64_t from, int64_t to, int64_t closed_by,
                            int64_t *period_id) {
  uint8_t sha[32];
  char hex[65];
  sl_dbrc rc = sl_settlement_period_digest(c, from, to, sha);
  if (rc != SL_DB_OK) return rc;
  for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", sha[i]);
  rc = sl_db_period_insert(c, from, to, closed_by, hex, period_id);
  int64_t entry = 0;
  if (rc == SL_DB_OK) rc = sl_ledger_record_period(c, *period_id, from, to, sha, &entry);
  if (rc == SL_DB_OK && entry) rc = sl_db_period_set_entry(c, *period_id, entry);
  return rc;
}
