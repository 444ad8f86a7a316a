/* timeutil.c — RFC 3339 parsing/formatting in UTC without locale or TZ dependence. */
#include "suanli/core/timeutil.h"
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (Hinnant). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = (unsigned)(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

static bool digits(const char *s, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

static int month_days(int y, int m) {
  static const int md[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
  return md[m - 1];
}

bool sl_time_parse(const char *s, int64_t *out) {
  int Y, M, D, h, mi, sec;
  if (!s || strlen(s) < 20) return false;
  if (!digits(s, 4, &Y) || s[4] != '-' || !digits(s + 5, 2, &M) || s[7] != '-' ||
      !digits(s + 8, 2, &D) || (s[10] != 'T' && s[10] != 't') || !digits(s + 11, 2, &h) ||
      s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' || !digits(s + 17, 2, &sec))
    return false;
  if (M < 1 || M > 12 || D < 1 || D > month_days(Y, M) || h > 23 || mi > 59 || sec > 59)
    return false;
  const char *p = s + 19;
  if (*p == '.') {
    p++;
    if (*p < '0' || *p > '9') return false;
    while (*p >= '0' && *p <= '9') {
      if (*p != '0') return false; /* whole seconds only */
      p++;
    }
  }
  int64_t off = 0;
  if (*p == 'Z' || *p == 'z') {
    p++;
  } else if (*p == '+' || *p == '-') {
    int oh, om;
    if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om) || oh > 23 || om > 59)
      return false;
    off = (int64_t)(oh * 3600 + om * 60) * (*p == '+' ? 1 : -1);
    p += 6;
  } else {
    return false;
  }
  if (*p != '\0') return false;
  int64_t t = days_from_civil(Y, (unsigned)M, (unsigned)D) * 86400 + h * 3600 + mi * 60 + sec - off;
  if (t < SL_TIME_MIN || t > SL_TIME_MAX) return false;
  *out = t;
  return true;
}

void sl_time_format(int64_t t, char *buf, size_t len) {
  if (len == 0) return;
  /* Outside years 0000-9999 the text would not fit the documented 21 bytes: clamp. */
  if (t < INT64_C(-62167219200)) t = INT64_C(-62167219200);
  if (t > INT64_C(253402300799)) t = INT64_C(253402300799);
  time_t tt = (time_t)t;
  struct tm tm;
  buf[0] = '\0';
  if (!gmtime_r(&tt, &tm) || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) buf[0] = '\0';
}

bool sl_time_on_slot(int64_t t) { return t % SL_SLOT_SECONDS == 0; }

int64_t sl_time_now(void) { return (int64_t)time(NULL); }

int64_t sl_time_now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ------------------------------------------------------------------------- human inputs */

int64_t sl_time_ceil_slot(int64_t t) {
  int64_t r = t % SL_SLOT_SECONDS;
  if (r < 0) r += SL_SLOT_SECONDS;
  return r == 0 ? t : t + (SL_SLOT_SECONDS - r);
}

bool sl_duration_parse(const char *s, int64_t *seconds) {
  if (!s || !*s) return false;
  size_t digits = strspn(s, "0123456789");
  bool bare = s[digits] == 0; /* "24": hours */
  int64_t total = 0;
  const char *p = s;
  while (*p) {
    int64_t n = 0;
    int nd = 0;
    while (*p >= '0' && *p <= '9') {
      if (++nd > 9) return false;
      n = n * 10 + (*p++ - '0');
    }
    if (nd == 0) return false;
    int64_t unit = 3600;
    if (!bare) {
      switch (*p++) {
      case 'm': unit = 60; break;
      case 'h': unit = 3600; break;
      case 'd': unit = 86400; break;
      case 'w': unit = 7 * 86400; break;
      default: return false; /* no unit, or an unknown one */
      }
    }
    total += n * unit;
    if (total > SL_DURATION_MAX_S) return false;
  }
  if (total <= 0) return false;
  *seconds = total;
  return true;
}

bool sl_time_parse_human(const char *s, int64_t now, int64_t *out, bool *relative) {
  if (!s) return false;
  if (strncmp(s, "now", 3) == 0) {
    int64_t off = 0;
    if (s[3] == '+') {
      size_t n = strlen(s + 4);
      /* the offset needs a unit ("now+2" is not taken as hours) */
      if (n == 0 || strchr("mhdw", s[3 + n]) == NULL || !sl_duration_parse(s + 4, &off))
        return false;
    } else if (s[3] != 0) {
      return false;
    }
    int64_t t = sl_time_ceil_slot(now + off);
    if (t < SL_TIME_MIN || t > SL_TIME_MAX) return false;
    *out = t;
    if (relative) *relative = true;
    return true;
  }
  if (!sl_time_parse(s, out)) return false;
  if (relative) *relative = false;
  return true;
}
