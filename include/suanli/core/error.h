/* error.h — the error registry (api/errors.def) as a C enum with lookups. Pure. */
#ifndef SUANLI_ERROR_H
#define SUANLI_ERROR_H

typedef enum sl_err {
#define SL_ERROR(ident, code, status, name, hint) SL_E_##ident,
#include "api/errors.def"
#undef SL_ERROR
  SL_E__COUNT
} sl_err;

/* Numeric code, HTTP status, stable name and hint of an error; never NULL. */
int sl_err_code(sl_err e);
unsigned sl_err_status(sl_err e);
const char *sl_err_name(sl_err e);
const char *sl_err_hint(sl_err e);

#endif
