/* http.c — suanli-agent's HTTP client: libcurl (the OpenSSL build, certificates verified),
 * one handle reused for keep-alive, JSON bodies, the provider's bearer token, a whole-request
 * timeout, and an interrupt that ends a long poll when the agent is told to stop. */
#include "agent.h"
#include "suanli/core/timeutil.h"
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t interrupted;

void ax_http_interrupt(void) { interrupted = 1; }
bool ax_http_interrupted(void) { return interrupted != 0; }

typedef struct sink {
  char *buf;
  size_t len, cap;
} sink;

#define BODY_MAX (4u << 20)

static size_t on_body(char *p, size_t sz, size_t n, void *ud) {
  sink *s = ud;
  size_t len = sz * n;
  if (s->len + len + 1 > BODY_MAX) return 0;
  if (s->len + len + 1 > s->cap) {
    size_t cap = s->cap ? s->cap : 4096;
    while (cap < s->len + len + 1) cap *= 2;
    char *nb = realloc(s->buf, cap);
    if (!nb) return 0;
    s->buf = nb;
    s->cap = cap;
  }
  memcpy(s->buf + s->len, p, len);
  s->len += len;
  s->buf[s->len] = '\0';
  return len;
}

static int on_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d) {
  (void)a, (void)b, (void)c, (void)d;
  const ax_http *h = ud;
  return interrupted && h->interruptible ? 1 : 0;
}

bool ax_http_init(ax_http *h, const char *url, const char *token) {
  static bool global;
  if (!global) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    global = true;
  }
  h->url = url;
  h->token = token;
  h->interruptible = false;
  h->curl = curl_easy_init();
  return h->curl != NULL;
}

void ax_http_fini(ax_http *h) {
  if (h->curl) curl_easy_cleanup(h->curl);
  h->curl = NULL;
}

void ax_resp_free(ax_resp *r) {
  json_decref(r->body);
  r->body = NULL;
}

bool ax_http_call(ax_http *h, const char *method, const char *path, const json_t *body,
                  const char *idem_key, long timeout_s, ax_resp *out) {
  memset(out, 0, sizeof *out);
  CURL *cu = h->curl;
  char url[2048], auth[600], key[200];
  snprintf(url, sizeof url, "%s%s", h->url, path);
  char *payload = body ? json_dumps(body, JSON_COMPACT) : NULL;
  struct curl_slist *hdr = NULL;
  hdr = curl_slist_append(hdr, "Accept: application/json");
  if (payload) hdr = curl_slist_append(hdr, "Content-Type: application/json");
  if (h->token) {
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", h->token);
    hdr = curl_slist_append(hdr, auth);
  }
  if (idem_key) {
    snprintf(key, sizeof key, "Idempotency-Key: %s", idem_key);
    hdr = curl_slist_append(hdr, key);
  }
  sink s = {0};
  curl_easy_reset(cu);
  curl_easy_setopt(cu, CURLOPT_URL, url);
  curl_easy_setopt(cu, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(cu, CURLOPT_HTTPHEADER, hdr);
  curl_easy_setopt(cu, CURLOPT_POSTFIELDS, payload ? payload : "");
  if (!payload && strcmp(method, "GET") == 0) curl_easy_setopt(cu, CURLOPT_HTTPGET, 1L);
  curl_easy_setopt(cu, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(cu, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(cu, CURLOPT_CONNECTTIMEOUT, 10L);
  curl_easy_setopt(cu, CURLOPT_TIMEOUT, timeout_s);
  curl_easy_setopt(cu, CURLOPT_USERAGENT, AGENT_VERSION);
  curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(cu, CURLOPT_WRITEDATA, &s);
  curl_easy_setopt(cu, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(cu, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(cu, CURLOPT_XFERINFODATA, h);
  curl_easy_setopt(cu, CURLOPT_PROTOCOLS_STR, "http,https");
  int64_t t0 = sl_time_now_us();
  CURLcode rc = curl_easy_perform(cu);
  out->elapsed_us = sl_time_now_us() - t0;
  if (rc == CURLE_OK) {
    curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &out->status);
    out->body = s.buf ? json_loads(s.buf, 0, NULL) : NULL;
    if (out->status >= 400) {
      json_t *b = out->body;
      snprintf(out->error, sizeof out->error, "HTTP %ld %s%s%s", out->status,
               json_string_value(json_object_get(b, "error")) ?: "",
               json_string_value(json_object_get(b, "detail")) ? ": " : "",
               json_string_value(json_object_get(b, "detail")) ?: "");
    }
  } else {
    snprintf(out->error, sizeof out->error, "%s %.160s: %s", method, url,
             rc == CURLE_ABORTED_BY_CALLBACK ? "interrupted" : curl_easy_strerror(rc));
  }
  free(s.buf);
  free(payload);
  curl_slist_free_all(hdr);
  return out->status != 0;
}
