/* money.c — decimal strings <-> int64 minor units, overflow-checked arithmetic. */
#include "suanli/core/money.h"
#include <stdio.h>
#include <string.h>

sl_money_rc sl_money_parse(const char *s, int64_t *out) {
  if (!s || !*s) return SL_MONEY_SYNTAX;
  const char *p = s;
  int64_t whole = 0;
  size_t int_digits = 0;
  if (*p == '0' && p[1] >= '0' && p[1] <= '9') return SL_MONEY_SYNTAX; /* "01" */
  while (*p >= '0' && *p <= '9') {
    if (whole > SL_MONEY_MAX) return SL_MONEY_RANGE; /* keep going cheaply bounded */
    whole = whole * 10 + (*p - '0');
    if (++int_digits > 18) return SL_MONEY_RANGE;
    p++;
  }
  if (int_digits == 0) return SL_MONEY_SYNTAX;
  int64_t frac = 0;
  int frac_digits = 0;
  if (*p == '.') {
    p++;
    if (!(*p >= '0' && *p <= '9')) return SL_MONEY_SYNTAX; /* "5." */
    while (*p >= '0' && *p <= '9') {
      if (frac_digits == SL_MONEY_SCALE) {
        /* trailing zeros beyond the scale are still precision loss only if non-zero */
        if (*p != '0') return SL_MONEY_PRECISION;
      } else {
        frac = frac * 10 + (*p - '0');
        frac_digits++;
      }
      p++;
    }
  }
  if (*p != '\0') return SL_MONEY_SYNTAX;
  for (int i = frac_digits; i < SL_MONEY_SCALE; i++) frac *= 10;
  int64_t scale = 1;
  for (int i = 0; i < SL_MONEY_SCALE; i++) scale *= 10;
  if (whole > SL_MONEY_MAX / scale) return SL_MONEY_RANGE;
  int64_t v = whole * scale + frac;
  if (v > SL_MONEY_MAX) return SL_MONEY_RANGE;
  *out = v;
  return SL_MONEY_OK;
}

int sl_money_format(int64_t minor, char *buf, size_t len) {
  int64_t scale = 1;
  for (int i = 0; i < SL_MONEY_SCALE; i++) scale *= 10;
  /* avoid negating INT64_MIN: work with unsigned magnitude */
  uint64_t mag = minor < 0 ? (uint64_t)0 - (uint64_t)minor : (uint64_t)minor;
  int n = snprintf(buf, len, "%s%llu.%0*llu", minor < 0 ? "-" : "",
                   (unsigned long long)(mag / (uint64_t)scale), SL_MONEY_SCALE,
                   (unsigned long long)(mag % (uint64_t)scale));
  if (n < 0 || (size_t)n >= len) return -1;
  return n;
}

bool sl_money_add(int64_t a, int64_t b, int64_t *out) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) return false;
  *out = r;
  return true;
}

bool sl_money_mul(int64_t a, int64_t b, int64_t *out) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) return false;
  *out = r;
  return true;
}

const char *sl_money_strerror(sl_money_rc rc) {
  switch (rc) {
  case SL_MONEY_OK: return "ok";
  case SL_MONEY_SYNTAX:
    return "must be a decimal string such as \"12.34\" (no sign, exponent or spaces)";
  case SL_MONEY_PRECISION: return "has more than 2 decimal places";
  case SL_MONEY_RANGE: return "is larger than the maximum amount 10000000000000.00";
  }
  return "invalid amount";
}
