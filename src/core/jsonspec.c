/* jsonspec.c — declarative JSON body decoding; see jsonspec.h. */
#include "suanli/core/jsonspec.h"
#include "suanli/core/clock.h"
#include "suanli/core/money.h"
#include "suanli/core/timeutil.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

bool sl_jerr_set(sl_jerr *err, sl_err code, const char *field, const char *fmt, ...) {
  err->code = code;
  snprintf(err->field, sizeof err->field, "%s", field ? field : "");
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->detail, sizeof err->detail, fmt, ap);
  va_end(ap);
  return false;
}

json_t *sl_json_parse_body(const char *body, size_t len, sl_jerr *err) {
  if (!body || len == 0) {
    sl_jerr_set(err, SL_E_BODY_REQUIRED, "", "the request has no body");
    return NULL;
  }
  json_error_t je;
  json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
  if (!doc) {
    sl_jerr_set(err, SL_E_MALFORMED_JSON, "", "%s at line %d column %d", je.text, je.line,
                je.column);
    return NULL;
  }
  if (!json_is_object(doc)) {
    json_decref(doc);
    sl_jerr_set(err, SL_E_BODY_NOT_OBJECT, "", "the top level must be an object");
    return NULL;
  }
  return doc;
}

bool sl_parse_id(const char *s, int64_t *out) {
  if (!s || !*s || *s == '0' || strlen(s) > 16) return false;
  int64_t v = 0;
  for (const char *p = s; *p; p++) {
    if (*p < '0' || *p > '9') return false;
    v = v * 10 + (*p - '0');
  }
  if (v > INT64_C(9007199254740991)) return false;
  *out = v;
  return true;
}

static const char *type_name(sl_jtype t) {
  switch (t) {
  case SL_JT_STRING:
  case SL_JT_ENUM: return "a string";
  case SL_JT_INT: return "an integer";
  case SL_JT_BOOL: return "a boolean";
  case SL_JT_MONEY: return "a decimal string such as \"12.34\"";
  case SL_JT_TIME: return "an RFC 3339 UTC timestamp string";
  case SL_JT_OBJECT: return "an object";
  case SL_JT_ARRAY: return "an array";
  case SL_JT_MILLI: return "a number with at most 3 decimal places";
  case SL_JT_START: return "an RFC 3339 UTC timestamp, \"now\" or \"now+2h\"";
  case SL_JT_HOURS: return "an integer number of hours or a duration such as \"24h\" or \"3d\"";
  }
  return "a value";
}

/* Parse "123", "123.4", "0.125" into thousandths. */
bool sl_parse_milli(const char *s, int64_t *out) {
  if (!*s) return false;
  int64_t whole = 0, frac = 0;
  int nd = 0, fd = 0;
  const char *p = s;
  while (*p >= '0' && *p <= '9') {
    whole = whole * 10 + (*p - '0');
    if (++nd > 13) return false;
    p++;
  }
  if (nd == 0) return false;
  if (*p == '.') {
    p++;
    if (*p < '0' || *p > '9') return false;
    while (*p >= '0' && *p <= '9') {
      if (fd == 3) return false;
      frac = frac * 10 + (*p - '0');
      fd++;
      p++;
    }
  }
  if (*p) return false;
  for (; fd < 3; fd++) frac *= 10;
  *out = whole * 1000 + frac;
  return true;
}

static bool decode_one(const sl_jfield *f, const json_t *v, const char *fname, sl_jerr *err) {
  switch (f->type) {
  case SL_JT_STRING: {
    if (!json_is_string(v)) break;
    size_t len = json_string_length(v);
    int64_t max = f->max ? f->max : 256;
    if ((int64_t)len < f->min || (int64_t)len > max)
      return sl_jerr_set(err, SL_E_INVALID_VALUE, fname, "must be %lld to %lld characters long",
                         (long long)f->min, (long long)max);
    const char *s = json_string_value(v);
    if (strlen(s) != len)
      return sl_jerr_set(err, SL_E_INVALID_VALUE, fname, "must not contain NUL characters");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
      if (*p < 0x20 || *p == 0x7f)
        return sl_jerr_set(err, SL_E_INVALID_VALUE, fname, "must not contain control characters");
    *(const char **)f->dest = s;
    return true;
  }
  case SL_JT_ENUM: {
    if (!json_is_string(v)) break;
    const char *s = json_string_value(v);
    for (const char *const *e = f->enums; e && *e; e++)
      if (strcmp(*e, s) == 0) {
        *(const char **)f->dest = *e;
        return true;
      }
    char allowed[128] = "";
    for (const char *const *e = f->enums; e && *e; e++) {
      size_t l = strlen(allowed);
      snprintf(allowed + l, sizeof allowed - l, "%s%s", l ? ", " : "", *e);
    }
    return sl_jerr_set(err, SL_E_INVALID_VALUE, fname, "must be one of: %s", allowed);
  }
  case SL_JT_INT: {
    if (!json_is_integer(v)) break;
    json_int_t x = json_integer_value(v);
    if (x < f->min || x > f->max)
      return sl_jerr_set(err, SL_E_INVALID_VALUE, fname, "must be between %lld and %lld",
                         (long long)f->min, (long long)f->max);
    *(int64_t *)f->dest = (int64_t)x;
    return true;
  }
  case SL_JT_BOOL:
    if (!json_is_boolean(v)) break;
    *(bool *)f->dest = json_is_true(v);
    return true;
  case SL_JT_MONEY: {
    if (!json_is_string(v)) break;
    int64_t m;
    sl_money_rc rc = sl_money_parse(json_string_value(v), &m);
    if (rc != SL_MONEY_OK)
      return sl_jerr_set(err, SL_E_INVALID_VALUE, fname, "%s", sl_money_strerror(rc));
    if (m < f->min || m > f->max) {
      char lo[SL_MONEY_STRLEN], hi[SL_MONEY_STRLEN];
      sl_money_format(f->min, lo, sizeof lo);
      sl_money_format(f->max, hi, sizeof hi);
      return sl_jerr_set(err, SL_E_INVALID_VALUE, fname, "must be between %s and %s", lo, hi);
    }
    *(int64_t *)f->dest = m;
    return true;
  }
  case SL_JT_TIME: {
    if (!json_is_string(v)) break;
    int64_t t;
    if (!sl_time_parse(json_string_value(v), &t))
      return sl_jerr_set(err, SL_E_INVALID_VALUE, fname,
                         "must be an RFC 3339 timestamp in whole seconds between 2000 and 2100, "
                         "e.g. \"2026-01-01T00:00:00Z\"");
    if (f->max && !sl_time_on_slot(t))
      return sl_jerr_set(err, SL_E_INVALID_VALUE, fname, "must be on a whole UTC hour");
    *(int64_t *)f->dest = t;
    return true;
  }
  case SL_JT_OBJECT:
    if (!json_is_object(v)) break;
    *(json_t **)f->dest = (json_t *)v;
    return true;
  case SL_JT_ARRAY: {
    if (!json_is_array(v)) break;
    int64_t n = (int64_t)json_array_size(v);
    if (n < f->min || (f->max && n > f->max)) {
      if (!f->max)
        return sl_jerr_set(err, SL_E_INVALID_VALUE, fname, "must have at least %lld elements",
                           (long long)f->min);
      return sl_jerr_set(err, SL_E_INVALID_VALUE, fname, "must have %lld to %lld elements",
                         (long long)f->min, (long long)f->max);
    }
    *(json_t **)f->dest = (json_t *)v;
    return true;
  }
  case SL_JT_MILLI: {
    int64_t m;
    if (json_is_integer(v)) {
      json_int_t x = json_integer_value(v);
      if (x < 0 || x > INT64_C(1000000000000))
        return sl_jerr_set(err, SL_E_INVALID_VALUE, fname, "is out of range");
      m = (int64_t)x * 1000;
    } else if (json_is_string(v)) {
      if (!sl_parse_milli(json_string_value(v), &m))
        return sl_jerr_set(err, SL_E_INVALID_VALUE, fname,
                           "must be a non-negative decimal with at most 3 decimal places");
    } else if (json_is_real(v)) {
      /* Accept a JSON real only if it round-trips through 3 decimals exactly. */
      char buf[64];
      double d = json_real_value(v);
      if (!(d >= 0) || d > 1e12)
        return sl_jerr_set(err, SL_E_INVALID_VALUE, fname, "is out of range");
      snprintf(buf, sizeof buf, "%.3f", d == 0 ? 0.0 : d);
      if (!sl_parse_milli(buf, &m) || (double)m / 1000.0 != (d == 0 ? 0.0 : d))
        return sl_jerr_set(err, SL_E_INVALID_VALUE, fname, "has more than 3 decimal places");
    } else {
      break;
    }
    if (m < f->min || m > f->max)
      return sl_jerr_set(err, SL_E_INVALID_VALUE, fname,
                         "must be between %lld.%03lld and %lld.%03lld", (long long)(f->min / 1000),
                         (long long)(f->min % 1000), (long long)(f->max / 1000),
                         (long long)(f->max % 1000));
    *(int64_t *)f->dest = m;
    return true;
  }
  case SL_JT_START: {
    if (!json_is_string(v)) break;
    int64_t t;
    bool rel = false;
    if (!sl_time_parse_human(json_string_value(v), sl_clock_now(), &t, &rel))
      return sl_jerr_set(err, SL_E_INVALID_VALUE, fname,
                         "must be \"now\", \"now+<duration>\" (e.g. \"now+2h\") or an RFC 3339 "
                         "timestamp in whole seconds, e.g. \"2026-01-01T00:00:00Z\"");
    if (f->max && !rel && !sl_time_on_slot(t))
      return sl_jerr_set(err, SL_E_INVALID_VALUE, fname, "must be on a whole UTC hour");
    *(int64_t *)f->dest = t;
    return true;
  }
  case SL_JT_HOURS: {
    int64_t h;
    if (json_is_integer(v)) {
      h = (int64_t)json_integer_value(v);
    } else if (json_is_string(v) &&
               json_string_value(v)[strspn(json_string_value(v), "0123456789")]) {
      /* a string needs a unit: "4" is a number written as a string, a wrong type */
      int64_t sec;
      if (!sl_duration_parse(json_string_value(v), &sec) || sec % 3600 != 0)
        return sl_jerr_set(err, SL_E_INVALID_VALUE, fname,
                           "must be a whole number of hours: an integer or a duration such as "
                           "\"24h\", \"3d\" or \"1w\"");
      h = sec / 3600;
    } else {
      break;
    }
    if (h < f->min || h > f->max)
      return sl_jerr_set(err, SL_E_INVALID_VALUE, fname, "must be between %lld and %lld hours",
                         (long long)f->min, (long long)f->max);
    *(int64_t *)f->dest = h;
    return true;
  }
  }
  return sl_jerr_set(err, SL_E_WRONG_TYPE, fname, "must be %s", type_name(f->type));
}

bool sl_json_decode(const json_t *obj, const sl_jfield *fields, size_t n, const char *path,
                    sl_jerr *err) {
  char fname[64];
  const char *key;
  const json_t *val;
  err->code = SL_E_OK;
  err->field[0] = err->detail[0] = '\0';
  if (obj && !json_is_object(obj))
    return sl_jerr_set(err, SL_E_WRONG_TYPE, path ? path : "", "must be an object");
  if (obj) {
    json_object_foreach((json_t *)obj, key, val) {
      bool known = false;
      for (size_t i = 0; i < n && !known; i++) known = strcmp(fields[i].name, key) == 0;
      if (!known) {
        snprintf(fname, sizeof fname, "%s%s", path ? path : "", key);
        return sl_jerr_set(err, SL_E_UNKNOWN_FIELD, fname, "is not a field of this request");
      }
    }
  }
  for (size_t i = 0; i < n; i++) {
    const sl_jfield *f = &fields[i];
    snprintf(fname, sizeof fname, "%s%s", path ? path : "", f->name);
    const json_t *v = obj ? json_object_get(obj, f->name) : NULL;
    if (f->present) *f->present = false;
    if (!v || json_is_null(v)) {
      if (f->required) return sl_jerr_set(err, SL_E_MISSING_FIELD, fname, "is required");
      continue;
    }
    if (!decode_one(f, v, fname, err)) return false;
    if (f->present) *f->present = true;
  }
  return true;
}
