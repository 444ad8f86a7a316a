/* jsonspec.h — declarative decoding of JSON request bodies. Pure.
 *
 * A handler describes the fields it accepts as an array of sl_jfield and calls
 * sl_json_decode() once.  The decoder rejects unknown fields, missing required fields,
 * wrong types and out-of-range values, and reports the first problem with the field's
 * name and a human detail, so the HTTP layer can answer 400 naming the field.
 *
 * Strings written to destinations are borrowed from the json_t and stay valid as long
 * as the parsed document lives. */
#ifndef SUANLI_JSONSPEC_H
#define SUANLI_JSONSPEC_H
#include "suanli/core/error.h"
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum sl_jtype {
  SL_JT_STRING, /* dest: const char **; min/max: length in bytes (max 0 means 256) */
  SL_JT_INT,    /* dest: int64_t *; min/max: inclusive range; JSON integer only */
  SL_JT_BOOL,   /* dest: bool * */
  SL_JT_MONEY,  /* dest: int64_t * (minor units); JSON decimal string; min/max range */
  SL_JT_TIME,   /* dest: int64_t * (epoch s); RFC 3339 string; max!=0: must be on a slot */
  SL_JT_ENUM,   /* dest: const char **; value must be one of enums[] (NULL-terminated) */
  SL_JT_OBJECT, /* dest: json_t ** (borrowed) */
  SL_JT_ARRAY,  /* dest: json_t ** (borrowed); min/max: element count */
  SL_JT_MILLI,  /* dest: int64_t * thousandths; JSON number or decimal string with
                   at most 3 fraction digits; min/max range in thousandths */
  SL_JT_START,  /* dest: int64_t * (epoch s); like SL_JT_TIME, or for humans "now" /
                   "now+2h" (sl_time_parse_human: rounded up to the next whole hour) */
  SL_JT_HOURS,  /* dest: int64_t * (hours); a JSON integer, or a duration string of whole
                   hours such as "24h", "3d", "1w" (sl_duration_parse); min/max in hours */
} sl_jtype;

typedef struct sl_jfield {
  const char *name;
  sl_jtype type;
  bool required;
  void *dest;
  bool *present; /* optional: set to whether the field was present */
  int64_t min, max;
  const char *const *enums;
} sl_jfield;

typedef struct sl_jerr {
  sl_err code;      /* SL_E_OK when decoding succeeded */
  char field[64];   /* offending field ("" for the body itself) */
  char detail[160]; /* what is wrong, e.g. "must be between 1 and 100000" */
} sl_jerr;

/* Decode obj against fields[0..n).  On success returns true and every present field's
 * dest is written; on failure returns false, fills *err and leaves dests unspecified.
 * A NULL obj is treated as an empty object.  `path` prefixes field names in errors
 * (e.g. "adapter_config."), may be NULL. */
bool sl_json_decode(const json_t *obj, const sl_jfield *fields, size_t n, const char *path,
                    sl_jerr *err);

/* Parse a request body.  Returns the document (caller frees with json_decref) or NULL
 * with *err set to MALFORMED_JSON / BODY_NOT_OBJECT / BODY_REQUIRED. */
json_t *sl_json_parse_body(const char *body, size_t len, sl_jerr *err);

/* Set err to code with field and a printf-style detail; returns false for chaining. */
bool sl_jerr_set(sl_jerr *err, sl_err code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Parse a non-negative decimal with at most 3 fraction digits ("1", "0.125") into
 * thousandths; at most 12 integer digits. */
bool sl_parse_milli(const char *s, int64_t *out);

/* Parse an unsigned decimal id ("1".."9007199254740991", no sign, no leading zero). */
bool sl_parse_id(const char *s, int64_t *out);

#endif
