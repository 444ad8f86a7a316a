/* records.c — the purposes registry and the fixed binary layouts of signed records.
 *
 * Every layout is written and read field by field in big-endian order; nothing here depends
 * on the host's struct layout or byte order.  The offsets are the tables of api/SIGNING.md. */
#include <string.h>

#include "suanli/ledger/records.h"

/* ------------------------------------------------------------------- big-endian primitives */

static void put_u32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static void put_u64(uint8_t *p, uint64_t v) {
  put_u32(p, (uint32_t)(v >> 32));
  put_u32(p + 4, (uint32_t)v);
}

/* Two's complement, as every verifier reads an i64: the bit pattern of the value. */
static void put_i64(uint8_t *p, int64_t v) { put_u64(p, (uint64_t)v); }

static uint32_t get_u32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static uint64_t get_u64(const uint8_t *p) { return (uint64_t)get_u32(p) << 32 | get_u32(p + 4); }

static int64_t get_i64(const uint8_t *p) {
  uint64_t u = get_u64(p);
  int64_t v;
  memcpy(&v, &u, sizeof v); /* well defined for every bit pattern, unlike a cast */
  return v;
}

/* ----------------------------------------------------------------------------- registry */

static const struct {
  const char *name;
  size_t size;
} PURPOSES[SL_LEDGER_PURPOSE_MAX + 1] = {
    [SL_LEDGER_TRADE] = {"trade", SL_LEDGER_TRADE_SIZE},
    [SL_LEDGER_CANCELLATION] = {"cancellation", SL_LEDGER_MONEY_SIZE},
    [SL_LEDGER_SETTLEMENT] = {"settlement", SL_LEDGER_MONEY_SIZE},
    [SL_LEDGER_REFUND] = {"refund", SL_LEDGER_MONEY_SIZE},
    [SL_LEDGER_DEPOSIT] = {"deposit", SL_LEDGER_MONEY_SIZE},
    [SL_LEDGER_WITHDRAWAL] = {"withdrawal", SL_LEDGER_MONEY_SIZE},
    [SL_LEDGER_CHECKPOINT] = {"checkpoint", SL_LEDGER_CHECKPOINT_SIZE},
    [SL_LEDGER_EXPORT] = {"export", SL_LEDGER_EXPORT_SIZE},
    [SL_LEDGER_PERIOD_CLOSE] = {"period_close", SL_LEDGER_PERIOD_SIZE},
};

size_t sl_ledger_purpose_size(uint32_t purpose) {
  return purpose <= SL_LEDGER_PURPOSE_MAX ? PURPOSES[purpose].size : 0;
}

const char *sl_ledger_purpose_name(uint32_t purpose) {
  return purpose <= SL_LEDGER_PURPOSE_MAX ? PURPOSES[purpose].name : NULL;
}

bool sl_ledger_purpose_is_money(uint32_t purpose) {
  return purpose >= SL_LEDGER_CANCELLATION && purpose <= SL_LEDGER_WITHDRAWAL;
}

const char *sl_ledger_strerror(sl_ledger_rc rc) {
  switch (rc) {
  case SL_LEDGER_OK:
    return "ok";
  case SL_LEDGER_ELENGTH:
    return "length is not the layout's size";
  case SL_LEDGER_ESIZE:
    return "size field does not match the layout";
  case SL_LEDGER_EPURPOSE:
    return "unknown or unexpected purpose";
  case SL_LEDGER_EFIELD:
    return "a field breaks a rule of the layout";
  case SL_LEDGER_ESIG:
    return "signature does not verify";
  case SL_LEDGER_EPROOF:
    return "proof does not verify";
  case SL_LEDGER_ERANGE:
    return "index, size or length out of range";
  }
  return "unknown error";
}

sl_ledger_rc sl_ledger_record_check(const uint8_t *buf, size_t len, uint32_t *purpose) {
  if (buf == NULL || len < SL_LEDGER_HEADER_SIZE) return SL_LEDGER_ELENGTH;
  uint32_t size = get_u32(buf), p = get_u32(buf + 4);
  size_t want = sl_ledger_purpose_size(p);
  if (want == 0) return SL_LEDGER_EPURPOSE;
  if (size != want) return SL_LEDGER_ESIZE;
  if (len != want) return SL_LEDGER_ELENGTH;
  if (purpose) *purpose = p;
  return SL_LEDGER_OK;
}

/* Header check for a decoder of one purpose (or, with money, of the five money purposes). */
static sl_ledger_rc check_as(const uint8_t *buf, size_t len, uint32_t want, bool money,
                             uint32_t *purpose) {
  uint32_t p = 0;
  sl_ledger_rc rc = sl_ledger_record_check(buf, len, &p);
  if (rc != SL_LEDGER_OK) return rc;
  if (money ? !sl_ledger_purpose_is_money(p) : p != want) return SL_LEDGER_EPURPOSE;
  *purpose = p;
  return SL_LEDGER_OK;
}

static void put_header(uint8_t *out, uint32_t purpose) {
  put_u32(out, (uint32_t)sl_ledger_purpose_size(purpose));
  put_u32(out + 4, purpose);
}

/* -------------------------------------------------------------------------------- TRADE */
/* 0 size | 4 purpose | 8 entry_id | 16 trade_id | 24 order_id | 32 tenant_id |
 * 40 provider_id | 48 pool_id | 56 gpus (u32) | 60 start | 68 end | 76 unit_price_minor |
 * 84 total_minor | 92 fee_bp (u32) | 96 created_at | 104 */

sl_ledger_rc sl_ledger_trade_encode(const sl_ledger_trade *t, uint8_t *out) {
  if (t->entry_id == 0) return SL_LEDGER_EFIELD;
  put_header(out, SL_LEDGER_TRADE);
  put_u64(out + 8, t->entry_id);
  put_u64(out + 16, t->trade_id);
  put_u64(out + 24, t->order_id);
  put_u64(out + 32, t->tenant_id);
  put_u64(out + 40, t->provider_id);
  put_u64(out + 48, t->pool_id);
  put_u32(out + 56, t->gpus);
  put_i64(out + 60, t->start);
  put_i64(out + 68, t->end);
  put_i64(out + 76, t->unit_price_minor);
  put_i64(out + 84, t->total_minor);
  put_u32(out + 92, t->fee_bp);
  put_i64(out + 96, t->created_at);
  return SL_LEDGER_OK;
}

sl_ledger_rc sl_ledger_trade_decode(const uint8_t *buf, size_t len, sl_ledger_trade *out) {
  uint32_t p;
  sl_ledger_rc rc = check_as(buf, len, SL_LEDGER_TRADE, false, &p);
  if (rc != SL_LEDGER_OK) return rc;
  sl_ledger_trade t = {
      .entry_id = get_u64(buf + 8),
      .trade_id = get_u64(buf + 16),
      .order_id = get_u64(buf + 24),
      .tenant_id = get_u64(buf + 32),
      .provider_id = get_u64(buf + 40),
      .pool_id = get_u64(buf + 48),
      .gpus = get_u32(buf + 56),
      .start = get_i64(buf + 60),
      .end = get_i64(buf + 68),
      .unit_price_minor = get_i64(buf + 76),
      .total_minor = get_i64(buf + 84),
      .fee_bp = get_u32(buf + 92),
      .created_at = get_i64(buf + 96),
  };
  if (t.entry_id == 0) return SL_LEDGER_EFIELD;
  *out = t;
  return SL_LEDGER_OK;
}

/* -------------------------------------------------------------------------- money events */
/* 0 size | 4 purpose | 8 entry_id | 16 trade_id | 24 account_id | 32 journal_txn_id |
 * 40 to_tenant_minor | 48 to_provider_minor | 56 fee_minor | 64 at | 72 */

static bool money_fields_ok(uint32_t purpose, uint64_t entry_id, uint64_t trade_id) {
  if (entry_id == 0) return false;
  bool funds = purpose == SL_LEDGER_DEPOSIT || purpose == SL_LEDGER_WITHDRAWAL;
  return funds ? trade_id == 0 : trade_id != 0;
}

sl_ledger_rc sl_ledger_money_encode(const sl_ledger_money *m, uint8_t *out) {
  if (!sl_ledger_purpose_is_money(m->purpose)) return SL_LEDGER_EPURPOSE;
  if (!money_fields_ok(m->purpose, m->entry_id, m->trade_id)) return SL_LEDGER_EFIELD;
  put_header(out, m->purpose);
  put_u64(out + 8, m->entry_id);
  put_u64(out + 16, m->trade_id);
  put_u64(out + 24, m->account_id);
  put_u64(out + 32, m->journal_txn_id);
  put_i64(out + 40, m->to_tenant_minor);
  put_i64(out + 48, m->to_provider_minor);
  put_i64(out + 56, m->fee_minor);
  put_i64(out + 64, m->at);
  return SL_LEDGER_OK;
}

sl_ledger_rc sl_ledger_money_decode(const uint8_t *buf, size_t len, sl_ledger_money *out) {
  uint32_t p;
  sl_ledger_rc rc = check_as(buf, len, 0, true, &p);
  if (rc != SL_LEDGER_OK) return rc;
  sl_ledger_money m = {
      .purpose = p,
      .entry_id = get_u64(buf + 8),
      .trade_id = get_u64(buf + 16),
      .account_id = get_u64(buf + 24),
      .journal_txn_id = get_u64(buf + 32),
      .to_tenant_minor = get_i64(buf + 40),
      .to_provider_minor = get_i64(buf + 48),
      .fee_minor = get_i64(buf + 56),
      .at = get_i64(buf + 64),
  };
  if (!money_fields_ok(p, m.entry_id, m.trade_id)) return SL_LEDGER_EFIELD;
  *out = m;
  return SL_LEDGER_OK;
}

/* ---------------------------------------------------------------------------- CHECKPOINT */
/* 0 size | 4 purpose | 8 tree_size | 16 root (32 bytes) | 48 timestamp | 56 */

sl_ledger_rc sl_ledger_checkpoint_encode(const sl_ledger_checkpoint *c, uint8_t *out) {
  put_header(out, SL_LEDGER_CHECKPOINT);
  put_u64(out + 8, c->tree_size);
  memcpy(out + 16, c->root.b, SL_LEDGER_HASH_LEN);
  put_i64(out + 48, c->timestamp);
  return SL_LEDGER_OK;
}

sl_ledger_rc sl_ledger_checkpoint_decode(const uint8_t *buf, size_t len,
                                         sl_ledger_checkpoint *out) {
  uint32_t p;
  sl_ledger_rc rc = check_as(buf, len, SL_LEDGER_CHECKPOINT, false, &p);
  if (rc != SL_LEDGER_OK) return rc;
  out->tree_size = get_u64(buf + 8);
  memcpy(out->root.b, buf + 16, SL_LEDGER_HASH_LEN);
  out->timestamp = get_i64(buf + 48);
  return SL_LEDGER_OK;
}

/* -------------------------------------------------------------------------------- EXPORT */
/* 0 size | 4 purpose | 8 sha256 (32 bytes) | 40 */

sl_ledger_rc sl_ledger_export_encode(const sl_ledger_export *e, uint8_t *out) {
  put_header(out, SL_LEDGER_EXPORT);
  memcpy(out + 8, e->sha256.b, SL_LEDGER_HASH_LEN);
  return SL_LEDGER_OK;
}

sl_ledger_rc sl_ledger_export_decode(const uint8_t *buf, size_t len, sl_ledger_export *out) {
  uint32_t p;
  sl_ledger_rc rc = check_as(buf, len, SL_LEDGER_EXPORT, false, &p);
  if (rc != SL_LEDGER_OK) return rc;
  memcpy(out->sha256.b, buf + 8, SL_LEDGER_HASH_LEN);
  return SL_LEDGER_OK;
}

/* -------------------------------------------------------------------------- PERIOD_CLOSE */
/* 0 size | 4 purpose | 8 entry_id | 16 period_id | 24 start | 32 end | 40 sha256 (32 bytes)
 * | 72 at | 80 */

sl_ledger_rc sl_ledger_period_encode(const sl_ledger_period *p, uint8_t *out) {
  if (p->entry_id == 0 || p->period_id == 0 || p->start >= p->end) return SL_LEDGER_EFIELD;
  put_header(out, SL_LEDGER_PERIOD_CLOSE);
  put_u64(out + 8, p->entry_id);
  put_u64(out + 16, p->period_id);
  put_i64(out + 24, p->start);
  put_i64(out + 32, p->end);
  memcpy(out + 40, p->sha256.b, SL_LEDGER_HASH_LEN);
  put_i64(out + 72, p->at);
  return SL_LEDGER_OK;
}

sl_ledger_rc sl_ledger_period_decode(const uint8_t *buf, size_t len, sl_ledger_period *out) {
  uint32_t pp;
  sl_ledger_rc rc = check_as(buf, len, SL_LEDGER_PERIOD_CLOSE, false, &pp);
  if (rc != SL_LEDGER_OK) return rc;
  sl_ledger_period p;
  p.entry_id = get_u64(buf + 8);
  p.period_id = get_u64(buf + 16);
  p.start = get_i64(buf + 24);
  p.end = get_i64(buf + 32);
  memcpy(p.sha256.b, buf + 40, SL_LEDGER_HASH_LEN);
  p.at = get_i64(buf + 72);
  if (p.entry_id == 0 || p.period_id == 0 || p.start >= p.end) return SL_LEDGER_EFIELD;
  *out = p;
  return SL_LEDGER_OK;
}

/* --------------------------------------------------------------------------- any record */

sl_ledger_rc sl_ledger_record_encode(const sl_ledger_record *r, uint8_t *out, size_t cap,
                                     size_t *len) {
  size_t size = sl_ledger_purpose_size(r->purpose);
  if (size == 0) return SL_LEDGER_EPURPOSE;
  if (sl_ledger_purpose_is_money(r->purpose) && r->u.money.purpose != r->purpose)
    return SL_LEDGER_EPURPOSE;
  if (cap < size) return SL_LEDGER_ERANGE;
  sl_ledger_rc rc;
  switch (r->purpose) {
  case SL_LEDGER_TRADE:
    rc = sl_ledger_trade_encode(&r->u.trade, out);
    break;
  case SL_LEDGER_CHECKPOINT:
    rc = sl_ledger_checkpoint_encode(&r->u.checkpoint, out);
    break;
  case SL_LEDGER_EXPORT:
    rc = sl_ledger_export_encode(&r->u.export_, out);
    break;
  case SL_LEDGER_PERIOD_CLOSE:
    rc = sl_ledger_period_encode(&r->u.period, out);
    break;
  default:
    rc = sl_ledger_money_encode(&r->u.money, out);
    break;
  }
  if (rc == SL_LEDGER_OK) *len = size;
  return rc;
}

sl_ledger_rc sl_ledger_record_decode(const uint8_t *buf, size_t len, sl_ledger_record *out) {
  uint32_t p = 0;
  sl_ledger_rc rc = sl_ledger_record_check(buf, len, &p);
  if (rc != SL_LEDGER_OK) return rc;
  sl_ledger_record r;
  memset(&r, 0, sizeof r);
  r.purpose = p;
  switch (p) {
  case SL_LEDGER_TRADE:
    rc = sl_ledger_trade_decode(buf, len, &r.u.trade);
    break;
  case SL_LEDGER_CHECKPOINT:
    rc = sl_ledger_checkpoint_decode(buf, len, &r.u.checkpoint);
    break;
  case SL_LEDGER_EXPORT:
    rc = sl_ledger_export_decode(buf, len, &r.u.export_);
    break;
  case SL_LEDGER_PERIOD_CLOSE:
    rc = sl_ledger_period_decode(buf, len, &r.u.period);
    break;
  default:
    rc = sl_ledger_money_decode(buf, len, &r.u.money);
    break;
  }
  if (rc == SL_LEDGER_OK) *out = r;
  return rc;
}

bool sl_ledger_record_time(const sl_ledger_record *r, int64_t *out) {
  switch (r->purpose) {
  case SL_LEDGER_TRADE:
    *out = r->u.trade.created_at;
    return true;
  case SL_LEDGER_CHECKPOINT:
    *out = r->u.checkpoint.timestamp;
    return true;
  case SL_LEDGER_PERIOD_CLOSE:
    *out = r->u.period.at;
    return true;
  default:
    if (!sl_ledger_purpose_is_money(r->purpose)) return false;
    *out = r->u.money.at;
    return true;
  }
}

uint64_t sl_ledger_record_entry_id(const sl_ledger_record *r) {
  if (r->purpose == SL_LEDGER_TRADE) return r->u.trade.entry_id;
  if (r->purpose == SL_LEDGER_PERIOD_CLOSE) return r->u.period.entry_id;
  if (sl_ledger_purpose_is_money(r->purpose)) return r->u.money.entry_id;
  return 0;
}
