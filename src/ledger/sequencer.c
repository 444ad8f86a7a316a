/* sequencer.c — keys, the signer of what each transaction queued, the sequencer and proofs.
 * See include/suanli/ledger/ledger.h. */
#include "suanli/core/clock.h"
#include "suanli/core/log.h"
#include "suanli/core/timeutil.h"
#include "suanli/db/ledger.h"
#include "suanli/ledger/ledger.h"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_KEYS 64
/* Every process re-reads the published keys this often while it signs, and a rotation takes
 * effect this much later than asked (default: now + ROTATION_GRACE_S), so that no process
 * signs with a key whose validity has just ended. */
#define KEY_REFRESH_S    1
#define ROTATION_GRACE_S 3
/* The first key covers transactions that began just before it was made. */
#define FIRST_KEY_BACKDATE_S 3600

typedef struct {
  sl_ledger_keypair kp;
  bool have_secret;
  int64_t valid_from, valid_until; /* valid_until 0 = open-ended */
} ring_key;

static struct {
  pthread_mutex_t mu;
  bool enabled;
  char dir[512];
  ring_key keys[MAX_KEYS];
  int nkeys;
  int64_t refreshed_at;
  /* entry ids handed out by this process, taken from the sequence in blocks */
  int64_t next_id, last_id;
} L = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* The tree cache (see "tree cache" below). */
static struct {
  pthread_rwlock_t lock;
  sl_ledger_hash *leaves;
  size_t n, cap;
  sl_ledger_frontier front;
} T = {.lock = PTHREAD_RWLOCK_INITIALIZER};

bool sl_ledger_enabled(void) { return L.enabled; }

static sl_dbrc sign_queued(sl_dbc *c);

static bool key_path(const char *key_id, char *buf, size_t len) {
  return (size_t)snprintf(buf, len, "%s/%s.key", L.dir, key_id) < len;
}

static bool read_seed(const char *key_id, uint8_t seed[32]) {
  char path[640], hex[80] = "";
  if (!key_path(key_id, path, sizeof path)) return false;
  FILE *f = fopen(path, "r");
  if (!f) return false;
  bool ok = fgets(hex, sizeof hex, f) != NULL;
  fclose(f);
  hex[strcspn(hex, "\r\n")] = '\0';
  ok = ok && sl_ledger_hex_decode(hex, seed, 32);
  sodium_memzero(hex, sizeof hex);
  return ok;
}

/* mkdir -p with mode 0700 for the last component (parents 0755). */
static bool make_dirs(const char *dir) {
  char path[512];
  snprintf(path, sizeof path, "%s", dir);
  for (char *p = path + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(path, 0755) != 0 && errno != EEXIST) return false;
    *p = '/';
  }
  return mkdir(path, 0700) == 0 || errno == EEXIST;
}

static bool write_seed(const char *key_id, const uint8_t seed[32], char *err, size_t errlen) {
  char path[640], hex[65];
  if (!make_dirs(L.dir)) {
    snprintf(err, errlen, "cannot create key folder %s: %s", L.dir, strerror(errno));
    return false;
  }
  key_path(key_id, path, sizeof path);
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
    return false;
  }
  sl_ledger_hex_encode(seed, 32, hex);
  bool ok = write(fd, hex, 64) == 64 && write(fd, "\n", 1) == 1 && fsync(fd) == 0;
  close(fd);
  sodium_memzero(hex, sizeof hex);
  if (!ok) snprintf(err, errlen, "cannot write %s", path);
  return ok;
}

/* Reload the published keys and the seeds we hold.  Caller holds L.mu. */
static sl_dbrc load_keys(sl_dbc *c) {
  sl_db_key_row *rows;
  size_t n;
  sl_dbrc rc = sl_db_keys_rows(c, &rows, &n);
  if (rc != SL_DB_OK) return rc;
  for (int i = 0; i < L.nkeys; i++) sl_ledger_keypair_wipe(&L.keys[i].kp);
  L.nkeys = 0;
  for (size_t i = 0; i < n && L.nkeys < MAX_KEYS; i++) {
    ring_key *k = &L.keys[L.nkeys];
    memset(k, 0, sizeof *k);
    uint8_t seed[32];
    if (read_seed(rows[i].key_id, seed)) {
      sl_ledger_keypair_from_seed(seed, &k->kp);
      sodium_memzero(seed, sizeof seed);
      k->have_secret = strcmp(k->kp.key_id_hex, rows[i].key_id) == 0;
    }
    if (!k->have_secret) {
      memset(&k->kp, 0, sizeof k->kp);
      sl_ledger_hex_decode(rows[i].public_hex, k->kp.pk, 32);
      snprintf(k->kp.key_id_hex, sizeof k->kp.key_id_hex, "%.16s", rows[i].key_id);
      sl_ledger_hex_decode(rows[i].key_id, k->kp.key_id, 8);
    }
    k->valid_from = rows[i].valid_from;
    k->valid_until = rows[i].valid_until;
    L.nkeys++;
  }
  free(rows);
  L.refreshed_at = sl_time_now();
  return SL_DB_OK;
}

/* The key to sign a record stating time t: the latest key valid at t whose seed we hold. */
static ring_key *key_for(int64_t t) {
  ring_key *best = NULL;
  for (int i = 0; i < L.nkeys; i++) {
    ring_key *k = &L.keys[i];
    if (!k->have_secret || k->valid_from > t || (k->valid_until && t >= k->valid_until)) continue;
    if (!best || k->valid_from >= best->valid_from) best = k;
  }
  return best;
}

static sl_dbrc make_key(sl_dbc *c, int64_t valid_from, char key_id[17], char *err, size_t errlen) {
  uint8_t seed[32];
  sl_ledger_keypair kp;
  randombytes_buf(seed, sizeof seed);
  sl_ledger_keypair_from_seed(seed, &kp);
  bool ok = write_seed(kp.key_id_hex, seed, err, errlen);
  sodium_memzero(seed, sizeof seed);
  if (!ok) {
    sl_ledger_keypair_wipe(&kp);
    return SL_DB_HARD;
  }
  char pk_hex[65];
  sl_ledger_hex_encode(kp.pk, 32, pk_hex);
  snprintf(key_id, 17, "%s", kp.key_id_hex);
  sl_ledger_keypair_wipe(&kp);
  sl_dbrc rc = sl_db_key_insert(c, key_id, pk_hex, valid_from);
  if (rc == SL_DB_OK) rc = sl_db_keys_close_others(c, key_id, valid_from);
  return rc;
}

typedef struct {
  char *err;
  size_t errlen;
  int64_t at; /* rotation time; 0 = bootstrap only */
  char key_id[17];
} keyjob;

static sl_dbrc ensure_key_body(sl_dbc *c, void *arg) {
  keyjob *j = arg;
  sl_dbrc rc = sl_db_key_lock(c);
  if (rc != SL_DB_OK) return rc;
  if (j->at == 0) {
    sl_db_key_row *rows;
    size_t n;
    rc = sl_db_keys_rows(c, &rows, &n);
    free(rows);
    if (rc != SL_DB_OK || n > 0) return rc;
    return make_key(c, sl_clock_now() - FIRST_KEY_BACKDATE_S, j->key_id, j->err, j->errlen);
  }
  return make_key(c, j->at, j->key_id, j->err, j->errlen);
}

static bool with_conn(const char *conninfo, sl_db_txn_body body, void *arg, char *err,
                      size_t errlen) {
  sl_db *db = sl_db_open(conninfo, 1);
  bool down, ok = false;
  sl_dbc *c = db ? sl_db_acquire(db, 5000, &down) : NULL;
  if (!c) {
    snprintf(err, errlen, "cannot reach the database");
  } else {
    sl_dbrc rc = sl_db_txn_run(c, body, arg, 3);
    ok = rc == SL_DB_OK;
    if (!ok && !err[0]) snprintf(err, errlen, "database error (%s)", sl_dbrc_name(rc));
    if (ok && body == ensure_key_body) {
      pthread_mutex_lock(&L.mu);
      ok = load_keys(c) == SL_DB_OK;
      pthread_mutex_unlock(&L.mu);
    }
  }
  if (c) sl_db_release(db, c);
  sl_db_close(db);
  return ok;
}

bool sl_ledger_init(const char *conninfo, const char *key_dir, bool enabled, char *err,
                    size_t errlen) {
  err[0] = '\0';
  L.enabled = enabled;
  snprintf(L.dir, sizeof L.dir, "%s", key_dir);
  keyjob j = {err, errlen, 0, ""};
  if (!with_conn(conninfo, ensure_key_body, &j, err, errlen)) return false;
  if (j.key_id[0])
    sl_log(SL_LOG_INFO, "signing key created",
           json_pack("{s:s,s:s}", "key_id", j.key_id, "dir", L.dir));
  if (enabled && !key_for(sl_clock_now())) {
    snprintf(err, errlen,
             "no private key for the current signing key in %s (copy the key file of "
             "the key valid now into that folder)",
             L.dir);
    return false;
  }
  sl_db_set_signer(sign_queued);
  return true;
}

bool sl_ledger_rotate(const char *conninfo, const char *key_dir, int64_t at, char key_id[17],
                      char *err, size_t errlen) {
  err[0] = '\0';
  snprintf(L.dir, sizeof L.dir, "%s", key_dir);
  keyjob j = {err, errlen, at ? at : sl_clock_now() + ROTATION_GRACE_S, ""};
  bool ok = with_conn(conninfo, ensure_key_body, &j, err, errlen);
  snprintf(key_id, 17, "%s", j.key_id);
  return ok;
}

void sl_ledger_fini(void) {
  pthread_mutex_lock(&L.mu);
  for (int i = 0; i < L.nkeys; i++) sl_ledger_keypair_wipe(&L.keys[i].kp);
  L.nkeys = 0;
  pthread_mutex_unlock(&L.mu);
  pthread_rwlock_wrlock(&T.lock);
  free(T.leaves);
  T.leaves = NULL;
  T.n = T.cap = 0;
  sl_ledger_frontier_reset(&T.front);
  pthread_rwlock_unlock(&T.lock);
}

/* Sign rec (which states time t) with the key valid at t; refresh keys once if none. */
static bool sign_at(sl_dbc *c, int64_t t, const uint8_t *rec, size_t len, uint8_t sig[64],
                    char key_id[17]) {
  pthread_mutex_lock(&L.mu);
  ring_key *k = key_for(t);
  if ((!k || sl_time_now() - L.refreshed_at >= KEY_REFRESH_S) && c) {
    load_keys(c); /* another process may have rotated */
    k = key_for(t);
  }
  bool ok = k && sl_ledger_sign(&k->kp, rec, len, sig) == SL_LEDGER_OK;
  if (ok) snprintf(key_id, 17, "%s", k->kp.key_id_hex);
  pthread_mutex_unlock(&L.mu);
  return ok;
}

/* Sign rec (stating time t) and write the record and signature as hex; false (logged) when no
 * key valid at t is held. */
static bool sign_hex(sl_dbc *c, int purpose, const uint8_t *rec, size_t len, int64_t t,
                     char key_id[17], char rec_hex[2 * SL_LEDGER_RECORD_MAX + 1],
                     char sig_hex[129]) {
  uint8_t sig[64];
  if (!sign_at(c, t, rec, len, sig, key_id)) {
    sl_log(SL_LOG_ERROR, "no signing key for a ledger record",
           json_pack("{s:i,s:I}", "purpose", purpose, "at", (json_int_t)t));
    return false;
  }
  sl_ledger_hex_encode(rec, len, rec_hex);
  sl_ledger_hex_encode(sig, 64, sig_hex);
  return true;
}

static sl_dbrc append(sl_dbc *c, int purpose, int64_t trade, int64_t txn, const uint8_t *rec,
                      size_t len, int64_t t) {
  char key_id[17], rec_hex[2 * SL_LEDGER_RECORD_MAX + 1], sig_hex[129];
  if (!sign_hex(c, purpose, rec, len, t, key_id, rec_hex, sig_hex)) return SL_DB_HARD;
  uint64_t id = 0;
  sl_ledger_record r;
  if (sl_ledger_record_decode(rec, len, &r) == SL_LEDGER_OK) id = sl_ledger_record_entry_id(&r);
  return sl_db_entry_insert(c, (int64_t)id, purpose, trade, txn, rec_hex, key_id, sig_hex);
}

/* The next entry id: handed out from blocks of ids this process took from the sequence (one
 * round trip per ID_BLOCK records instead of one per record; ids stay unique, gaps allowed). */
#define ID_BLOCK 64
static sl_dbrc next_entry_id(sl_dbc *c, int64_t *id) {
  static int64_t block[ID_BLOCK];
  static int used = ID_BLOCK;
  static unsigned long block_epoch;
  /* A block taken before an outage may come from a sequence advance that never became durable
   * (taken in a transaction that did not commit on a primary that was then lost): after a
   * failover the new primary would hand the same ids out again.  Such a block is dropped. */
  unsigned long epoch = sl_db_outage_epoch(c);
  pthread_mutex_lock(&L.mu);
  sl_dbrc rc = SL_DB_OK;
  if (used < ID_BLOCK && block_epoch != epoch) used = ID_BLOCK;
  if (used == ID_BLOCK) {
    rc = sl_db_entry_ids(c, ID_BLOCK, block);
    if (rc == SL_DB_OK) {
      used = 0;
      block_epoch = epoch;
    }
  }
  if (rc == SL_DB_OK) *id = block[used++];
  pthread_mutex_unlock(&L.mu);
  return rc;
}

/* Sign one queued item: a TRADE record, or a money event of the purpose its journal kind
 * declares (schema/015).  A purpose without a layout here is refused, never skipped. */
static sl_dbrc sign_item(sl_dbc *c, const sl_db_to_sign_row *it) {
  int64_t id;
  sl_dbrc rc = next_entry_id(c, &id);
  if (rc != SL_DB_OK) return rc;
  if (it->purpose == SL_LEDGER_TRADE) {
    const sl_db_trade_row *t = &it->trade;
    sl_ledger_trade rec = {.entry_id = (uint64_t)id,
                           .trade_id = (uint64_t)t->trade_id,
                           .order_id = (uint64_t)t->order_id,
                           .tenant_id = (uint64_t)t->tenant_id,
                           .provider_id = (uint64_t)t->provider_id,
                           .pool_id = (uint64_t)t->pool_id,
                           .gpus = (uint32_t)t->gpus,
                           .start = t->start,
                           .end = t->end,
                           .unit_price_minor = t->unit_price_minor,
                           .total_minor = t->total_minor,
                           .fee_bp = (uint32_t)t->fee_bp,
                           .created_at = t->created_at};
    uint8_t buf[SL_LEDGER_TRADE_SIZE];
    if (sl_ledger_trade_encode(&rec, buf) != SL_LEDGER_OK) return SL_DB_HARD;
    return append(c, SL_LEDGER_TRADE, t->trade_id, 0, buf, sizeof buf, t->created_at);
  }
  const sl_db_money_row *m = &it->money;
  sl_ledger_money rec = {.purpose = it->purpose,
                         .entry_id = (uint64_t)id,
                         .trade_id = (uint64_t)m->trade_id,
                         .account_id = (uint64_t)m->account_id,
                         .journal_txn_id = (uint64_t)m->txn_id,
                         .to_tenant_minor = m->to_tenant_minor,
                         .to_provider_minor = m->to_provider_minor,
                         .fee_minor = m->fee_minor,
                         .at = m->at};
  uint8_t buf[SL_LEDGER_MONEY_SIZE];
  sl_ledger_rc lrc = sl_ledger_money_encode(&rec, buf);
  if (lrc != SL_LEDGER_OK) {
    sl_log(SL_LOG_ERROR, "queued ledger item cannot be signed",
           json_pack("{s:i,s:I,s:s}", "purpose", (int)it->purpose, "journal_txn_id",
                     (json_int_t)m->txn_id, "error", sl_ledger_strerror(lrc)));
    return SL_DB_HARD;
  }
  return append(c, (int)it->purpose, m->trade_id, m->txn_id, buf, sizeof buf, m->at);
}

/* The signer (registered with the db layer by sl_ledger_init; sl_db_commit calls it just
 * before COMMIT when the transaction queued items): sign exactly the items the transaction's
 * money-moving statements queued, each under the purpose they declared.  The journal's
 * deferred constraint refuses the COMMIT of any trade or money movement left without its
 * entry, so this cannot be skipped; with signing off (SUANLI_LEDGER=off) the transaction
 * waives it explicitly. */
static sl_dbrc sign_queued(sl_dbc *c) {
  if (!L.enabled) return sl_db_ledger_waive(c);
  sl_db_to_sign_row *items = NULL;
  size_t n = 0;
  sl_dbrc rc = sl_db_to_sign(c, &items, &n);
  for (size_t i = 0; rc == SL_DB_OK && i < n; i++) rc = sign_item(c, &items[i]);
  free(items);
  return rc;
}

bool sl_ledger_sign_digest(const uint8_t sha256[32], uint8_t sig[64], char key_id[17]) {
  sl_ledger_export e;
  memcpy(e.sha256.b, sha256, 32);
  uint8_t rec[SL_LEDGER_EXPORT_SIZE];
  if (sl_ledger_export_encode(&e, rec) != SL_LEDGER_OK) return false;
  return sign_at(NULL, sl_clock_now(), rec, sizeof rec, sig, key_id);
}

bool sl_ledger_sign_blob(const uint8_t *data, size_t len, uint8_t sig[64], char key_id[17],
                         uint8_t sha256[32]) {
  uint8_t h[32];
  crypto_hash_sha256(h, data, len);
  if (sha256) memcpy(sha256, h, 32);
  return sl_ledger_sign_digest(h, sig, key_id);
}

sl_dbrc sl_ledger_record_period(sl_dbc *c, int64_t period_id, int64_t from, int64_t to,
                                const uint8_t sha256[32], int64_t *entry_id) {
  *entry_id = 0;
  if (!L.enabled) return SL_DB_OK;
  int64_t id;
  sl_dbrc rc = next_entry_id(c, &id);
  if (rc != SL_DB_OK) return rc;
  sl_ledger_period p = {.entry_id = (uint64_t)id,
                        .period_id = (uint64_t)period_id,
                        .start = from,
                        .end = to,
                        .at = sl_clock_now()};
  memcpy(p.sha256.b, sha256, 32);
  uint8_t rec[SL_LEDGER_PERIOD_SIZE];
  if (sl_ledger_period_encode(&p, rec) != SL_LEDGER_OK) return SL_DB_HARD;
  rc = append(c, SL_LEDGER_PERIOD_CLOSE, 0, 0, rec, sizeof rec, p.at);
  if (rc == SL_DB_OK) *entry_id = id;
  return rc;
}

/* ---------------------------------------------------------------- tree cache
 * The leaf hashes [0, n) of the sequenced tree, in memory, under their own read-write lock
 * (never the signing lock: proofs and the sequencer never hold up commits).  The compact
 * frontier — the roots of the perfect subtrees that make up the tree, largest first — gives
 * the root of every new size in O(log n). */

/* Append one leaf.  Caller holds T.lock for writing. */
static bool tree_push(const sl_ledger_hash *leaf) {
  if (T.n == T.cap) {
    size_t cap = T.cap ? T.cap * 2 : 4096;
    sl_ledger_hash *nl = realloc(T.leaves, cap * sizeof *nl);
    if (!nl) return false;
    T.leaves = nl;
    T.cap = cap;
  }
  T.leaves[T.n++] = *leaf;
  sl_ledger_frontier_push(&T.front, leaf);
  return true;
}

/* The root of the whole cached tree, from the frontier (RFC 9162 MTH).  Caller holds T.lock. */
static void tree_root(sl_ledger_hash *root) { sl_ledger_frontier_root(&T.front, root); }

static void tree_reset(void) {
  T.n = 0;
  sl_ledger_frontier_reset(&T.front);
}

/* Bring the cache up to the database's sequenced leaves [0, size).  Caller holds T.lock for
 * writing.  SL_DB_NOROWS when the database lacks some of those leaves (the ledger is
 * inconsistent: a checkpoint larger than the entries, or a sequenced entry missing). */
static sl_dbrc sync_leaves(sl_dbc *c, int64_t size) {
  while ((int64_t)T.n < size) {
    char *hex;
    size_t n;
    int64_t to = size - (int64_t)T.n > 100000 ? (int64_t)T.n + 100000 : size;
    sl_dbrc rc = sl_db_leaves(c, (int64_t)T.n, to, &hex, &n);
    if (rc != SL_DB_OK) return rc;
    if ((int64_t)n != to - (int64_t)T.n) {
      free(hex);
      return SL_DB_NOROWS;
    }
    bool ok = true;
    for (size_t i = 0; ok && i < n; i++) {
      char one[65];
      sl_ledger_hash h;
      memcpy(one, hex + 64 * i, 64);
      one[64] = '\0';
      ok = sl_ledger_hex_decode(one, h.b, 32) && tree_push(&h);
    }
    free(hex);
    if (!ok) return SL_DB_HARD;
  }
  return SL_DB_OK;
}

/* Make sure the cache covers [0, size), taking the write lock only when it does not. */
static sl_dbrc ensure_leaves(sl_dbc *c, int64_t size) {
  pthread_rwlock_rdlock(&T.lock);
  bool have = (int64_t)T.n >= size;
  pthread_rwlock_unlock(&T.lock);
  if (have) return SL_DB_OK;
  pthread_rwlock_wrlock(&T.lock);
  sl_dbrc rc = sync_leaves(c, size);
  pthread_rwlock_unlock(&T.lock);
  return rc;
}

/* Sign up to `limit` power events (schema/023) as POWER entries, which the batch below then
 * sequences like any other entry.  The sequencer signs them, after their transaction
 * committed, because accounts and tokens are also written outside suanlid's transactions
 * (bootstrap, seeds); the record states the event's time, or the signing time when no key
 * was valid then (an event older than the exchange's first key).  An event that cannot be
 * encoded is logged and left unsigned (the auditor reports it), never holding up the tree. */
static sl_dbrc sign_power(sl_dbc *c, int limit) {
  sl_db_power_row *rows = NULL;
  size_t n = 0;
  sl_dbrc rc = sl_db_power_pending(c, limit, &rows, &n);
  for (size_t i = 0; rc == SL_DB_OK && i < n; i++) {
    const sl_db_power_row *p = &rows[i];
    int64_t id;
    if ((rc = next_entry_id(c, &id)) != SL_DB_OK) break;
    sl_ledger_power w = {.entry_id = (uint64_t)id,
                         .event_id = (uint64_t)p->event_id,
                         .action = (uint32_t)p->action,
                         .role = (uint32_t)p->role,
                         .account_id = (uint64_t)p->account_id,
                         .actor_id = (uint64_t)p->actor_id,
                         .object_id = (uint64_t)p->object_id,
                         .at = p->at};
    pthread_mutex_lock(&L.mu);
    bool have_key = key_for(p->at) != NULL;
    pthread_mutex_unlock(&L.mu);
    if (!have_key) w.at = sl_clock_now();
    uint8_t rec[SL_LEDGER_POWER_SIZE];
    char key_id[17], rec_hex[2 * SL_LEDGER_RECORD_MAX + 1], sig_hex[129];
    if (!sl_ledger_hex_decode(p->digest_hex, w.digest.b, 32) ||
        sl_ledger_power_encode(&w, rec) != SL_LEDGER_OK) {
      sl_log(SL_LOG_ERROR, "power event cannot be signed",
             json_pack("{s:I}", "event_id", (json_int_t)p->event_id));
      continue;
    }
    if (!sign_hex(c, SL_LEDGER_POWER, rec, sizeof rec, w.at, key_id, rec_hex, sig_hex)) break;
    rc = sl_db_entry_insert_power(c, id, p->event_id, rec_hex, key_id, sig_hex);
  }
  free(rows);
  return rc;
}

/* Chain the audit log's new rows and, when the chain has grown and the last signed head is
 * older than AUDIT_HEAD_EVERY_S in this process (or there is none), sign its head as an AUDIT_HEAD
 * entry, which the batch below sequences: the log up to that head is then covered by a signed
 * checkpoint. */
#define AUDIT_HEAD_EVERY_S 5
static sl_dbrc sign_audit_head(sl_dbc *c, int limit) {
  static int64_t last_signed; /* this process's real clock (a test clock may stand still) */
  int64_t count, signed_count;
  char chain_hex[65];
  sl_dbrc rc = sl_db_audit_chain(c, limit, &count, chain_hex, &signed_count);
  int64_t now = sl_time_now();
  if (rc != SL_DB_OK || count <= signed_count || now - last_signed < AUDIT_HEAD_EVERY_S) return rc;
  last_signed = now;
  int64_t id;
  if ((rc = next_entry_id(c, &id)) != SL_DB_OK) return rc;
  sl_ledger_audit_head h = {
      .entry_id = (uint64_t)id, .count = (uint64_t)count, .at = sl_clock_now()};
  uint8_t rec[SL_LEDGER_AUDIT_HEAD_SIZE];
  char key_id[17], rec_hex[2 * SL_LEDGER_RECORD_MAX + 1], sig_hex[129];
  if (!sl_ledger_hex_decode(chain_hex, h.chain.b, 32) ||
      sl_ledger_audit_head_encode(&h, rec) != SL_LEDGER_OK ||
      !sign_hex(c, SL_LEDGER_AUDIT_HEAD, rec, sizeof rec, h.at, key_id, rec_hex, sig_hex))
    return SL_DB_OK; /* logged by sign_hex, or nothing to sign; retried next time */
  return sl_db_entry_insert_head(c, id, rec_hex, key_id, sig_hex);
}

typedef struct {
  int limit, added;
  bool touched_cache;
} seq_job;

static sl_dbrc sequence_body(sl_dbc *c, void *arg) {
  seq_job *j = arg;
  j->added = 0;
  bool got;
  sl_dbrc rc = sl_db_seq_lock(c, &got);
  if (rc != SL_DB_OK || !got) return rc;
  int64_t size, signed_size;
  char chain_hex[65];
  if ((rc = sl_db_seq_head(c, &size, chain_hex, &signed_size)) != SL_DB_OK) return rc;
  if (signed_size != size) {
    /* the stored tree does not hold together (issue 18): appending to it would only bury the
     * break; the ledger routes answer 503 ledger_inconsistent until an operator repairs it */
    sl_log(SL_LOG_ERROR, "ledger inconsistent: the sequencer stops",
           json_pack("{s:I,s:I}", "sequenced", (json_int_t)size, "checkpoint_size",
                     (json_int_t)signed_size));
    return SL_DB_OK;
  }
  /* power events and the audit log's head become entries of this batch */
  if (L.enabled && (rc = sign_power(c, j->limit)) != SL_DB_OK) return rc;
  if (L.enabled && (rc = sign_audit_head(c, j->limit)) != SL_DB_OK) return rc;
  sl_db_entry_row *rows;
  size_t n;
  if ((rc = sl_db_seq_pending(c, j->limit, &rows, &n)) != SL_DB_OK) return rc;
  if (n == 0) {
    free(rows);
    return SL_DB_OK;
  }
  sl_ledger_hash chain, *prev = NULL, *leaves = calloc(n, sizeof *leaves);
  if (chain_hex[0] && sl_ledger_hex_decode(chain_hex, chain.b, 32)) prev = &chain;
  size_t cap = n * 24 + 16;
  char *ids = malloc(cap), *idx = malloc(cap), *lh = malloc(n * 68 + 16), *ch = malloc(n * 68 + 16);
  rc = (leaves && ids && idx && lh && ch) ? SL_DB_OK : SL_DB_HARD;
  size_t pi = 0, px = 0, pl = 0, pc = 0;
  if (rc == SL_DB_OK) {
    ids[pi++] = '{';
    idx[px++] = '{';
    lh[pl++] = '{';
    ch[pc++] = '{';
  }
  for (size_t i = 0; rc == SL_DB_OK && i < n; i++) {
    uint8_t rec[SL_LEDGER_RECORD_MAX], sig[64], kid[8];
    size_t rlen;
    if (!sl_ledger_hex_decode_var(rows[i].record_hex, rec, sizeof rec, &rlen) ||
        !sl_ledger_hex_decode(rows[i].sig_hex, sig, 64) ||
        !sl_ledger_hex_decode(rows[i].key_id, kid, 8) ||
        sl_ledger_entry_leaf_hash(rec, rlen, kid, sig, &leaves[i]) != SL_LEDGER_OK) {
      sl_log(SL_LOG_ERROR, "ledger entry cannot be sequenced",
             json_pack("{s:I}", "entry_id", (json_int_t)rows[i].id));
      rc = SL_DB_HARD;
      break;
    }
    sl_ledger_chain_step(prev, &leaves[i], &chain);
    prev = &chain;
    char lhex[65], chex[65];
    sl_ledger_hex_encode(leaves[i].b, 32, lhex);
    sl_ledger_hex_encode(chain.b, 32, chex);
    const char *sep = i + 1 < n ? "," : "}";
    pi += (size_t)snprintf(ids + pi, cap - pi, "%lld%s", (long long)rows[i].id, sep);
    px += (size_t)snprintf(idx + px, cap - px, "%lld%s", (long long)(size + (int64_t)i), sep);
    pl += (size_t)snprintf(lh + pl, n * 68 + 16 - pl, "%s%s", lhex, sep);
    pc += (size_t)snprintf(ch + pc, n * 68 + 16 - pc, "%s%s", chex, sep);
  }
  if (rc == SL_DB_OK) rc = sl_db_seq_assign(c, ids, idx, lh, ch);
  int64_t new_size = size + (int64_t)n;
  sl_ledger_hash root;
  if (rc == SL_DB_OK) {
    /* extend the cache with the batch (it must hold exactly [0, size) first) */
    pthread_rwlock_wrlock(&T.lock);
    if ((int64_t)T.n > size) tree_reset(); /* a rolled-back batch of ours: rebuild */
    rc = sync_leaves(c, size);
    for (size_t i = 0; rc == SL_DB_OK && i < n; i++)
      if (!tree_push(&leaves[i])) rc = SL_DB_HARD;
    if (rc == SL_DB_OK) tree_root(&root);
    j->touched_cache = true;
    pthread_rwlock_unlock(&T.lock);
  }
  if (rc == SL_DB_OK) {
    sl_ledger_checkpoint cp = {
        .tree_size = (uint64_t)new_size, .root = root, .timestamp = sl_clock_now()};
    uint8_t rec[SL_LEDGER_CHECKPOINT_SIZE], sig[64];
    char key_id[17], rec_hex[2 * SL_LEDGER_CHECKPOINT_SIZE + 1], sig_hex[129], root_hex[65];
    if (sl_ledger_checkpoint_encode(&cp, rec) != SL_LEDGER_OK ||
        !sign_at(c, cp.timestamp, rec, sizeof rec, sig, key_id)) {
      rc = SL_DB_HARD;
    } else {
      sl_ledger_hex_encode(rec, sizeof rec, rec_hex);
      sl_ledger_hex_encode(sig, 64, sig_hex);
      sl_ledger_hex_encode(root.b, 32, root_hex);
      rc = sl_db_checkpoint_insert(c, new_size, size, root_hex, cp.timestamp, key_id, sig_hex,
                                   rec_hex);
    }
  }
  if (rc == SL_DB_OK) j->added = (int)n;
  free(leaves);
  free(ids);
  free(idx);
  free(lh);
  free(ch);
  free(rows);
  return rc;
}

sl_dbrc sl_ledger_sequence(sl_dbc *c, int limit, int *added) {
  seq_job j = {limit, 0, false};
  sl_dbrc rc = sl_db_txn_run(c, sequence_body, &j, 3);
  if (rc != SL_DB_OK && j.touched_cache) {
    /* the cache may hold leaves of a rolled-back batch: rebuild it on next use */
    pthread_rwlock_wrlock(&T.lock);
    tree_reset();
    pthread_rwlock_unlock(&T.lock);
  }
  *added = j.added;
  return rc;
}

static json_t *hashes_json(const sl_ledger_hash *h, size_t n) {
  json_t *a = json_array();
  for (size_t i = 0; i < n; i++) {
    char hex[65];
    sl_ledger_hex_encode(h[i].b, 32, hex);
    json_array_append_new(a, json_string(hex));
  }
  return a;
}

/* A proof over the first `size` leaves of the in-memory tree (filled from the database up to
 * size first): inclusion of leaf `index` (consistency = false) or consistency from tree size
 * `index` (consistency = true).  SL_DB_NOROWS when the tree is not that large or the proof
 * cannot be made. */
static sl_dbrc proof_of(sl_dbc *c, bool consistency, int64_t index, int64_t size, json_t **proof) {
  *proof = NULL;
  sl_dbrc rc = ensure_leaves(c, size);
  sl_ledger_hash p[SL_LEDGER_PROOF_MAX];
  size_t plen = 0;
  pthread_rwlock_rdlock(&T.lock);
  if (rc == SL_DB_OK && (int64_t)T.n < size) rc = SL_DB_NOROWS;
  if (rc == SL_DB_OK) {
    sl_ledger_rc lr =
        consistency ? sl_ledger_consistency_proof(T.leaves, (size_t)size, (uint64_t)index, p, &plen)
                    : sl_ledger_inclusion_proof(T.leaves, (size_t)size, (uint64_t)index, p, &plen);
    if (lr != SL_LEDGER_OK) rc = SL_DB_NOROWS;
  }
  pthread_rwlock_unlock(&T.lock);
  if (rc == SL_DB_OK) *proof = hashes_json(p, plen);
  return rc;
}

sl_dbrc sl_ledger_inclusion(sl_dbc *c, int64_t leaf_index, int64_t tree_size, json_t **proof) {
  *proof = NULL;
  if (leaf_index < 0 || leaf_index >= tree_size) return SL_DB_NOROWS;
  return proof_of(c, false, leaf_index, tree_size, proof);
}

sl_dbrc sl_ledger_consistency(sl_dbc *c, int64_t from, int64_t to, json_t **proof) {
  *proof = NULL;
  if (from < 0 || from > to) return SL_DB_NOROWS;
  return proof_of(c, true, from, to, proof);
}

/* ------------------------------------------------------------- is the ledger servable?
 * The cheap part (two index lookups) runs on every call; the scans (sequenced rows, missing
 * checkpoint rows) at most every FULL_CHECK_S per process, their verdict kept meanwhile. */
#define FULL_CHECK_S 2
static struct {
  pthread_mutex_t mu;
  int64_t checked_at;
  char why[160]; /* "" = the scans found nothing */
} K = {.mu = PTHREAD_MUTEX_INITIALIZER};

sl_dbrc sl_ledger_check(sl_dbc *c, char *why, size_t len) {
  why[0] = '\0';
  int64_t now = sl_time_now();
  pthread_mutex_lock(&K.mu);
  bool full = now - K.checked_at >= FULL_CHECK_S;
  if (!full) snprintf(why, len, "%s", K.why);
  pthread_mutex_unlock(&K.mu);
  sl_db_ledger_shape_row s;
  sl_dbrc rc = sl_db_ledger_shape(c, full, &s);
  if (rc != SL_DB_OK) return rc;
  if (full) {
    char w[160] = "";
    if (s.missing_checkpoint > 0)
      snprintf(w, sizeof w, "the checkpoint of tree size %lld is missing",
               (long long)s.missing_checkpoint);
    else if (s.sequenced_rows != s.sequenced)
      snprintf(w, sizeof w, "%lld sequenced entries for %lld tree positions: leaves are missing",
               (long long)s.sequenced_rows, (long long)s.sequenced);
    pthread_mutex_lock(&K.mu);
    snprintf(K.why, sizeof K.why, "%s", w);
    K.checked_at = now;
    pthread_mutex_unlock(&K.mu);
    snprintf(why, len, "%s", w);
  }
  /* the head first: it is checked on every call, so its reason is the freshest */
  if (s.signed_size > s.sequenced)
    snprintf(why, len, "the latest checkpoint covers %lld entries but only %lld are sequenced",
             (long long)s.signed_size, (long long)s.sequenced);
  else if (s.signed_size < s.sequenced)
    snprintf(why, len,
             "%lld entries are sequenced but the latest checkpoint covers %lld: checkpoint rows "
             "are missing",
             (long long)s.sequenced, (long long)s.signed_size);
  return SL_DB_OK;
}
