/* main.c — suanli-witness: a witness of a Suanli exchange's ledger (api/SIGNING.md
 * "Witnesses"; modelled on C2SP tlog-witness and tlog-cosignature).
 *
 *   suanli-witness keygen KEY_FILE
 *   suanli-witness run --url URL --name NAME --key KEY_FILE --state STATE_FILE
 *                      [--token TOKEN] [--once] [--interval-ms N]
 *
 * `keygen` writes a fresh Ed25519 seed (64 hex digits, mode 0600; never overwrites) and prints
 * {"public_key", "key_id"}: what an exchange admin registers (POST /v1/ledger/witnesses).
 *
 * `run` follows the log: each round it reads the exchange's keys and every checkpoint newer
 * than the last one it cosigned, and for each in order checks the exchange's signature and an
 * RFC 9162 consistency proof from the last cosigned tree (size and root kept in STATE_FILE),
 * then records the new tree in STATE_FILE (written atomically and fsynced before anything is
 * signed) and submits its cosignature (POST /v1/ledger/checkpoints/{size}/cosignatures).  So
 * it never cosigns a smaller tree, a second root for a size it cosigned, or a tree that does
 * not extend the one it cosigned — also across restarts.  A lock on STATE_FILE.lock keeps a
 * second process off the same state.
 *
 * Exit status: 0 (--once: the round passed), 1 the log is inconsistent with what the witness
 * cosigned (it refuses and stops; STATE_FILE unchanged), 2 usage, key or state file problems,
 * 4 the exchange is unreachable or answers an error (with --once; otherwise it retries).
 * One line per event on stdout ("cosigned ...", "REFUSED ..."). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <sodium.h>

#include "cli.h"
#include "suanli/core/timeutil.h"
#include "suanli/ledger/records.h"

enum { WX_OK = 0, WX_REFUSED = 1, WX_USAGE = 2, WX_UNREACHABLE = 4 };

static const char USAGE[] =
    "usage:\n"
    "  suanli-witness keygen KEY_FILE\n"
    "  suanli-witness run --url URL --name NAME --key KEY_FILE --state STATE_FILE\n"
    "                     [--token TOKEN] [--once] [--interval-ms N]\n"
    "Cosigns each new checkpoint of a Suanli exchange's ledger after checking that it extends\n"
    "every tree the witness cosigned before (api/SIGNING.md, \"Witnesses\").  The token may\n"
    "also come from SUANLI_TOKEN.  Exit 0: ok; 1: the log is inconsistent (refused);\n"
    "2: usage or local file error; 4: the exchange is unreachable or failed.\n";

/* What the witness last cosigned (STATE_FILE); size 0 with the empty tree's root at first. */
typedef struct {
  uint64_t size;
  sl_ledger_hash root;
} wstate;

static int fail_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail_usage(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("suanli-witness: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  return WX_USAGE;
}

/* ------------------------------------------------------------------------------ keygen */

static int witness_keygen(const char *path) {
  uint8_t seed[SL_LEDGER_SEED_LEN];
  char hex[2 * SL_LEDGER_SEED_LEN + 2], pk_hex[2 * SL_LEDGER_PK_LEN + 1];
  randombytes_buf(seed, sizeof seed);
  sl_ledger_keypair kp;
  sl_ledger_keypair_from_seed(seed, &kp);
  sl_ledger_hex_encode(seed, sizeof seed, hex);
  sodium_memzero(seed, sizeof seed);
  strcat(hex, "\n");
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  bool ok = fd >= 0 && write(fd, hex, strlen(hex)) == (ssize_t)strlen(hex) && fsync(fd) == 0;
  int err = errno;
  if (fd >= 0) close(fd);
  sodium_memzero(hex, sizeof hex);
  if (!ok) {
    sl_ledger_keypair_wipe(&kp);
    fprintf(stderr, "suanli-witness: cannot create %s: %s\n", path, strerror(err));
    return WX_USAGE;
  }
  sl_ledger_hex_encode(kp.pk, sizeof kp.pk, pk_hex);
  printf("{\"public_key\": \"%s\", \"key_id\": \"%s\"}\n", pk_hex, kp.key_id_hex);
  sl_ledger_keypair_wipe(&kp);
  return WX_OK;
}

static bool load_key(const char *path, sl_ledger_keypair *kp) {
  char hex[80] = "";
  uint8_t seed[SL_LEDGER_SEED_LEN];
  FILE *f = fopen(path, "r");
  bool ok = f && fgets(hex, sizeof hex, f) != NULL;
  if (f) fclose(f);
  hex[strcspn(hex, "\r\n")] = '\0';
  ok = ok && sl_ledger_hex_decode(hex, seed, sizeof seed);
  if (ok) sl_ledger_keypair_from_seed(seed, kp);
  sodium_memzero(seed, sizeof seed);
  sodium_memzero(hex, sizeof hex);
  return ok;
}

/* ------------------------------------------------------------------------------- state */

/* Read STATE_FILE; a missing file is the empty tree.  False (message printed) when it exists
 * but is unreadable. */
static bool state_load(const char *path, wstate *st) {
  st->size = 0;
  sl_ledger_merkle_root(NULL, 0, &st->root);
  json_error_t e;
  json_t *j = json_load_file(path, 0, &e);
  if (!j) {
    if (access(path, F_OK) != 0 && errno == ENOENT) return true;
    fprintf(stderr, "suanli-witness: %s: %s\n", path, e.text);
    return false;
  }
  json_t *size = json_object_get(j, "tree_size");
  const char *root = json_string_value(json_object_get(j, "root_hash"));
  bool ok = json_is_integer(size) && json_integer_value(size) >= 0 && root &&
            sl_ledger_hex_decode(root, st->root.b, 32);
  if (ok) st->size = (uint64_t)json_integer_value(size);
  else fprintf(stderr, "suanli-witness: %s: needs tree_size and root_hash\n", path);
  json_decref(j);
  return ok;
}

/* Write the state atomically (temporary file, fsync, rename, fsync of the folder). */
static bool state_save(const char *path, const wstate *st, const char *cp_sha_hex) {
  char root[65], text[400];
  sl_ledger_hex_encode(st->root.b, 32, root);
  snprintf(text, sizeof text,
           "{\"tree_size\": %llu, \"root_hash\": \"%s\", \"checkpoint_sha256\": \"%s\"}\n",
           (unsigned long long)st->size, root, cp_sha_hex);
  if (cli_write_private(path, text) != 0) {
    fprintf(stderr, "suanli-witness: cannot write %s: %s\n", path, strerror(errno));
    return false;
  }
  char dir[1024];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash) *slash = '\0';
  int fd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    (void)fsync(fd);
    close(fd);
  }
  return true;
}

/* -------------------------------------------------------------------- one checkpoint */

/* The exchange's signature on checkpoint cp (a Checkpoint object) under the keys of
 * GET /v1/keys: the record decodes to the JSON's size and root, the key is published and
 * hashes to its id, the signature verifies, the time is within the key's validity.  *out
 * gets the record (raw bytes in rec/len).  False with a reason otherwise. */
static bool exchange_signed(json_t *keys, json_t *cp, sl_ledger_checkpoint *out, uint8_t *rec,
                            size_t *len, char *why, size_t wlen) {
  const char *rec_hex = jstr(cp, "record"), *kid = jstr(cp, "key_id"),
             *sig_hex = jstr(cp, "signature");
  uint8_t sig[SL_LEDGER_SIG_LEN], pk[SL_LEDGER_PK_LEN];
  if (!sl_ledger_hex_decode_var(rec_hex, rec, SL_LEDGER_RECORD_MAX, len) ||
      sl_ledger_checkpoint_decode(rec, *len, out) != SL_LEDGER_OK ||
      (json_int_t)out->tree_size != json_integer_value(json_object_get(cp, "tree_size"))) {
    snprintf(why, wlen, "its record is no CHECKPOINT of the size it states");
    return false;
  }
  size_t i;
  json_t *k;
  json_array_foreach(json_object_get(keys, "keys"), i, k) {
    if (strcmp(jstr(k, "key_id"), kid) != 0) continue;
    char id[SL_LEDGER_KEY_ID_HEXLEN + 1];
    int64_t from = 0, until = 0;
    const char *u = jstr(k, "valid_until");
    bool ok = sl_ledger_hex_decode(jstr(k, "public_key"), pk, sizeof pk) &&
              sl_ledger_hex_decode(sig_hex, sig, sizeof sig) &&
              sl_time_parse(jstr(k, "valid_from"), &from) && (!*u || sl_time_parse(u, &until));
    if (ok) sl_ledger_key_id_hex(pk, id);
    if (!ok || strcmp(id, kid) != 0 || sl_ledger_verify(pk, rec, *len, sig) != SL_LEDGER_OK) {
      snprintf(why, wlen, "the exchange's signature (key %s) does not verify", kid);
      return false;
    }
    if (out->timestamp < from || (*u && out->timestamp >= until)) {
      snprintf(why, wlen, "signed outside the validity of key %s", kid);
      return false;
    }
    return true;
  }
  snprintf(why, wlen, "signed by key %s, which the exchange does not publish", kid);
  return false;
}

/* The consistency proof from the cosigned tree st to cp (RFC 9162), fetched from the exchange.
 * WX_OK, WX_REFUSED (why set) or WX_UNREACHABLE. */
static int consistent(cli *c, const wstate *st, const sl_ledger_checkpoint *cp, char *why,
                      size_t wlen) {
  if (cp->tree_size < st->size) {
    snprintf(why, wlen, "tree size %llu is smaller than the %llu already cosigned",
             (unsigned long long)cp->tree_size, (unsigned long long)st->size);
    return WX_REFUSED;
  }
  if (cp->tree_size == st->size) {
    if (memcmp(cp->root.b, st->root.b, 32) == 0) return WX_OK;
    snprintf(why, wlen, "tree size %llu has another root than the one cosigned",
             (unsigned long long)st->size);
    return WX_REFUSED;
  }
  char path[128];
  snprintf(path, sizeof path, "/v1/ledger/consistency?from=%llu&to=%llu",
           (unsigned long long)st->size, (unsigned long long)cp->tree_size);
  json_t *p;
  int rc = cli_get_json(c, path, &p);
  if (rc != EX_OK) return WX_UNREACHABLE;
  json_t *arr = json_object_get(p, "proof");
  sl_ledger_hash proof[SL_LEDGER_PROOF_MAX];
  size_t n = json_array_size(arr);
  bool ok = json_is_array(arr) && n <= SL_LEDGER_PROOF_MAX;
  for (size_t i = 0; ok && i < n; i++)
    ok = sl_ledger_hex_decode(json_string_value(json_array_get(arr, i)), proof[i].b, 32);
  ok = ok && sl_ledger_consistency_verify(st->size, cp->tree_size, &st->root, &cp->root, proof,
                                          n) == SL_LEDGER_OK;
  json_decref(p);
  if (!ok)
    snprintf(why, wlen, "the tree of size %llu does not extend the cosigned tree of size %llu",
             (unsigned long long)cp->tree_size, (unsigned long long)st->size);
  return ok ? WX_OK : WX_REFUSED;
}

typedef struct {
  cli c;
  const char *name, *state_path;
  sl_ledger_keypair kp;
  wstate st;
  long cosigned;
} witness;

/* Check one checkpoint against the state; when it holds, save the state, then cosign. */
static int witness_one(witness *w, json_t *keys, json_t *cp) {
  char why[200] = "";
  sl_ledger_checkpoint c = {0, {{0}}, 0};
  uint8_t rec[SL_LEDGER_RECORD_MAX];
  size_t len = 0;
  int rc = exchange_signed(keys, cp, &c, rec, &len, why, sizeof why) ? WX_OK : WX_REFUSED;
  if (rc == WX_OK) rc = consistent(&w->c, &w->st, &c, why, sizeof why);
  if (rc == WX_REFUSED)
    printf("REFUSED checkpoint %llu: %s\n", (unsigned long long)c.tree_size, why);
  if (rc != WX_OK) return rc;
  sl_ledger_cosignature cs;
  uint8_t cs_rec[SL_LEDGER_COSIGNATURE_SIZE], sig[SL_LEDGER_SIG_LEN];
  char sha_hex[65], sig_hex[129], ts[32], path[128];
  if (sl_ledger_cosignature_of(rec, len, (int64_t)time(NULL), &cs) != SL_LEDGER_OK)
    return WX_REFUSED;
  if (cs.timestamp < c.timestamp) cs.timestamp = c.timestamp; /* a clock behind the exchange's */
  sl_ledger_hex_encode(cs.checkpoint_sha256.b, 32, sha_hex);
  wstate next = {c.tree_size, c.root};
  if (!state_save(w->state_path, &next, sha_hex)) return WX_USAGE;
  w->st = next;
  if (sl_ledger_cosignature_encode(&cs, cs_rec) != SL_LEDGER_OK ||
      sl_ledger_sign(&w->kp, cs_rec, sizeof cs_rec, sig) != SL_LEDGER_OK)
    return WX_USAGE;
  sl_ledger_hex_encode(sig, sizeof sig, sig_hex);
  sl_time_format(cs.timestamp, ts, sizeof ts);
  json_t *body =
      json_pack("{s:s,s:s,s:s}", "witness", w->name, "timestamp", ts, "signature", sig_hex);
  snprintf(path, sizeof path, "/v1/ledger/checkpoints/%llu/cosignatures",
           (unsigned long long)c.tree_size);
  resp r;
  rc = cli_http(&w->c, "POST", path, body, NULL, NULL, &r);
  json_decref(body);
  if (rc == EX_OK && r.status != 201 && r.status != 200) rc = cli_expect(&w->c, &r, 201);
  resp_free(&r);
  if (rc != EX_OK) return WX_UNREACHABLE;
  w->cosigned++;
  printf("cosigned checkpoint %llu\n", (unsigned long long)c.tree_size);
  return WX_OK;
}

/* One round: every checkpoint newer than the state, in order, then the latest (which also
 * catches a rewritten head of the size already cosigned). */
static int witness_round(witness *w) {
  json_t *keys = NULL, *page = NULL, *latest = NULL;
  int rc = cli_get_json(&w->c, "/v1/keys", &keys) == EX_OK ? WX_OK : WX_UNREACHABLE;
  while (rc == WX_OK) {
    char path[128];
    snprintf(path, sizeof path, "/v1/ledger/checkpoints?after=%llu&limit=500",
             (unsigned long long)w->st.size);
    if (cli_get_json(&w->c, path, &page) != EX_OK) {
      rc = WX_UNREACHABLE;
      break;
    }
    json_t *items = json_object_get(page, "items");
    size_t i, n = json_array_size(items);
    json_t *cp;
    json_array_foreach(items, i, cp) {
      if (rc == WX_OK) rc = witness_one(w, keys, cp);
    }
    json_decref(page);
    page = NULL;
    if (n < 500) break;
  }
  if (rc == WX_OK && w->st.size > 0) {
    if (cli_get_json(&w->c, "/v1/ledger/checkpoint", &latest) != EX_OK) rc = WX_UNREACHABLE;
    else {
      char why[200] = "";
      sl_ledger_checkpoint c = {0, {{0}}, 0};
      uint8_t rec[SL_LEDGER_RECORD_MAX];
      size_t len;
      rc = exchange_signed(keys, latest, &c, rec, &len, why, sizeof why) ? WX_OK : WX_REFUSED;
      if (rc == WX_OK) rc = consistent(&w->c, &w->st, &c, why, sizeof why);
      if (rc == WX_REFUSED)
        printf("REFUSED checkpoint %llu: %s\n", (unsigned long long)c.tree_size, why);
    }
  }
  json_decref(latest);
  json_decref(keys);
  return rc;
}

/* ---------------------------------------------------------------------------------- run */

static int cmd_run(int argc, char **argv) {
  witness w;
  memset(&w, 0, sizeof w);
  const char *url = NULL, *key = NULL, *token = getenv("SUANLI_TOKEN"), *interval = "1000";
  bool once = false;
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i];
    const char **dst = strcmp(a, "--url") == 0           ? &url
                       : strcmp(a, "--name") == 0        ? &w.name
                       : strcmp(a, "--key") == 0         ? &key
                       : strcmp(a, "--state") == 0       ? &w.state_path
                       : strcmp(a, "--token") == 0       ? &token
                       : strcmp(a, "--interval-ms") == 0 ? &interval
                                                         : NULL;
    if (strcmp(a, "--once") == 0) once = true;
    else if (!dst || i + 1 >= argc) return fail_usage("bad option %s (see --help)", a);
    else *dst = argv[++i];
  }
  if (!url || !w.name || !key || !w.state_path)
    return fail_usage("%s", "run needs --url, --name, --key and --state");
  long ms = strtol(interval, NULL, 10);
  if (ms < 10 || ms > 3600000) return fail_usage("--interval-ms %s: 10 to 3600000", interval);
  if (!load_key(key, &w.kp)) return fail_usage("%s: not a key file (64 hex digits)", key);
  char lock_path[1100];
  snprintf(lock_path, sizeof lock_path, "%s.lock", w.state_path);
  int lock = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock < 0 || flock(lock, LOCK_EX | LOCK_NB) != 0) {
    sl_ledger_keypair_wipe(&w.kp);
    return fail_usage("%s: another witness holds this state", lock_path);
  }
  int rc = state_load(w.state_path, &w.st) ? WX_OK : WX_USAGE;
  w.c.url = url;
  w.c.token = token && *token ? token : NULL;
  w.c.json = true; /* errors as the server's JSON, on stdout */
  while (rc == WX_OK || (rc == WX_UNREACHABLE && !once)) {
    rc = witness_round(&w);
    fflush(stdout);
    if (once || rc == WX_REFUSED || rc == WX_USAGE) break;
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
  }
  sl_ledger_keypair_wipe(&w.kp);
  close(lock);
  return rc;
}

int main(int argc, char **argv) {
  if (sodium_init() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != 0) return WX_USAGE;
  int rc;
  if (argc == 3 && strcmp(argv[1], "keygen") == 0) rc = witness_keygen(argv[2]);
  else if (argc >= 2 && strcmp(argv[1], "run") == 0) rc = cmd_run(argc, argv);
  else {
    fputs(USAGE, argc >= 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr);
    rc = argc >= 2 && strcmp(argv[1], "--help") == 0 ? WX_OK : WX_USAGE;
  }
  curl_global_cleanup();
  return rc;
}
