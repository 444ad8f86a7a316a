/* rawpath.h — the request target as it came off the wire, checked before any routing.
 *
 * Routing happens on the raw (undecoded) path: a percent-escape may only stand for an
 * unreserved character (RFC 3986 §2.3: ALPHA DIGIT - . _ ~), which is decoded; every other
 * escape (%00, %2F, %2E%2E's neighbours, %FF, ...) and every byte outside the RFC's path
 * characters is refused, as are "." and ".." segments.  So "/v1/pools%2f1", "/v1/tokens/31%00x"
 * and "/v1/accounts/6%00/../../audit" never reach a handler.  Pure: no I/O. */
#ifndef SUANLI_RAWPATH_H
#define SUANLI_RAWPATH_H
#include <stdbool.h>
#include <stddef.h>

typedef enum sl_rawpath_rc {
  SL_RAWPATH_OK = 0,
  SL_RAWPATH_NOT_ABSOLUTE, /* does not start with '/' */
  SL_RAWPATH_BAD_BYTE,   /* a byte that may not appear in a path (control, space, non-ASCII, ...) */
  SL_RAWPATH_BAD_ESCAPE, /* '%' not followed by two hex digits */
  SL_RAWPATH_ENCODED,    /* an escape of a character that is not unreserved (%2F, %00, %FF) */
  SL_RAWPATH_DOT_SEGMENT, /* a "." or ".." segment */
  SL_RAWPATH_TOO_LONG,
} sl_rawpath_rc;

#define SL_RAWPATH_MAX      1024 /* longest path accepted, bytes */
#define SL_QUERY_MAX_PARAMS 32

/* Check the path part of the raw request target `raw` (up to the first '?' or the end) and
 * write its canonical form (unreserved escapes decoded) to out (outlen > 0; NUL-terminated).
 * *query is set to the character after '?' or NULL.  Returns the first problem found. */
sl_rawpath_rc sl_rawpath_canon(const char *raw, char *out, size_t outlen, const char **query);
/* A short English reason for rc. */
const char *sl_rawpath_why(sl_rawpath_rc rc);

/* Check a raw query string (after '?'): well-formed escapes, no control bytes or NUL after
 * decoding, valid UTF-8 after decoding, at most SL_QUERY_MAX_PARAMS parameters.  On failure
 * returns false and writes a reason to why (printable ASCII). */
bool sl_rawquery_check(const char *q, char *why, size_t whylen);

/* true when s[0..n) is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
bool sl_utf8_valid(const char *s, size_t n);
/* Copy s into out (outlen > 0) as printable ASCII: every byte outside 0x20..0x7e becomes
 * "%XX", so any input can go into a JSON string, a log line or a text column. */
void sl_text_escape(const char *s, char *out, size_t outlen);

#endif
