/* db/migrate.h — the embedded migrations (src/db/migrate.c). */
#ifndef SUANLI_DB_MIGRATE_H
#define SUANLI_DB_MIGRATE_H
#include "suanli/db/db.h"

/* Apply every embedded migration newer than the database's version, each in one
 * transaction, serialised across processes by an advisory lock.  Fails with a message
 * when the database is newer than this binary.  Returns true on success. */
bool sl_db_migrate(const char *conninfo, char *err, size_t errlen);
/* The newest migration this binary knows. */
int sl_db_schema_latest(void);
/* The database's recorded version (0 when none), or -1 on error. */
int sl_db_schema_version(sl_dbc *c);

#endif
