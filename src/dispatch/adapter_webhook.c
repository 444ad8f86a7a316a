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
 * case only the listed ranges.  Configuration: {"url", "timeout_ms"? (default 5000)}.
 *
 * Issue 16 widened the guard: every special-purpose range of the RFC 6890 registries
 * (documentation 192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32; benchmarking
 * 198.18/15; reserved 240/4; 192.0.0/24; 6to4 relay 192.88.99/24; NAT64 64:ff9b::/96; 6to4
 * 2002::/16; IETF protocol assignments 2001::/23 incl. Teredo; discard 100::/64; ULA fc00::/7)
 * counts as private (only an allow-list entry admits it), and the exchange's own interface
 * addresses are refused unless an allow-list entry names exactly that address (/32, /128).
 * Plain http:// goes only to addresses on the allow list; anything else must be https://,
 * whose certificate libcurl (OpenSSL build) verifies against the system CAs or the bundle in
 * SUANLI_WEBHOOK_CA.  The same policy runs at registration (sl_webhook_url_allowed: the host
 * is resolved and every address checked; 422 address_not_allowed naming adapter.config.url)
 * and at every connection (open_socket below), since DNS can change in between. */
#include "internal.h"
#include "suanli/core/timeutil.h"
#include "suanli/core/vocab.h"
#include <arpa/inet.h>
#include <curl/curl.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define REPLY_MAX  65536
#define MAX_RANGES 32

static sl_dispatch_signer signer;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static const char *policy_allow, *policy_ca; /* sl_adapter_webhook_configure */

void sl_adapter_webhook_configure(const char *allow, const char *ca) {
  policy_allow = allow;
  policy_ca = ca;
}

typedef struct {
  int family;
  uint8_t addr[16];
  int bits;
} cidr;
static cidr allow[MAX_RANGES];
static int nallow = -1; /* -1: not configured (public addresses only) */
#define MAX_OWN 64
static cidr own[MAX_OWN]; /* this host's interface addresses (bits = full length) */
static int nown;

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
  struct ifaddrs *ifs = NULL;
  if (getifaddrs(&ifs) == 0) {
    for (struct ifaddrs *i = ifs; i && nown < MAX_OWN; i = i->ifa_next) {
      if (!i->ifa_addr) continue;
      if (i->ifa_addr->sa_family == AF_INET) {
        own[nown].family = AF_INET;
        own[nown].bits = 32;
        memcpy(own[nown++].addr, &((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr, 4);
      } else if (i->ifa_addr->sa_family == AF_INET6) {
        own[nown].family = AF_INET6;
        own[nown].bits = 128;
        memcpy(own[nown++].addr, &((struct sockaddr_in6 *)(void *)i->ifa_addr)->sin6_addr, 16);
      }
    }
    freeifaddrs(ifs);
  }
  const char *env = policy_allow;
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

/* IPv4 ranges of the RFC 6890 special-purpose registry (and RFC 6598, 5737, 2544) that a
 * webhook may reach only through the allow list. */
static bool special_v4(uint32_t ip) {
  static const struct {
    uint32_t net;
    int bits;
  } r[] = {
      {0x00000000, 8},  {0x0A000000, 8},  {0x64400000, 10}, {0x7F000000, 8},  {0xAC100000, 12},
      {0xC0000000, 24}, {0xC0000200, 24}, {0xC0586300, 24}, {0xC0A80000, 16}, {0xC6120000, 15},
      {0xC6336400, 24}, {0xCB007100, 24}, {0xF0000000, 4},
  };
  for (size_t i = 0; i < sizeof r / sizeof r[0]; i++)
    if ((ip >> (32 - r[i].bits)) == (r[i].net >> (32 - r[i].bits))) return true;
  return false;
}

static bool special_v6(const uint8_t *a) {
  static const uint8_t zero[16] = {0};
  if (memcmp(a, zero, 15) == 0 && a[15] == 1) return true; /* ::1 */
  if ((a[0] & 0xfe) == 0xfc) return true;                  /* fc00::/7 */
  if (a[0] == 0x00 && a[1] == 0x64 && a[2] == 0xff && a[3] == 0x9b)
    return true; /* 64:ff9b::/96 (and /48) */
  if (a[0] == 0x01 && a[1] == 0x00 && memcmp(a + 2, zero, 6) == 0) return true;  /* 100::/64 */
  if (a[0] == 0x20 && a[1] == 0x01 && a[2] < 0x02) return true;                  /* 2001::/23 */
  if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8) return true; /* 2001:db8::/32 */
  if (a[0] == 0x20 && a[1] == 0x02) return true;                                 /* 2002::/16 */
  return false;
}

static bool in_allow(int family, const uint8_t *a, bool exact_only) {
  for (int i = 0; i < nallow; i++)
    if ((!exact_only || allow[i].bits == (family == AF_INET ? 32 : 128)) &&
        in_cidr(family, a, &allow[i]))
      return true;
  return false;
}

static bool is_own(int family, const uint8_t *a) {
  for (int i = 0; i < nown; i++)
    if (in_cidr(family, a, &own[i])) return true;
  return false;
}

/* The address policy above; pure given the configured ranges and this host's addresses. */
bool sl_webhook_address_allowed(int family, const uint8_t *a) {
  pthread_once(&once, init_once);
  bool private_;
  if (family == AF_INET) {
    uint32_t ip = (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3];
    if ((ip >> 16) == 0xA9FE || ip == 0 || ip == 0xFFFFFFFF || (ip >> 28) == 0xE) return false;
    private_ = special_v4(ip);
    /* the exchange's own addresses (but loopback, which the ranges above already cover) */
    if ((ip >> 24) != 127 && is_own(family, a)) return in_allow(family, a, true);
  } else if (family == AF_INET6) {
    static const uint8_t zero[16] = {0};
    static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(a, v4mapped, 12) == 0 || (memcmp(a, zero, 12) == 0 && (a[12] | a[13] | a[14]) != 0))
      return sl_webhook_address_allowed(AF_INET, a + 12); /* ::ffff:a.b.c.d and ::a.b.c.d */
    if (memcmp(a, zero, 16) == 0 || a[0] == 0xff || (a[0] == 0xfe && (a[1] & 0xc0) == 0x80))
      return false;
    private_ = special_v6(a);
    bool loop = memcmp(a, zero, 15) == 0 && a[15] == 1;
    if (!loop && is_own(family, a)) return in_allow(family, a, true);
  } else {
    return false;
  }
  if (nallow < 0) return !private_;
  return in_allow(family, a, false);
}

/* Plain http:// may go only to an address the allow list names. */
static bool plain_allowed(int family, const uint8_t *a) {
  pthread_once(&once, init_once);
  static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (family == AF_INET6 && memcmp(a, v4mapped, 12) == 0) return plain_allowed(AF_INET, a + 12);
  return nallow > 0 && in_allow(family, a, false);
}

/* The configuration: an http(s) URL without credentials; reply timeout in milliseconds.
 * (Where the URL's host may point is checked apart, by sl_webhook_url_allowed.) */
bool sl_adapter_webhook_validate(const json_t *cfg, sl_jerr *err) {
  const char *url = NULL;
  int64_t timeout = 0;
  const sl_jfield f[] = {
      {"url", SL_JT_STRING, true, &url, NULL, 8, 2048, NULL},
      {"timeout_ms", SL_JT_INT, false, &timeout, NULL, 100, 20000, NULL},
  };
  if (!sl_json_decode(cfg, f, sizeof f / sizeof f[0], SL_ADAPTER_CFG, err)) return false;
  const char *rest = NULL;
  if (strncmp(url, "https://", 8) == 0) rest = url + 8;
  else if (strncmp(url, "http://", 7) == 0) rest = url + 7;
  if (!rest || !*rest || *rest == '/' || *rest == ':')
    return sl_jerr_set(err, SL_E_INVALID_VALUE, SL_ADAPTER_CFG "url",
                       "must be an http:// or https:// URL with a host");
  const char *end = rest + strcspn(rest, "/?#");
  if (memchr(rest, '@', (size_t)(end - rest)))
    return sl_jerr_set(err, SL_E_INVALID_VALUE, SL_ADAPTER_CFG "url",
                       "must not contain credentials");
  for (const char *p = url; *p; p++)
    if (*p == ' ' || *p == '"' || *p == '<' || *p == '>' || *p == '\\')
      return sl_jerr_set(err, SL_E_INVALID_VALUE, SL_ADAPTER_CFG "url",
                         "contains a character not allowed in a URL");
  return true;
}

/* Contract: parses url (http/https only), resolves its host and checks every address with
 * the policy (and, for http://, the plain-HTTP rule).  On refusal writes why (an English
 * sentence naming the address) and returns false.  Blocks for the resolver. */
bool sl_webhook_url_allowed(const char *url, char *why, size_t whylen) {
  bool ok = false;
  char *host = NULL, *scheme = NULL;
  struct addrinfo *res = NULL;
  CURLU *u = curl_url();
  if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK) {
    snprintf(why, whylen, "the URL cannot be parsed");
    goto cleanup;
  }
  bool plain = strcmp(scheme, "http") == 0;
  char h[256];
  size_t hl = strlen(host);
  if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']')
    snprintf(h, sizeof h, "%.*s", (int)(hl - 2), host + 1);
  else snprintf(h, sizeof h, "%s", host);
  char *pct = strchr(h, '%'); /* a zone id: fe80::1%eth0 is link-local anyway */
  if (pct) *pct = '\0';
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_socktype = SOCK_STREAM;
  int gr = getaddrinfo(h, NULL, &hints, &res);
  if (gr != 0 || !res) {
    snprintf(why, whylen, "the host '%.100s' does not resolve (%s)", h, gai_strerror(gr));
    goto cleanup;
  }
  for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
    const uint8_t *a = NULL;
    if (ai->ai_family == AF_INET)
      a = (const uint8_t *)&((struct sockaddr_in *)(void *)ai->ai_addr)->sin_addr;
    else if (ai->ai_family == AF_INET6)
      a = (const uint8_t *)&((struct sockaddr_in6 *)(void *)ai->ai_addr)->sin6_addr;
    else continue;
    char txt[INET6_ADDRSTRLEN] = "?";
    inet_ntop(ai->ai_family, a, txt, sizeof txt);
    if (!sl_webhook_address_allowed(ai->ai_family, a)) {
      snprintf(why, whylen,
               "'%.100s' resolves to %s: the exchange's own, loopback, private, "
               "link-local or special-purpose address, which the operator's policy refuses",
               h, txt);
      goto cleanup;
    }
    if (plain && !plain_allowed(ai->ai_family, a)) {
      snprintf(why, whylen, "plain http:// to %s is not on the operator's allow list; use https://",
               txt);
      goto cleanup;
    }
  }
  ok = true;
cleanup:
  if (res) freeaddrinfo(res);
  curl_free(host);
  curl_free(scheme);
  curl_url_cleanup(u);
  return ok;
}

typedef struct {
  bool refused;
  bool plain; /* http://: only allow-listed addresses */
  char *buf;
  size_t len;
  bool too_big;
} call_ctx;

static curl_socket_t open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *sa) {
  call_ctx *ctx = clientp;
  const uint8_t *a = NULL;
  if (sa->family == AF_INET)
    a = (const uint8_t *)&((struct sockaddr_in *)(void *)&sa->addr)->sin_addr;
  else if (sa->family == AF_INET6)
    a = (const uint8_t *)&((struct sockaddr_in6 *)(void *)&sa->addr)->sin6_addr;
  if (!a || !sl_webhook_address_allowed(sa->family, a) ||
      (ctx->plain && !plain_allowed(sa->family, a))) {
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

static json_t *body_of(const sl_adapter_call *c, const char *action) {
  char s[32], e[32];
  sl_time_format(c->start, s, sizeof s);
  sl_time_format(c->end, e, sizeof e);
  json_t *b =
      json_pack("{s:s,s:I,s:I,s:I,s:s,s:s,s:i,s:i,s:s,s:s}", "action", action, "reservation_id",
                (json_int_t)c->reservation_id, "trade_id", (json_int_t)c->trade_id, "pool_id",
                (json_int_t)c->pool_id, "region", c->region, "accelerator", c->accelerator, "gpus",
                (int)c->gpus, "nodes", (int)c->nodes, "start", s, "end", e);
  if (b && sl_vocab_is(action, SL_JOB_ACTION_RESERVE))
    json_object_set_new(b, "tenant_access_key",
                        c->access_key ? json_string(c->access_key) : json_null());
  return b;
}

/* POST the action; on OK *reply (malloc'd, may be NULL) holds the reply body. */
static sl_adapter_rc post(const sl_adapter_call *c, const char *action, char **reply, char *err,
                          size_t errlen) {
  pthread_once(&once, init_once);
  *reply = NULL;
  json_t *b = body_of(c, action);
  char *body = json_dumps(b, JSON_COMPACT | JSON_SORT_KEYS);
  json_decref(b);
  if (!body) {
    snprintf(err, errlen, "out of memory");
    return SL_ADAPTER_RETRY;
  }
  uint8_t sig[64];
  char key_id[17] = "", sig_hex[129], h_key[64], h_sig[160], h_idem[64];
  if (!signer || !signer((const uint8_t *)body, strlen(body), sig, key_id)) {
    free(body);
    snprintf(err, errlen, "no signing key available");
    return SL_ADAPTER_RETRY;
  }
  for (int i = 0; i < 64; i++) snprintf(sig_hex + 2 * i, 3, "%02x", sig[i]);
  snprintf(h_key, sizeof h_key, "X-Suanli-Key-Id: %s", key_id);
  snprintf(h_sig, sizeof h_sig, "X-Suanli-Signature: %s", sig_hex);
  bool reserve = sl_vocab_is(action, SL_JOB_ACTION_RESERVE);
  snprintf(h_idem, sizeof h_idem, "Idempotency-Key: reservation-%lld%s%s",
           (long long)c->reservation_id, reserve ? "" : "-", reserve ? "" : action);
  json_t *t = json_object_get(c->config, "timeout_ms");
  long timeout = json_is_integer(t) ? (long)json_integer_value(t) : 5000;
  const char *url = json_string_value(json_object_get(c->config, "url"));
  call_ctx ctx = {0};
  ctx.plain = url && strncmp(url, "http://", 7) == 0;
  struct curl_slist *hdr = NULL;
  hdr = curl_slist_append(hdr, "Content-Type: application/json");
  hdr = curl_slist_append(hdr, h_key);
  hdr = curl_slist_append(hdr, h_sig);
  hdr = curl_slist_append(hdr, h_idem);
  CURL *h = curl_easy_init();
  sl_adapter_rc rc = SL_ADAPTER_RETRY;
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
  /* https: the peer's certificate chain and name are verified (OpenSSL through libcurl) */
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
  if (policy_ca && *policy_ca) curl_easy_setopt(h, CURLOPT_CAINFO, policy_ca);
  CURLcode cr = curl_easy_perform(h);
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  if (ctx.refused) {
    snprintf(err, errlen, "the webhook address is not allowed by the operator's policy");
    rc = SL_ADAPTER_TERMINAL;
  } else if (ctx.too_big) {
    snprintf(err, errlen, "the reply exceeded %d bytes", REPLY_MAX);
    rc = SL_ADAPTER_TERMINAL;
  } else if (cr != CURLE_OK) {
    snprintf(err, errlen, "%s", curl_easy_strerror(cr));
    rc = SL_ADAPTER_RETRY;
  } else if (status >= 200 && status < 300) {
    rc = SL_ADAPTER_OK;
    *reply = ctx.buf;
    ctx.buf = NULL;
  } else if (status == 408 || status == 429 || status >= 500) {
    snprintf(err, errlen, "HTTP %ld", status);
    rc = SL_ADAPTER_RETRY;
  } else {
    snprintf(err, errlen, "HTTP %ld: %.120s", status, ctx.buf ? ctx.buf : "");
    rc = SL_ADAPTER_TERMINAL;
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

static sl_adapter_rc wh_reserve(const sl_adapter_call *c, char *ref, size_t reflen, char *err,
                                size_t errlen) {
  char *reply;
  sl_adapter_rc rc = post(c, "reserve", &reply, err, errlen);
  if (rc == SL_ADAPTER_OK) {
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

/* Post action; on success copy the reply's string field `key` (when key is set) into out. */
static sl_adapter_rc post_for(const sl_adapter_call *c, const char *action, const char *key,
                              char *out, size_t len, char *err, size_t errlen) {
  char *reply;
  sl_adapter_rc rc = post(c, action, &reply, err, errlen);
  if (rc == SL_ADAPTER_OK && key) reply_field(reply, key, out, len);
  free(reply);
  return rc;
}

static sl_adapter_rc wh_cancel(const sl_adapter_call *c, char *err, size_t errlen) {
  return post_for(c, "cancel", NULL, NULL, 0, err, errlen);
}

static sl_adapter_rc wh_status(const sl_adapter_call *c, char *state, size_t len, char *err,
                               size_t errlen) {
  sl_adapter_rc rc = post_for(c, "status", "state", state, len, err, errlen);
  if (rc == SL_ADAPTER_OK && !state[0]) snprintf(state, len, "unknown");
  return rc;
}

const sl_adapter_ops sl_adapter_webhook_ops = {wh_reserve, wh_cancel, wh_status};
