/* filter.c — the offers filter language of `suanli offers`: each term is a field, an
 * operator and a value, turned into the query parameters of GET /v1/offers.  Strict bounds
 * become inclusive ones one unit further (cents for prices, thousandths for NCU and
 * milliseconds), so `price<3` means at most 2.99. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "suanli/core/money.h"

static bool why_set(char *why, size_t len, const char *msg) {
  snprintf(why, len, "%s", msg);
  return false;
}

/* A decimal with at most `dec` decimals as an integer in 10^-dec units. */
static bool fixed(const char *s, int dec, int64_t *out) {
  int64_t v = 0;
  int nd = 0, fd = -1;
  for (const char *p = s; *p; p++) {
    if (*p == '.' && fd < 0) {
      fd = 0;
      continue;
    }
    if (*p < '0' || *p > '9' || ++nd > 12) return false;
    if (fd >= 0 && ++fd > dec) return false;
    v = v * 10 + (*p - '0');
  }
  if (nd == 0) return false;
  for (int i = fd < 0 ? 0 : fd; i < dec; i++) v *= 10;
  *out = v;
  return true;
}

static void fixed_str(int64_t v, int dec, char *buf, size_t len) {
  int64_t p = 1;
  for (int i = 0; i < dec; i++) p *= 10;
  if (dec) snprintf(buf, len, "%lld.%0*lld", (long long)(v / p), dec, (long long)(v % p));
  else snprintf(buf, len, "%lld", (long long)v);
}

bool filter_term(const char *term, char *q, size_t qlen, char *why, size_t whylen) {
  char field[32], op[3] = "", value[128];
  size_t fl = strspn(term, "abcdefghijklmnopqrstuvwxyz_");
  if (fl == 0 || fl >= sizeof field)
    return why_set(why, whylen, "expected FIELD OP VALUE, e.g. price<3");
  memcpy(field, term, fl);
  field[fl] = 0;
  size_t ol = strspn(term + fl, "<>=!");
  if (ol == 0 || ol > 2) return why_set(why, whylen, "expected an operator: = < <= > >=");
  memcpy(op, term + fl, ol);
  op[ol] = 0;
  snprintf(value, sizeof value, "%s", term + fl + ol);
  if (!*value) return why_set(why, whylen, "missing value");
  bool lt = !strcmp(op, "<"), le = !strcmp(op, "<="), gt = !strcmp(op, ">"), ge = !strcmp(op, ">="),
       eq = !strcmp(op, "=");
  if (!(lt || le || gt || ge || eq)) return why_set(why, whylen, "unknown operator");
  char buf[64];
  int64_t v;
  if (!strcmp(field, "model") || !strcmp(field, "region") || !strcmp(field, "origin")) {
    if (!eq) return why_set(why, whylen, "model, region and origin take '=' (with * wildcards)");
    query_add(q, qlen, !strcmp(field, "model") ? "accelerator" : field, value);
    return true;
  }
  if (!strcmp(field, "gpus") || !strcmp(field, "mem")) {
    if (!(gt || ge || eq) || !fixed(value, 0, &v))
      return why_set(why, whylen, "takes >= N (a whole number)");
    fixed_str(gt ? v + 1 : v, 0, buf, sizeof buf);
    query_add(q, qlen, !strcmp(field, "gpus") ? "min_gpus" : "min_memory_gb", buf);
    return true;
  }
  if (!strcmp(field, "price") || !strcmp(field, "price_ncu")) {
    if (eq || !fixed(value, 2, &v))
      return why_set(why, whylen, "takes < <= > >= an amount like 3.10");
    bool upper = lt || le;
    if (lt) v -= 1;
    if (gt) v += 1;
    if (v < 0) return why_set(why, whylen, "no price is below zero");
    fixed_str(v, 2, buf, sizeof buf);
    if (!strcmp(field, "price_ncu")) {
      if (!upper) return why_set(why, whylen, "price_ncu takes < or <=");
      query_add(q, qlen, "max_price_per_ncu", buf);
    } else {
      query_add(q, qlen, upper ? "max_price" : "min_price", buf);
    }
    return true;
  }
  if (!strcmp(field, "ncu")) {
    if (!(gt || ge) || !fixed(value, 3, &v))
      return why_set(why, whylen, "takes >= a number like 0.9");
    fixed_str(gt ? v + 1 : v, 3, buf, sizeof buf);
    query_add(q, qlen, "min_ncu", buf);
    return true;
  }
  if (!strcmp(field, "rtt")) {
    char *at = strchr(value, '@');
    if (!(lt || le) || !at || !at[1])
      return why_set(why, whylen, "takes rtt<MS@ORIGIN, e.g. rtt<50@us-east-1");
    *at = 0;
    size_t vl = strlen(value);
    if (vl > 2 && !strcmp(value + vl - 2, "ms")) value[vl - 2] = 0;
    if (!fixed(value, 3, &v) || (lt && v == 0))
      return why_set(why, whylen, "RTT must be milliseconds");
    fixed_str(lt ? v - 1 : v, 3, buf, sizeof buf);
    query_add(q, qlen, "origin", at + 1);
    query_add(q, qlen, "max_rtt_ms", buf);
    return true;
  }
  return why_set(why, whylen,
                 "unknown field (model, region, origin, gpus, mem, price, price_ncu, ncu, rtt)");
}
