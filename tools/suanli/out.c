/* out.c — human output of the client: aligned tables, local times, JSON values.  See cli.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "suanli/core/timeutil.h"

void table_init(table *t, int ncol, const char **head, const char *align) {
  memset(t, 0, sizeof *t);
  t->ncol = ncol;
  t->head = head;
  t->align = align;
}

void table_row(table *t, ...) {
  if (t->rows == t->cap) {
    t->cap = t->cap ? t->cap * 2 : 16;
    t->cells = realloc(t->cells, sizeof *t->cells * (size_t)t->cap * (size_t)t->ncol);
    if (!t->cells) abort();
  }
  va_list ap;
  va_start(ap, t);
  for (int i = 0; i < t->ncol; i++) {
    const char *s = va_arg(ap, const char *);
    t->cells[t->rows * t->ncol + i] = strdup(s ? s : "");
  }
  va_end(ap);
  t->rows++;
}

/* Display width of a UTF-8 string (code points; the tables hold no wide characters). */
static int width(const char *s) {
  int w = 0;
  for (; *s; s++)
    if (((unsigned char)*s & 0xC0) != 0x80) w++;
  return w;
}

static void cell(const char *s, int w, char align, bool last) {
  int pad = w - width(s);
  if (align == 'r') printf("%*s%s", pad, "", s);
  else if (last) fputs(s, stdout);
  else printf("%s%*s", s, pad, "");
}

void table_print(table *t) {
  int w[32] = {0};
  for (int i = 0; i < t->ncol && i < 32; i++) {
    w[i] = width(t->head[i]);
    for (int r = 0; r < t->rows; r++) {
      int cw = width(t->cells[r * t->ncol + i]);
      if (cw > w[i]) w[i] = cw;
    }
  }
  for (int i = 0; i < t->ncol; i++) {
    if (i) fputs("  ", stdout);
    cell(t->head[i], w[i], t->align[i], i == t->ncol - 1);
  }
  fputc('\n', stdout);
  for (int r = 0; r < t->rows; r++) {
    for (int i = 0; i < t->ncol; i++) {
      if (i) fputs("  ", stdout);
      cell(t->cells[r * t->ncol + i], w[i], t->align[i], i == t->ncol - 1);
    }
    fputc('\n', stdout);
  }
}

void table_free(table *t) {
  for (int i = 0; i < t->rows * t->ncol; i++) free(t->cells[i]);
  free(t->cells);
  memset(t, 0, sizeof *t);
}

const char *fmt_time(json_t *v, char *buf, size_t len) {
  int64_t t;
  if (!json_is_string(v) || !sl_time_parse(json_string_value(v), &t)) return fmt_val(v, buf, len);
  time_t tt = (time_t)t;
  struct tm tm;
  localtime_r(&tt, &tm);
  strftime(buf, len, "%Y-%m-%d %H:%M %Z", &tm);
  return buf;
}

const char *fmt_val(json_t *v, char *buf, size_t len) {
  if (json_is_string(v)) snprintf(buf, len, "%s", json_string_value(v));
  else if (json_is_integer(v)) snprintf(buf, len, "%lld", (long long)json_integer_value(v));
  else if (json_is_real(v)) snprintf(buf, len, "%g", json_real_value(v));
  else if (json_is_true(v)) snprintf(buf, len, "yes");
  else if (json_is_false(v)) snprintf(buf, len, "no");
  else snprintf(buf, len, "-");
  return buf;
}

void print_json(json_t *j) {
  json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  fputc('\n', stdout);
}

const char *jstr(json_t *o, const char *key) {
  const char *s = json_string_value(json_object_get(o, key));
  return s ? s : "";
}

long long jint(json_t *o, const char *key) {
  return (long long)json_integer_value(json_object_get(o, key));
}

void query_add(char *q, size_t len, const char *name, const char *value) {
  size_t l = strlen(q);
  snprintf(q + l, len > l ? len - l : 0, "%s%s=", l ? "&" : "", name);
  l = strlen(q);
  for (const unsigned char *p = (const unsigned char *)value; *p && l + 4 < len; p++) {
    if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
        strchr("-._~*", *p)) {
      q[l++] = (char)*p;
      q[l] = 0;
    } else {
      l += (size_t)snprintf(q + l, len - l, "%%%02X", *p);
    }
  }
}

long long parse_id(const char *s) {
  if (!s || !*s || strlen(s) > 15 || strspn(s, "0123456789") != strlen(s) || s[0] == '0') return 0;
  return atoll(s);
}
