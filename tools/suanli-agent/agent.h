/* agent.h — shared by the files of suanli-agent (tools/suanli-agent/, README.md there).
 *
 * suanli-agent runs inside a provider's network with the provider's token and pulls its agent
 * pools' reservation work from the exchange (POST /v1/agent/work, a long poll), carries each
 * item out with the local scheduler (Slurm through scontrol, or "host": reservations tracked
 * by time in a local file), reports the outcome (POST /v1/agent/work/{id}/result, with an
 * Idempotency-Key per lease), sends heartbeats (from nvidia-smi, or from Slurm on a head
 * node), and measures its round-trip time to the exchange and its regional probes, which the
 * exchange records in its latency matrix.  The exchange needs no inbound route to it. */
#ifndef SUANLI_AGENT_H
#define SUANLI_AGENT_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AGENT_VERSION "suanli-agent/1"

/* Exit statuses (README.md). */
enum {
  AX_OK = 0,
  AX_FAILED = 1,      /* discovery or registration failed */
  AX_USAGE = 2,       /* bad command line or configuration */
  AX_REFUSED = 3,     /* the exchange refused the token (401/403): it will not heal by waiting */
  AX_UNREACHABLE = 4, /* --once: the exchange did not answer */
};

/* ---- HTTP (http.c) ---- */
typedef struct ax_http {
  const char *url;    /* the exchange, without a trailing slash */
  const char *token;  /* the provider's token */
  void *curl;         /* one handle, reused: keep-alive across requests */
  bool interruptible; /* ax_http_interrupt() ends the call in progress */
} ax_http;

typedef struct ax_resp {
  long status;        /* 0: no answer (see error) */
  json_t *body;       /* the parsed JSON body, or NULL */
  char error[256];    /* transport error, or the server's error name and detail */
  int64_t elapsed_us; /* the whole request */
} ax_resp;

bool ax_http_init(ax_http *h, const char *url, const char *token);
void ax_http_fini(ax_http *h);
/* METHOD path with an optional JSON body and Idempotency-Key; timeout_s bounds the whole
 * request.  Always fills out (free with ax_resp_free); returns true when an answer came. */
bool ax_http_call(ax_http *h, const char *method, const char *path, const json_t *body,
                  const char *idem_key, long timeout_s, ax_resp *out);
void ax_resp_free(ax_resp *r);
/* Stop waiting: an interruptible call in progress ends soon (signal handlers call it). */
void ax_http_interrupt(void);
bool ax_http_interrupted(void);

/* ---- carrying out work (work.c) ---- */
typedef struct ax_site {
  const char *state_dir;   /* host mode's reservations file lives here */
  int host_gpus;           /* host mode: GPUs of this host (0: do not check capacity) */
  const char *access_host; /* access details sealed for the tenant (NULL: none) */
  int access_port;
  const char *access_user;
  const char *login_node; /* slurm: the login node named in the access details */
} ax_site;

typedef struct ax_outcome {
  const char *outcome; /* "ok", "retry", "terminal" */
  char error[400];
  char ref[128];
  char sealed[24000]; /* base64 sealed box, "" when none */
  char sealed_to[65];
} ax_outcome;

/* Carry out one work item (a JSON object of POST /v1/agent/work's items). */
void ax_work_run(const ax_site *s, const json_t *item, ax_outcome *out);

/* ---- host mode (host.c): reservations tracked by time in <state_dir>/host-reservations.json,
 * one record per reservation id, under a file lock ---- */
typedef enum { AX_HOST_OK, AX_HOST_BUSY, AX_HOST_CANCELLED, AX_HOST_IO } ax_host_rc;
ax_host_rc ax_host_reserve(const char *dir, int64_t id, int64_t start, int64_t end, int gpus,
                           int capacity, char *why, size_t whylen);
ax_host_rc ax_host_cancel(const char *dir, int64_t id, char *why, size_t whylen);

#endif
