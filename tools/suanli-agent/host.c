/* host.c — host mode: reservations tracked by time on this host, with no scheduler.  One JSON
 * file, <state_dir>/host-reservations.json, {"<reservation id>": {"start", "end", "gpus",
 * "state": "reserved" | "cancelled"}}, read and rewritten (temporary file + rename) under an
 * exclusive lock of <state_dir>/host.lock, so agents sharing the folder never both take the
 * last GPUs.  Idempotent by reservation id: a second reserve of a reserved id is OK; a reserve
 * of a cancelled id is refused (a late retry must not bring it back); cancelling an unknown id
 * is OK.  Records that ended more than a day ago are dropped. */
#include "agent.h"
#include "suanli/core/timeutil.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define KEEP_S 86400

typedef struct store {
  int lock;
  char path[600];
  json_t *all;
} store;

static bool store_open(const char *dir, store *s, char *why, size_t whylen) {
  char lock[600];
  snprintf(lock, sizeof lock, "%s/host.lock", dir);
  snprintf(s->path, sizeof s->path, "%s/host-reservations.json", dir);
  s->all = NULL;
  s->lock = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (s->lock < 0 || flock(s->lock, LOCK_EX) != 0) {
    snprintf(why, whylen, "cannot lock %s: %s", lock, strerror(errno));
    if (s->lock >= 0) close(s->lock);
    return false;
  }
  json_error_t je;
  s->all = json_load_file(s->path, 0, &je);
  if (!s->all && access(s->path, F_OK) == 0) {
    snprintf(why, whylen, "cannot read %s: %s", s->path, je.text);
    close(s->lock);
    return false;
  }
  if (!s->all) s->all = json_object();
  return true;
}

/* Write the records back (dropping old ones) and unlock; false on an I/O error. */
static bool store_close(store *s, bool write, char *why, size_t whylen) {
  bool ok = true;
  if (write) {
    int64_t now = sl_time_now();
    const char *k;
    json_t *v, *keep = json_object();
    json_object_foreach(s->all, k, v) if (json_integer_value(json_object_get(v, "end")) + KEEP_S >
                                          now) json_object_set(keep, k, v);
    char tmp[640];
    snprintf(tmp, sizeof tmp, "%s.tmp", s->path);
    ok = json_dump_file(keep, tmp, JSON_INDENT(1) | JSON_SORT_KEYS) == 0 &&
         rename(tmp, s->path) == 0;
    if (!ok) snprintf(why, whylen, "cannot write %s: %s", s->path, strerror(errno));
    json_decref(keep);
  }
  json_decref(s->all);
  close(s->lock);
  return ok;
}

ax_host_rc ax_host_reserve(const char *dir, int64_t id, int64_t start, int64_t end, int gpus,
                           int capacity, char *why, size_t whylen) {
  store s;
  if (!store_open(dir, &s, why, whylen)) return AX_HOST_IO;
  char key[24];
  snprintf(key, sizeof key, "%lld", (long long)id);
  json_t *r = json_object_get(s.all, key);
  ax_host_rc rc = AX_HOST_OK;
  if (r && strcmp(json_string_value(json_object_get(r, "state")) ?: "", "cancelled") == 0) {
    snprintf(why, whylen, "reservation %lld was cancelled on this host", (long long)id);
    rc = AX_HOST_CANCELLED;
  } else if (!r) {
    /* the GPUs already taken in the busiest moment of [start, end): at a record's start */
    int peak = 0;
    const char *k;
    json_t *v;
    json_object_foreach(s.all, k, v) {
      if (strcmp(json_string_value(json_object_get(v, "state")) ?: "", "reserved") != 0) continue;
      int64_t vs = json_integer_value(json_object_get(v, "start"));
      int64_t t = vs > start ? vs : start;
      if (t >= end || json_integer_value(json_object_get(v, "end")) <= t) continue;
      int used = 0;
      const char *k2;
      json_t *w;
      json_object_foreach(s.all, k2, w) {
        if (strcmp(json_string_value(json_object_get(w, "state")) ?: "", "reserved") == 0 &&
            json_integer_value(json_object_get(w, "start")) <= t &&
            json_integer_value(json_object_get(w, "end")) > t)
          used += (int)json_integer_value(json_object_get(w, "gpus"));
      }
      if (used > peak) peak = used;
    }
    if (capacity > 0 && peak + gpus > capacity) {
      snprintf(why, whylen, "not enough GPUs on this host: %d of %d taken, %d asked", peak,
               capacity, gpus);
      rc = AX_HOST_BUSY;
    } else {
      json_object_set_new(s.all, key,
                          json_pack("{s:I,s:I,s:i,s:s}", "start", (json_int_t)start, "end",
                                    (json_int_t)end, "gpus", gpus, "state", "reserved"));
    }
  }
  if (!store_close(&s, rc == AX_HOST_OK && !r, why, whylen)) rc = AX_HOST_IO;
  return rc;
}

ax_host_rc ax_host_cancel(const char *dir, int64_t id, char *why, size_t whylen) {
  store s;
  if (!store_open(dir, &s, why, whylen)) return AX_HOST_IO;
  char key[24];
  snprintf(key, sizeof key, "%lld", (long long)id);
  json_t *r = json_object_get(s.all, key);
  if (r) json_object_set_new(r, "state", json_string("cancelled"));
  else /* remembered, so that a late reserve of it is refused */
    json_object_set_new(s.all, key,
                        json_pack("{s:I,s:I,s:i,s:s}", "start", (json_int_t)0, "end",
                                  (json_int_t)sl_time_now(), "gpus", 0, "state", "cancelled"));
  return store_close(&s, true, why, whylen) ? AX_HOST_OK : AX_HOST_IO;
}
