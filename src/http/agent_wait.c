/* agent_wait.c — the long poll of POST /v1/agent/work without a thread or a database
 * connection per waiting agent.
 *
 * A poll that finds no due work and may wait (h_agent.c) is suspended in libmicrohttpd
 * (MHD_suspend_connection, from the access handler) and put on this list with its provider,
 * its pools and its deadline; its database connection goes back to the pool.  One waiter
 * thread per process looks, every WAKE_MS, which of the waiting providers have due agent work
 * (one read for all of them, src/db/agent.c) and resumes the polls that have some, whose wait
 * is over, or all of them when the server stops; libmicrohttpd then calls the access handler
 * again and the poll leases what is due (h_agent.c, sl_agent_poll_resume).  A waiter is on the
 * list exactly while its connection is suspended: it is added after MHD_suspend_connection
 * and removed just before MHD_resume_connection, both under the list's lock.  The request is
 * freed only in the request-completed callback, which libmicrohttpd cannot call while the
 * connection is suspended.  Suspended connections still count against the connection limits;
 * at most MAX_WAITERS polls wait per process (the others answer at once). */
#include "internal.h"
#include "suanli/core/log.h"
#include "suanli/core/timeutil.h"
#include "suanli/db/agent.h"
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#define WAKE_MS     250
#define MAX_WAITERS 4096

typedef struct waiter {
  sl_req *r;
  int64_t owner;
  json_t *pools; /* owned; NULL = every agent pool of the owner */
  int64_t until_us;
  struct waiter *next;
} waiter;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static waiter *head;
static int count;
static bool stopping, running;
static pthread_t thread;
static sl_db *dbpool;

/* Caller holds mu.  Unlink w (whose predecessor link is *link) and resume its connection. */
static void resume_locked(waiter **link, waiter *w) {
  *link = w->next;
  count--;
  MHD_resume_connection(w->r->conn);
  json_decref(w->pools);
  free(w);
}

static bool pool_listed(const json_t *pools, int64_t pool) {
  size_t i;
  json_t *v;
  if (!pools) return true;
  json_array_foreach(pools, i, v) if (json_integer_value(v) == pool) return true;
  return false;
}

/* Whether `due` ([[owner, pool], ...]) holds work for w. */
static bool has_work(const json_t *due, const waiter *w) {
  size_t i;
  json_t *pair;
  json_array_foreach(due, i, pair) {
    if (json_integer_value(json_array_get(pair, 0)) == w->owner &&
        pool_listed(w->pools, json_integer_value(json_array_get(pair, 1))))
      return true;
  }
  return false;
}

/* The due work of the owners now waiting ([[owner, pool], ...]), or NULL when it cannot be
 * read this round (the waits then end only by time). */
static json_t *read_due(void) {
  json_t *owners = json_array();
  pthread_mutex_lock(&mu);
  for (waiter *w = head; w; w = w->next) json_array_append_new(owners, json_integer(w->owner));
  pthread_mutex_unlock(&mu);
  json_t *due = NULL;
  bool down;
  sl_dbc *c = json_array_size(owners) ? sl_db_acquire(dbpool, 200, &down) : NULL;
  if (c) {
    if (sl_db_agent_due(c, owners, &due) != SL_DB_OK) due = NULL;
    sl_db_release(dbpool, c);
  }
  json_decref(owners);
  return due;
}

static void *waiter_main(void *arg) {
  (void)arg;
  pthread_mutex_lock(&mu);
  while (!stopping || head) {
    if (!head) {
      pthread_cond_wait(&cv, &mu);
      continue;
    }
    pthread_mutex_unlock(&mu);
    json_t *due = stopping ? NULL : read_due();
    pthread_mutex_lock(&mu);
    int64_t now = sl_time_now_us();
    for (waiter **link = &head; *link;) {
      waiter *w = *link;
      if (stopping || now >= w->until_us || (due && has_work(due, w))) resume_locked(link, w);
      else link = &w->next;
    }
    json_decref(due);
    if (head && !stopping) {
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      ts.tv_nsec += WAKE_MS * 1000000L;
      if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
      }
      pthread_cond_timedwait(&cv, &mu, &ts);
    }
  }
  running = false;
  pthread_mutex_unlock(&mu);
  return NULL;
}

bool sl_agent_wait_hold(sl_req *r, int64_t owner, const json_t *pools, int64_t wait_s) {
  waiter *w = calloc(1, sizeof *w);
  if (!w) return false;
  pthread_mutex_lock(&mu);
  if (stopping || count >= MAX_WAITERS) {
    pthread_mutex_unlock(&mu);
    free(w);
    return false;
  }
  if (!running) {
    dbpool = r->dbpool;
    if (pthread_create(&thread, NULL, waiter_main, NULL) != 0) {
      pthread_mutex_unlock(&mu);
      free(w);
      return false;
    }
    running = true;
  }
  w->r = r;
  w->owner = owner;
  w->pools = pools ? json_deep_copy(pools) : NULL;
  w->until_us = sl_time_now_us() + wait_s * 1000000;
  /* suspended before it is listed: the waiter never resumes a connection not suspended */
  MHD_suspend_connection(r->conn);
  w->next = head;
  head = w;
  count++;
  r->agent_waiting = true;
  pthread_cond_signal(&cv);
  pthread_mutex_unlock(&mu);
  return true;
}

void sl_agent_wait_stop(void) {
  pthread_mutex_lock(&mu);
  stopping = true;
  bool join = running;
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);
  if (join) pthread_join(thread, NULL);
}
