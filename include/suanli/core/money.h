/* money.h — money as int64 minor units (USD cents), and decimal-string conversion. Pure.
 *
 * JSON carries money as a decimal string with at most SL_MONEY_SCALE fraction digits
 * ("12", "12.5", "12.50"); no sign, exponent, spaces or leading '+'.  Internally every
 * amount is an int64 count of minor units; nothing is ever a float. */
#ifndef SUANLI_MONEY_H
#define SUANLI_MONEY_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_MONEY_SCALE    2 /* fraction digits of one major unit */
#define SL_MONEY_CURRENCY "USD"
/* Largest amount any parse accepts: 10^15 minor units (10 trillion dollars). */
#define SL_MONEY_MAX INT64_C(1000000000000000)

typedef enum { SL_MONEY_OK = 0, SL_MONEY_SYNTAX, SL_MONEY_PRECISION, SL_MONEY_RANGE } sl_money_rc;

/* Parse a non-negative decimal string into minor units.  Returns SL_MONEY_SYNTAX for
 * anything that is not digits[.digits], SL_MONEY_PRECISION for more than SL_MONEY_SCALE
 * fraction digits, SL_MONEY_RANGE above SL_MONEY_MAX.  *out is untouched on error. */
sl_money_rc sl_money_parse(const char *s, int64_t *out);

/* Format minor units as "123.45" (negative amounts get a leading '-').  Writes at most
 * len bytes including the NUL; returns the number of characters, or -1 if too small.
 * A buffer of SL_MONEY_STRLEN always suffices. */
#define SL_MONEY_STRLEN 32
int sl_money_format(int64_t minor, char *buf, size_t len);

/* Overflow-checked helpers: return false (and leave *out alone) on overflow. */
bool sl_money_add(int64_t a, int64_t b, int64_t *out);
bool sl_money_mul(int64_t a, int64_t b, int64_t *out);

/* Human message for a parse error, e.g. "at most 2 decimal places". */
const char *sl_money_strerror(sl_money_rc rc);

#endif
