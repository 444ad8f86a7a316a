/* vocab.h — the vocabulary registry (api/vocab.def) as a C enum with lookups.  Pure.
 *
 * Every value of every domain is one constant SL_<DOMAIN>_<NAME> of sl_vocab (values of one
 * domain are consecutive, in file order); every domain one constant SL_VD_<DOMAIN> of
 * sl_vocab_domain.  Compare a string from the database or a request with sl_vocab_is() or
 * sl_vocab_parse(), never with a string literal: a misspelt constant does not compile. */
#ifndef SUANLI_VOCAB_H
#define SUANLI_VOCAB_H
#include <stdbool.h>

typedef enum sl_vocab_domain {
#define SL_VOCAB_DOMAIN(domain, meaning) SL_VD_##domain,
#define SL_VOCAB(domain, ident, value, meaning)
#include "api/vocab.def"
#undef SL_VOCAB
#undef SL_VOCAB_DOMAIN
  SL_VD__COUNT
} sl_vocab_domain;

/* SL_VOCAB__FIRST_<DOMAIN> is the first value of the domain (it takes no number of its own). */
typedef enum sl_vocab {
  SL_VOCAB_NONE = -1, /* not a value of the domain asked for */
#define SL_VOCAB_DOMAIN(domain, meaning)                                                           \
  SL_VOCAB__FIRST_##domain, SL_VOCAB__AT_##domain = SL_VOCAB__FIRST_##domain - 1,
#define SL_VOCAB(domain, ident, value, meaning) SL_##domain##_##ident,
#include "api/vocab.def"
#undef SL_VOCAB
#undef SL_VOCAB_DOMAIN
  SL_VOCAB__COUNT
} sl_vocab;

/* The value's string ("nvlink"), its meaning, its domain; "" / SL_VD__COUNT when v is not a value.
 */
const char *sl_vocab_name(sl_vocab v);
const char *sl_vocab_meaning(sl_vocab v);
sl_vocab_domain sl_vocab_domain_of(sl_vocab v);

/* The domain's name ("INTRA_NODE"), first value and number of values. */
const char *sl_vocab_domain_name(sl_vocab_domain d);
sl_vocab sl_vocab_first(sl_vocab_domain d);
int sl_vocab_count(sl_vocab_domain d);

/* The value of domain d spelt s, or SL_VOCAB_NONE (s not in d, or NULL). */
sl_vocab sl_vocab_parse(sl_vocab_domain d, const char *s);
/* s (may be NULL) spells v. */
bool sl_vocab_is(const char *s, sl_vocab v);
/* The domain's values as a NULL-terminated list in file order (static; for SL_JT_ENUM). */
const char *const *sl_vocab_names(sl_vocab_domain d);

#endif
