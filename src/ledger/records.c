/* records.c — the purposes registry and the fixed binary layouts of signed records.
 *
 * Every layout is written and read field by field in big-endian order; nothing here depends
 * on the host's struct layout or byte order.  The offsets are the tables of api/SIGNING.md. */
#include <sodium.h>
#include <stddef.h>
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

static uint32_t get_u32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static uint64_t get_u64(const uint8_t *p) { return (uint64_t)get_u32(p) << 32 | get_u32(p + 4); }

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
    [SL_LEDGER_POWER] = {"power", SL_LEDGER_POWER_SIZE},
    [SL_LEDGER_AUDIT_HEAD] = {"audit_head", SL_LEDGER_AUDIT_HEAD_SIZE},
    [SL_LEDGER_COSIGNATURE] = {"cosignature", SL_LEDGER_COSIGNATURE_SIZE},
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
  case SL_LEDGER_OK: return "ok";
  case SL_LEDGER_ELENGTH: return "length is not the layout's size";
  case SL_LEDGER_ESIZE: return "size field does not match the layout";
  case SL_LEDGER_EPURPOSE: return "unknown or unexpected purpose";
  case SL_LEDGER_EFIELD: return "a field breaks a rule of the layout";
  case SL_LEDGER_ESIG: return "signature does not verify";
  case SL_LEDGER_EPROOF: return "proof does not verify";
  case SL_LEDGER_ERANGE: return "index, size or length out of range";
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

/* ------------------------------------------------------------------------------ layouts */
/* Each layout is one table: the byte offset of every field after the 8-byte header, its wire
 * type and where it lives in the struct.  Encoding and decoding both walk the same table, so
 * a layout is written down once (and api/SIGNING.md mirrors these tables). */

typedef enum { F_U32, F_U64, F_I64, F_HASH } field_type;
typedef struct {
  uint16_t at; /* byte offset in the record */
  field_type type;
  uint16_t member; /* offsetof() in the struct */
} field;
#define FIELD(at, type, st, m)                                                                     \
  { at, type, (uint16_t)offsetof(st, m) }

static void put_fields(const field *f, size_t n, const void *src, uint8_t *out) {
  const uint8_t *s = src;
  for (size_t i = 0; i < n; i++) {
    const uint8_t *m = s + f[i].member;
    uint32_t u32;
    uint64_t u64;
    switch (f[i].type) {
    case F_U32:
      memcpy(&u32, m, sizeof u32);
      put_u32(out + f[i].at, u32);
      break;
    case F_U64:
    case F_I64: /* two's complement: the bit pattern, as every verifier reads an i64 */
      memcpy(&u64, m, sizeof u64);
      put_u64(out + f[i].at, u64);
      break;
    case F_HASH: memcpy(out + f[i].at, m, SL_LEDGER_HASH_LEN); break;
    }
  }
}

static void get_fields(const field *f, size_t n, const uint8_t *buf, void *dst) {
  uint8_t *d = dst;
  for (size_t i = 0; i < n; i++) {
    uint8_t *m = d + f[i].member;
    uint32_t u32;
    uint64_t u64;
    switch (f[i].type) {
    case F_U32:
      u32 = get_u32(buf + f[i].at);
      memcpy(m, &u32, sizeof u32);
      break;
    case F_U64:
    case F_I64:
      u64 = get_u64(buf + f[i].at);
      memcpy(m, &u64, sizeof u64);
      break;
    case F_HASH: memcpy(m, buf + f[i].at, SL_LEDGER_HASH_LEN); break;
    }
  }
}

#define NFIELDS(t) (sizeof(t) / sizeof(t)[0])

/* TRADE: 0 size | 4 purpose | 8 entry_id | 16 trade_id | 24 order_id | 32 tenant_id |
 * 40 provider_id | 48 pool_id | 56 gpus (u32) | 60 start | 68 end | 76 unit_price_minor |
 * 84 total_minor | 92 fee_bp (u32) | 96 created_at | 104 */
static const field TRADE[] = {
    FIELD(8, F_U64, sl_ledger_trade, entry_id),
    FIELD(16, F_U64, sl_ledger_trade, trade_id),
    FIELD(24, F_U64, sl_ledger_trade, order_id),
    FIELD(32, F_U64, sl_ledger_trade, tenant_id),
    FIELD(40, F_U64, sl_ledger_trade, provider_id),
    FIELD(48, F_U64, sl_ledger_trade, pool_id),
    FIELD(56, F_U32, sl_ledger_trade, gpus),
    FIELD(60, F_I64, sl_ledger_trade, start),
    FIELD(68, F_I64, sl_ledger_trade, end),
    FIELD(76, F_I64, sl_ledger_trade, unit_price_minor),
    FIELD(84, F_I64, sl_ledger_trade, total_minor),
    FIELD(92, F_U32, sl_ledger_trade, fee_bp),
    FIELD(96, F_I64, sl_ledger_trade, created_at),
};

/* Money events (CANCELLATION .. WITHDRAWAL): 0 size | 4 purpose | 8 entry_id | 16 trade_id |
 * 24 account_id | 32 journal_txn_id | 40 to_tenant_minor | 48 to_provider_minor |
 * 56 fee_minor | 64 at | 72 */
static const field MONEY[] = {
    FIELD(8, F_U64, sl_ledger_money, entry_id),
    FIELD(16, F_U64, sl_ledger_money, trade_id),
    FIELD(24, F_U64, sl_ledger_money, account_id),
    FIELD(32, F_U64, sl_ledger_money, journal_txn_id),
    FIELD(40, F_I64, sl_ledger_money, to_tenant_minor),
    FIELD(48, F_I64, sl_ledger_money, to_provider_minor),
    FIELD(56, F_I64, sl_ledger_money, fee_minor),
    FIELD(64, F_I64, sl_ledger_money, at),
};

/* CHECKPOINT: 0 size | 4 purpose | 8 tree_size | 16 root (32 bytes) | 48 timestamp | 56 */
static const field CHECKPOINT[] = {
    FIELD(8, F_U64, sl_ledger_checkpoint, tree_size),
    FIELD(16, F_HASH, sl_ledger_checkpoint, root),
    FIELD(48, F_I64, sl_ledger_checkpoint, timestamp),
};

/* EXPORT: 0 size | 4 purpose | 8 sha256 (32 bytes) | 40 */
static const field EXPORT[] = {FIELD(8, F_HASH, sl_ledger_export, sha256)};

/* PERIOD_CLOSE: 0 size | 4 purpose | 8 entry_id | 16 period_id | 24 start | 32 end |
 * 40 sha256 (32 bytes) | 72 at | 80 */
static const field PERIOD[] = {
    FIELD(8, F_U64, sl_ledger_period, entry_id), FIELD(16, F_U64, sl_ledger_period, period_id),
    FIELD(24, F_I64, sl_ledger_period, start),   FIELD(32, F_I64, sl_ledger_period, end),
    FIELD(40, F_HASH, sl_ledger_period, sha256), FIELD(72, F_I64, sl_ledger_period, at),
};

/* POWER: 0 size | 4 purpose | 8 entry_id | 16 event_id | 24 action (u32) | 28 role (u32) |
 * 32 account_id | 40 actor_id | 48 object_id | 56 digest (32 bytes) | 88 at | 96 */
static const field POWER[] = {
    FIELD(8, F_U64, sl_ledger_power, entry_id),    FIELD(16, F_U64, sl_ledger_power, event_id),
    FIELD(24, F_U32, sl_ledger_power, action),     FIELD(28, F_U32, sl_ledger_power, role),
    FIELD(32, F_U64, sl_ledger_power, account_id), FIELD(40, F_U64, sl_ledger_power, actor_id),
    FIELD(48, F_U64, sl_ledger_power, object_id),  FIELD(56, F_HASH, sl_ledger_power, digest),
    FIELD(88, F_I64, sl_ledger_power, at),
};

/* AUDIT_HEAD: 0 size | 4 purpose | 8 entry_id | 16 count | 24 chain (32 bytes) | 56 at | 64 */
static const field AUDIT_HEAD[] = {
    FIELD(8, F_U64, sl_ledger_audit_head, entry_id),
    FIELD(16, F_U64, sl_ledger_audit_head, count),
    FIELD(24, F_HASH, sl_ledger_audit_head, chain),
    FIELD(56, F_I64, sl_ledger_audit_head, at),
};

/* COSIGNATURE: 0 size | 4 purpose | 8 timestamp | 16 tree_size | 24 root (32 bytes) |
 * 56 checkpoint_sha256 (32 bytes) | 88 */
static const field COSIGNATURE[] = {
    FIELD(8, F_I64, sl_ledger_cosignature, timestamp),
    FIELD(16, F_U64, sl_ledger_cosignature, tree_size),
    FIELD(24, F_HASH, sl_ledger_cosignature, root),
    FIELD(56, F_HASH, sl_ledger_cosignature, checkpoint_sha256),
};

/* The rules of each layout beyond its types, checked on encode and on decode. */
static bool trade_ok(const void *v) { return ((const sl_ledger_trade *)v)->entry_id != 0; }

static bool money_ok(const void *v) {
  const sl_ledger_money *m = v;
  if (m->entry_id == 0) return false;
  bool funds = m->purpose == SL_LEDGER_DEPOSIT || m->purpose == SL_LEDGER_WITHDRAWAL;
  return funds ? m->trade_id == 0 : m->trade_id != 0;
}

static bool period_ok(const void *v) {
  const sl_ledger_period *p = v;
  return p->entry_id != 0 && p->period_id != 0 && p->start < p->end;
}

static bool power_ok(const void *v) {
  const sl_ledger_power *p = v;
  if (p->entry_id == 0 || p->event_id == 0 || p->account_id == 0) return false;
  if (p->action < SL_POWER_ACCOUNT_CREATED || p->action > SL_POWER_ACTION_MAX) return false;
  bool role = p->action == SL_POWER_ACCOUNT_CREATED || p->action == SL_POWER_ROLE_CHANGED;
  bool token = p->action >= SL_POWER_TOKEN_ISSUED;
  if (role ? p->role == 0 || p->role > SL_POWER_ROLE_MAX : p->role != 0) return false;
  return token ? p->object_id != 0 : p->object_id == 0;
}

static bool audit_head_ok(const void *v) {
  const sl_ledger_audit_head *h = v;
  return h->entry_id != 0 && h->count != 0;
}

/* A layout: its purpose (0: the money events, whose struct starts with its purpose), fields,
 * rule, and the size of its struct. */
typedef struct {
  uint32_t purpose;
  const field *fields;
  size_t nfields;
  bool (*ok)(const void *); /* NULL: no rule */
  size_t size;
} layout;

_Static_assert(offsetof(sl_ledger_money, purpose) == 0, "the money struct starts with its purpose");

#define LAYOUT(p, f, ok, st)                                                                       \
  { p, f, NFIELDS(f), ok, sizeof(st) }
static const layout L_TRADE = LAYOUT(SL_LEDGER_TRADE, TRADE, trade_ok, sl_ledger_trade);
static const layout L_MONEY = LAYOUT(0, MONEY, money_ok, sl_ledger_money);
static const layout L_CHECKPOINT =
    LAYOUT(SL_LEDGER_CHECKPOINT, CHECKPOINT, NULL, sl_ledger_checkpoint);
static const layout L_EXPORT = LAYOUT(SL_LEDGER_EXPORT, EXPORT, NULL, sl_ledger_export);
static const layout L_PERIOD = LAYOUT(SL_LEDGER_PERIOD_CLOSE, PERIOD, period_ok, sl_ledger_period);
static const layout L_POWER = LAYOUT(SL_LEDGER_POWER, POWER, power_ok, sl_ledger_power);
static const layout L_AUDIT_HEAD =
    LAYOUT(SL_LEDGER_AUDIT_HEAD, AUDIT_HEAD, audit_head_ok, sl_ledger_audit_head);
static const layout L_COSIGNATURE =
    LAYOUT(SL_LEDGER_COSIGNATURE, COSIGNATURE, NULL, sl_ledger_cosignature);

/* The layout of a purpose (NULL: none). */
static const layout *layout_of(uint32_t purpose) {
  switch (purpose) {
  case SL_LEDGER_TRADE: return &L_TRADE;
  case SL_LEDGER_CHECKPOINT: return &L_CHECKPOINT;
  case SL_LEDGER_EXPORT: return &L_EXPORT;
  case SL_LEDGER_PERIOD_CLOSE: return &L_PERIOD;
  case SL_LEDGER_POWER: return &L_POWER;
  case SL_LEDGER_AUDIT_HEAD: return &L_AUDIT_HEAD;
  case SL_LEDGER_COSIGNATURE: return &L_COSIGNATURE;
  default: return sl_ledger_purpose_is_money(purpose) ? &L_MONEY : NULL;
  }
}

/* Encode src under layout l (purpose: the record's, for the money events). */
static sl_ledger_rc encode_as(const layout *l, uint32_t purpose, const void *src, uint8_t *out) {
  if (l->ok && !l->ok(src)) return SL_LEDGER_EFIELD;
  put_header(out, purpose);
  put_fields(l->fields, l->nfields, src, out);
  return SL_LEDGER_OK;
}

/* Strictly decode buf under layout l into dst (l->size bytes), written only when every rule
 * holds. */
static sl_ledger_rc decode_as(const layout *l, const uint8_t *buf, size_t len, void *dst) {
  union {
    sl_ledger_trade t;
    sl_ledger_money m;
    sl_ledger_checkpoint c;
    sl_ledger_export e;
    sl_ledger_period p;
    sl_ledger_power w;
    sl_ledger_audit_head a;
    sl_ledger_cosignature s;
  } scratch;
  memset(&scratch, 0, sizeof scratch);
  uint32_t purpose;
  sl_ledger_rc rc = check_as(buf, len, l->purpose, l->purpose == 0, &purpose);
  if (rc != SL_LEDGER_OK) return rc;
  if (l->purpose == 0) scratch.m.purpose = purpose;
  get_fields(l->fields, l->nfields, buf, &scratch);
  if (l->ok && !l->ok(&scratch)) return SL_LEDGER_EFIELD;
  memcpy(dst, &scratch, l->size);
  return SL_LEDGER_OK;
}

/* sl_ledger_<name>_encode / _decode for the layouts with one fixed purpose. */
#define CODEC(name, type, lay, purpose)                                                            \
  sl_ledger_rc sl_ledger_##name##_encode(const type *v, uint8_t *out) {                            \
    return encode_as(&lay, purpose, v, out);                                                       \
  }                                                                                                \
  sl_ledger_rc sl_ledger_##name##_decode(const uint8_t *buf, size_t len, type *out) {              \
    return decode_as(&lay, buf, len, out);                                                         \
  }
CODEC(trade, sl_ledger_trade, L_TRADE, SL_LEDGER_TRADE)
CODEC(checkpoint, sl_ledger_checkpoint, L_CHECKPOINT, SL_LEDGER_CHECKPOINT)
CODEC(export, sl_ledger_export, L_EXPORT, SL_LEDGER_EXPORT)
CODEC(period, sl_ledger_period, L_PERIOD, SL_LEDGER_PERIOD_CLOSE)
CODEC(power, sl_ledger_power, L_POWER, SL_LEDGER_POWER)
CODEC(audit_head, sl_ledger_audit_head, L_AUDIT_HEAD, SL_LEDGER_AUDIT_HEAD)
CODEC(cosignature, sl_ledger_cosignature, L_COSIGNATURE, SL_LEDGER_COSIGNATURE)

sl_ledger_rc sl_ledger_cosignature_of(const uint8_t *cp, size_t len, int64_t t,
                                      sl_ledger_cosignature *out) {
  sl_ledger_checkpoint c;
  sl_ledger_rc rc = sl_ledger_checkpoint_decode(cp, len, &c);
  if (rc != SL_LEDGER_OK) return rc;
  out->timestamp = t;
  out->tree_size = c.tree_size;
  out->root = c.root;
  crypto_hash_sha256(out->checkpoint_sha256.b, cp, len);
  return SL_LEDGER_OK;
}

sl_ledger_rc sl_ledger_money_encode(const sl_ledger_money *m, uint8_t *out) {
  if (!sl_ledger_purpose_is_money(m->purpose)) return SL_LEDGER_EPURPOSE;
  return encode_as(&L_MONEY, m->purpose, m, out);
}

sl_ledger_rc sl_ledger_money_decode(const uint8_t *buf, size_t len, sl_ledger_money *out) {
  return decode_as(&L_MONEY, buf, len, out);
}

/* --------------------------------------------------------------------------- any record */

sl_ledger_rc sl_ledger_record_encode(const sl_ledger_record *r, uint8_t *out, size_t cap,
                                     size_t *len) {
  size_t size = sl_ledger_purpose_size(r->purpose);
  if (size == 0) return SL_LEDGER_EPURPOSE;
  if (sl_ledger_purpose_is_money(r->purpose) && r->u.money.purpose != r->purpose)
    return SL_LEDGER_EPURPOSE;
  if (cap < size) return SL_LEDGER_ERANGE;
  sl_ledger_rc rc = encode_as(layout_of(r->purpose), r->purpose, &r->u, out);
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
  rc = decode_as(layout_of(p), buf, len, &r.u);
  if (rc == SL_LEDGER_OK) *out = r;
  return rc;
}

bool sl_ledger_record_time(const sl_ledger_record *r, int64_t *out) {
  switch (r->purpose) {
  case SL_LEDGER_TRADE: *out = r->u.trade.created_at; return true;
  case SL_LEDGER_CHECKPOINT: *out = r->u.checkpoint.timestamp; return true;
  case SL_LEDGER_PERIOD_CLOSE: *out = r->u.period.at; return true;
  case SL_LEDGER_POWER: *out = r->u.power.at; return true;
  case SL_LEDGER_AUDIT_HEAD: *out = r->u.audit_head.at; return true;
  case SL_LEDGER_COSIGNATURE: *out = r->u.cosignature.timestamp; return true;
  default:
    if (!sl_ledger_purpose_is_money(r->purpose)) return false;
    *out = r->u.money.at;
    return true;
  }
}

uint64_t sl_ledger_record_entry_id(const sl_ledger_record *r) {
  if (r->purpose == SL_LEDGER_TRADE) return r->u.trade.entry_id;
  if (r->purpose == SL_LEDGER_PERIOD_CLOSE) return r->u.period.entry_id;
  if (r->purpose == SL_LEDGER_POWER) return r->u.power.entry_id;
  if (r->purpose == SL_LEDGER_AUDIT_HEAD) return r->u.audit_head.entry_id;
  if (sl_ledger_purpose_is_money(r->purpose)) return r->u.money.entry_id;
  return 0;
}
