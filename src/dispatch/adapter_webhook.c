/* adapter_webhook.c — reservations POSTed to the provider's URL.
 *
 * Each call POSTs a JSON body {"action": reserve|cancel|status, "reservation_id", "trade_id",
 * "pool_id", "region", "accelerator", "gpus", "nodes", "start", "end"} with the headers
 *   Idempotency-Key: reservation-<id>[-cancel|-status]  (one per action; the same on retries)
 *   X-Suanli-Key-Id, X-Suanli-Signature     (Ed25519 over the EXPORT record of
 *                                            api/SIGNING.md: the SHA-256 of the exact body)
 * A reserve also carries "tenant_access_key" (the tenant's X25519 public key, 64 hex digits,
 * or null): the receiver may answer {"access_sealed": base64 of a crypto_box_seal of the
 * access details to that key}, which the exchange stores as it is (api/ACCESS.md); a value
 * that is not base64 of 49..16384 bytes is ignored.
 * Replies: 2xx → OK (a JSON {"ref"} or {"state"} is read when present); 408, 429, 5xx,
 * timeouts and connection errors → RETRY; other 4xx → TERMINAL.
 *
 * Guard: no redirects; the reply is cut at 64 KiB; the connection is refused unless the
 * resolved address is allowed: never link-local (169.254.0.0/16, the cloud metadata range,
 * and fe80::/10), unspecified, broadcast or multicast; loopback and private ranges only when
 * the operator lists them in SUANLI_WEBHOOK_ALLOW (comma-separated CIDRs, e.g.
 * "127.0.0.0/8,10.1.0.0/16"); public addresses unless SUANLI_WEBHOOK_ALLOW is set, in which
 * case only the listed ranges.  Configuration: {"url", "timeout_ms"? (default 5000)}. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sodium.h>
#include "suanli/dispatch.h"
#include "suanli/timeutil.h"

#define REPLY_MAX 65536
#define MAX_RANGES 32

static sl_dispatch_signer signer;
static pthread_once_t once = PTHREAD_ONCE_INIT;

typedef struct {
  int family;
  uint8_t addr[16];
  int bits;
} cidr;
static cidr allow[MAX_RANGES];
static int nallow = -1; /* -1: not configured (public addresses only) */

void sl_dispatch_set_signer(sl_dispatch_signer fn) { signer = fn; }

static bool parse_cidr(const char *s, cidr *out) {
  char buf[64];
  snprintf(buf, sizeof buf, "%s", s);
  char *slash = strchr(buf, '/');
  int bits = -1;
  if (slash) {
    *slash = '\0';
    bits = atoi(slash + 1);
  }
  if (inet_pton(AF_INET, buf, out->addr) == 1) {
    out->family = AF_INET;
    out->bits = bits < 0 ? 32 : bits;
    return out->bits <= 32;
  }
  if (inet_pton(AF_INET6, buf, out->addr) == 1) {
    out->family = AF_INET6;
    out->bits = bits < 0 ? 128 : bits;
    return out->bits <= 128;
  }
  return false;
}

static void init_once(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const char *env = getenv("SUANLI_WEBHOOK_ALLOW");
  if (!env || !*env) return;
  nallow = 0;
  char *copy = strdup(env), *save = NULL;
  for (char *tok = strtok_r(copy, ", ", &save); tok && nallow < MAX_RANGES;
       tok = strtok_r(NULL, ", ", &save))
    if (parse_cidr(tok, &allow[nallow])) nallow++;
  free(copy);
}

static bool in_cidr(int family, const uint8_t *a, const cidr *c) {
  if (family != c->family) return false;
  int full = c->bits / 8, rest = c->bits % 8;
  if (memcmp(a, c->addr, (size_t)full) != 0) return false;
  if (rest == 0) return true;
  uint8_t mask = (uint8_t)(0xff << (8 - rest));
  return (a[full] & mask) == (c->addr[full] & mask);
}

/* The address policy above; pure given the configured ranges. */
bool sl_webhook_address_allowed(int family, const uint8_t *a) {
  if (family == AF_INET) {
    uint32_t ip = (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3];
    if ((ip >> 16) == 0xA9FE || ip == 0 || ip == 0xFFFFFFFF || (ip >> 28) == 0xE) return false;
    bool private_ = (ip >> 24) == 127 || (ip >> 24) == 10 || (ip >> 20) == 0xAC1 ||
                    (ip >> 16) == 0xC0A8 || (ip >> 22) == (0x64400000u >> 22) || (ip >> 24) == 0;
    if (nallow < 0) return !private_;
  } else if (family == AF_INET6) {
    static const uint8_t zero[16] = {0};
    static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(a, v4mapped, 12) == 0 || (memcmp(a, zero, 12) == 0 && (a[12] | a[13] | a[14]) != 0))
      return sl_webhook_address_allowed(AF_INET, a + 12); /* ::ffff:a.b.c.d and ::a.b.c.d */
    if (memcmp(a, zero, 16) == 0 || a[0] == 0xff || (a[0] == 0xfe && (a[1] & 0xc0) == 0x80))
      return false;
    bool private_ = (memcmp(a, zero, 15) == 0 && a[15] == 1) || (a[0] & 0xfe) == 0xfc;
    if (nallow < 0) return !private_;
  } else {
    return false;
  }
  for (int i = 0; i < nallow; i++)
    if (in_cidr(family, a, &allow[i])) return true;
  return false;
}

typedef struct {
  bool refused;
  char *buf;
  size_t len;
  bool too_big;
} call_ctx;

static curl_socket_t open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *sa) {
  call_ctx *ctx = clientp;
  const uint8_t *a = NULL;
  if (sa->family == AF_INET) a = (const uint8_t *)&((struct sockaddr_in *)(void *)&sa->addr)->sin_addr;
  else if (sa->family == AF_INET6) a = (const uint8_t *)&((struct sockaddr_in6 *)(void *)&sa->addr)->sin6_addr;
  if (!a || !sl_webhook_address_allowed(sa->family, a)) {
    ctx->refused = true;
    return CURL_SOCKET_BAD;
  }
  return socket(sa->family, sa->socktype, sa->protocol);
}

static size_t on_body(char *data, size_t size, size_t n, void *userp) {
  call_ctx *ctx = userp;
  size_t k = size * n;
  if (ctx->len + k > REPLY_MAX) {
    ctx->too_big = true;
    return 0; /* abort the transfer */
  }
  char *nb = realloc(ctx->buf, ctx->len + k + 1);
  if (!nb) return 0;
  ctx->buf = nb;
  memcpy(ctx->buf + ctx->len, data, k);
  ctx->len += k;
  ctx->buf[ctx->len] = '\0';
  return k;
}

static json_t *body_of(const sl_ad_call *c, const char *action) {
  char s[32], e[32];
  sl_time_format(c->start, s, sizeof s);
  sl_time_format(c->end, e, sizeof e);
  json_t *b = json_pack("{s:s,s:I,s:I,s:I,s:s,s:s,s:i,s:i,s:s,s:s}", "action", action,
                        "reservation_id", (json_int_t)c->reservation_id, "trade_id",
                        (json_int_t)c->trade_id, "pool_id", (json_int_t)c->pool_id, "region",
                        c->region, "accelerator", c->accelerator, "gpus", (int)c->gpus, "nodes",
                        (int)c->nodes, "start", s, "end", e);
  if (b && strcmp(action, "reserve") == 0)
    json_object_set_new(b, "tenant_access_key", c->access_key ? json_string(c->access_key) : json_null());
  return b;
}

/* POST the action; on OK *reply (malloc'd, may be NULL) holds the reply body. */
static sl_ad_rc post(const sl_ad_call *c, const char *action, char **reply, char *err, size_t errlen) {
  pthread_once(&once, init_once);
  *reply = NULL;
  json_t *b = body_of(c, action);
  char *body = json_dumps(b, JSON_COMPACT | JSON_SORT_KEYS);
  json_decref(b);
  if (!body) {
    snprintf(err, errlen, "out of memory");
    return SL_AD_RETRY;
  }
  uint8_t sig[64];
  char key_id[17] = "", sig_hex[129], h_key[64], h_sig[160], h_idem[64];
  if (!signer || !signer((const uint8_t *)body, strlen(body), sig, key_id)) {
    free(body);
    snprintf(err, errlen, "no signing key available");
    return SL_AD_RETRY;
  }
  for (int i = 0; i < 64; i++) snprintf(sig_hex + 2 * i, 3, "%02x", sig[i]);
  snprintf(h_key, sizeof h_key, "X-Suanli-Key-Id: %s", key_id);
  snprintf(h_sig, sizeof h_sig, "X-Suanli-Signature: %s", sig_hex);
  snprintf(h_idem, sizeof h_idem, "Idempotency-Key: reservation-%lld%s%s", (long long)c->reservation_id,
           strcmp(action, "reserve") ? "-" : "", strcmp(action, "reserve") ? action : "");
  json_t *t = json_object_get(c->config, "timeout_ms");
  long timeout = json_is_integer(t) ? (long)json_integer_value(t) : 5000;
  const char *url = json_string_value(json_object_get(c->config, "url"));
  call_ctx ctx = {0};
  struct curl_slist *hdr = NULL;
  hdr = curl_slist_append(hdr, "Content-Type: application/json");
  hdr = curl_slist_append(hdr, h_key);
  hdr = curl_slist_append(hdr, h_sig);
  hdr = curl_slist_append(hdr, h_idem);
  CURL *h = curl_easy_init();
  sl_ad_rc rc = SL_AD_RETRY;
  if (!h || !url) {
    snprintf(err, errlen, "cannot start the request");
    goto cleanup;
  }
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout < 3000 ? timeout : 3000L);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_socket);
  curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, &ctx);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &ctx);
  curl_easy_setopt(h, CURLOPT_USERAGENT, "suanlid-webhook/1");
  CURLcode cr = curl_easy_perform(h);
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  if (ctx.refused) {
    snprintf(err, errlen, "the webhook address is not allowed by the operator's policy");
    rc = SL_AD_TERMINAL;
  } else if (ctx.too_big) {
    snprintf(err, errlen, "the reply exceeded %d bytes", REPLY_MAX);
    rc = SL_AD_TERMINAL;
  } else if (cr != CURLE_OK) {
    snprintf(err, errlen, "%s", curl_easy_strerror(cr));
    rc = SL_AD_RETRY;
  } else if (status >= 200 && status < 300) {
    rc = SL_AD_OK;
    *reply = ctx.buf;
    ctx.buf = NULL;
  } else if (status == 408 || status == 429 || status >= 500) {
    snprintf(err, errlen, "HTTP %ld", status);
    rc = SL_AD_RETRY;
  } else {
    snprintf(err, errlen, "HTTP %ld: %.120s", status, ctx.buf ? ctx.buf : "");
    rc = SL_AD_TERMINAL;
  }
cleanup:
  if (h) curl_easy_cleanup(h);
  curl_slist_free_all(hdr);
  free(ctx.buf);
  free(body);
  return rc;
}

static const char *reply_field(const char *reply, const char *key, char *buf, size_t len) {
  buf[0] = '\0';
  json_t *j = reply ? json_loads(reply, 0, NULL) : NULL;
  const char *v = json_string_value(json_object_get(j, key));
  if (v) snprintf(buf, len, "%s", v);
  json_decref(j);
  return buf;
}

static sl_ad_rc wh_reserve(const sl_ad_call *c, char *ref, size_t reflen, char *err, size_t errlen) {
  char *reply;
  sl_ad_rc rc = post(c, "reserve", &reply, err, errlen);
  if (rc == SL_AD_OK) {
    reply_field(reply, "ref", ref, reflen);
    if (!ref[0]) snprintf(ref, reflen, "reservation-%lld", (long long)c->reservation_id);
    if (c->access_key && c->access_out && c->access_out_len) {
      /* the sealed access details, taken only when they are well-formed base64 of a box */
      char *b64 = malloc(c->access_out_len);
      uint8_t *bin = malloc(SL_ACCESS_SEALED_MAX);
      size_t n = 0;
      if (b64 && bin && reply_field(reply, "access_sealed", b64, c->access_out_len)[0] &&
          sodium_base642bin(bin, SL_ACCESS_SEALED_MAX, b64, strlen(b64), NULL, &n, NULL,
                            sodium_base64_VARIANT_ORIGINAL) == 0 &&
          n > crypto_box_SEALBYTES)
        snprintf(c->access_out, c->access_out_len, "%s", b64);
      free(b64);
      free(bin);
    }
  }
  free(reply);
  return rc;
}

static sl_ad_rc wh_cancel(const sl_ad_call *c, char *err, size_t errlen) {
  char *reply;
  sl_ad_rc rc = post(c, "cancel", &reply, err, errlen);
  free(reply);
  return rc;
}

static sl_ad_rc wh_status(const sl_ad_call *c, char *state, size_t len, char *err, size_t errlen) {
  char *reply;
  sl_ad_rc rc = post(c, "status", &reply, err, errlen);
  if (rc == SL_AD_OK && !reply_field(reply, "state", state, len)[0]) snprintf(state, len, "unknown");
  free(reply);
  return rc;
}

const sl_adapter_ops sl_adapter_webhook = {"webhook", wh_reserve, wh_cancel, wh_status};
