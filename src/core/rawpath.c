/* rawpath.c — raw request-target checks; see include/suanli/core/rawpath.h. */
#include "suanli/core/rawpath.h"
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static bool unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

/* pchar without pct-encoded (RFC 3986 §3.3): unreserved, sub-delims, ':' and '@'. */
static bool path_char(unsigned char c) {
  return unreserved(c) || (c != 0 && strchr("!$&'()*+,;=:@", c) != NULL);
}

/* Contract: see rawpath.h.  Dot segments are judged on the decoded text ("%2E%2E" is "..").
 * out always holds a NUL-terminated prefix of the canonical path, even on failure. */
sl_rawpath_rc sl_rawpath_canon(const char *raw, char *out, size_t outlen, const char **query) {
  size_t o = 0, seg = 0;
  *query = NULL;
  out[0] = '\0';
  if (!raw || raw[0] != '/') return SL_RAWPATH_NOT_ABSOLUTE;
  for (const char *p = raw;; p++) {
    unsigned char c = (unsigned char)*p;
    if (c == '\0' || c == '?' || c == '/') {
      /* end of a segment: out[seg..o) */
      size_t n = o - seg;
      if ((n == 1 && out[seg] == '.') || (n == 2 && out[seg] == '.' && out[seg + 1] == '.'))
        return SL_RAWPATH_DOT_SEGMENT;
      if (c == '\0') break;
      if (c == '?') {
        *query = p + 1;
        break;
      }
      if (o + 1 >= outlen || o >= SL_RAWPATH_MAX) return SL_RAWPATH_TOO_LONG;
      out[o++] = '/';
      out[o] = '\0';
      seg = o;
      continue;
    }
    if (c == '%') {
      int hi = hexval(p[1]), lo = hi < 0 ? -1 : hexval(p[2]);
      if (hi < 0 || lo < 0) return SL_RAWPATH_BAD_ESCAPE;
      c = (unsigned char)(hi * 16 + lo);
      if (!unreserved(c)) return SL_RAWPATH_ENCODED;
      p += 2;
    } else if (!path_char(c)) {
      return SL_RAWPATH_BAD_BYTE;
    }
    if (o + 1 >= outlen || o >= SL_RAWPATH_MAX) return SL_RAWPATH_TOO_LONG;
    out[o++] = (char)c;
    out[o] = '\0';
  }
  return SL_RAWPATH_OK;
}

const char *sl_rawpath_why(sl_rawpath_rc rc) {
  switch (rc) {
  case SL_RAWPATH_OK: return "ok";
  case SL_RAWPATH_NOT_ABSOLUTE: return "the path must start with '/'";
  case SL_RAWPATH_BAD_BYTE:
    return "the path contains a character that is not allowed in a URL path";
  case SL_RAWPATH_BAD_ESCAPE:
    return "the path contains a '%' that is not followed by two hex digits";
  case SL_RAWPATH_ENCODED:
    return "the path contains a percent-escape of a reserved, control or non-ASCII character "
           "(such as %2F, %00 or %FF); ids and names are sent unescaped";
  case SL_RAWPATH_DOT_SEGMENT: return "the path contains a '.' or '..' segment";
  case SL_RAWPATH_TOO_LONG: return "the path is too long";
  }
  return "bad path";
}

/* Contract: Unicode 15 table 3-7 well-formed byte sequences. */
bool sl_utf8_valid(const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s, *e = p + n;
  while (p < e) {
    unsigned c = *p;
    if (c < 0x80) {
      p++;
      continue;
    }
    size_t len;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c == 0xE0) len = 3, lo = 0xA0;
    else if (c == 0xED) len = 3, hi = 0x9F;
    else if (c >= 0xE1 && c <= 0xEF) len = 3;
    else if (c == 0xF0) len = 4, lo = 0x90;
    else if (c == 0xF4) len = 4, hi = 0x8F;
    else if (c >= 0xF1 && c <= 0xF3) len = 4;
    else return false;
    if ((size_t)(e - p) < len) return false;
    if (p[1] < lo || p[1] > hi) return false;
    for (size_t i = 2; i < len; i++)
      if (p[i] < 0x80 || p[i] > 0xBF) return false;
    p += len;
  }
  return true;
}

/* Decode one query component q[0..n) ('+' is a space) into out; false on a bad escape. */
static bool decode_component(const char *q, size_t n, char *out, size_t outlen, size_t *olen) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)q[i];
    if (c == '%') {
      int hi = i + 1 < n ? hexval(q[i + 1]) : -1, lo = i + 2 < n ? hexval(q[i + 2]) : -1;
      if (hi < 0 || lo < 0) return false;
      c = (unsigned char)(hi * 16 + lo);
      i += 2;
    } else if (c == '+') {
      c = ' ';
    }
    if (o + 1 < outlen) out[o++] = (char)c;
  }
  *olen = o;
  return true;
}

/* Contract: see rawpath.h.  Never reads past the NUL of q; why is always NUL-terminated. */
bool sl_rawquery_check(const char *q, char *why, size_t whylen) {
  if (whylen) why[0] = '\0';
  if (!q) return true;
  size_t params = 0;
  const char *p = q;
  char buf[2048];
  while (*p) {
    size_t n = strcspn(p, "&");
    if (n > 0) {
      if (++params > SL_QUERY_MAX_PARAMS) {
        snprintf(why, whylen, "more than %d query parameters", SL_QUERY_MAX_PARAMS);
        return false;
      }
      for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c <= 0x20 || c >= 0x7f || c == '#') {
          snprintf(why, whylen, "the query contains byte 0x%02x, which must be percent-escaped", c);
          return false;
        }
      }
      size_t dl = 0;
      if (n >= sizeof buf) {
        snprintf(why, whylen, "a query parameter is longer than %zu bytes", sizeof buf - 1);
        return false;
      }
      if (!decode_component(p, n, buf, sizeof buf, &dl)) {
        snprintf(why, whylen, "the query contains a '%%' that is not followed by two hex digits");
        return false;
      }
      for (size_t i = 0; i < dl; i++)
        if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f) {
          snprintf(why, whylen, "the query contains an escaped control character");
          return false;
        }
      if (!sl_utf8_valid(buf, dl)) {
        snprintf(why, whylen, "the query is not valid UTF-8 once decoded");
        return false;
      }
    }
    p += n;
    if (*p == '&') p++;
  }
  return true;
}

void sl_text_escape(const char *s, char *out, size_t outlen) {
  static const char hex[] = "0123456789ABCDEF";
  size_t o = 0;
  if (!outlen) return;
  for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
    if (*p >= 0x20 && *p <= 0x7e && *p != '%') {
      if (o + 1 >= outlen) break;
      out[o++] = (char)*p;
    } else if (*p == '%' && p[1] && p[2] && hexval((char)p[1]) >= 0 && hexval((char)p[2]) >= 0) {
      if (o + 1 >= outlen) break; /* an escape already: keep as is */
      out[o++] = '%';
    } else {
      if (o + 3 >= outlen) break;
      out[o++] = '%';
      out[o++] = hex[*p >> 4];
      out[o++] = hex[*p & 15];
    }
  }
  out[o] = '\0';
}
