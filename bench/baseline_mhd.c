/* baseline_mhd.c — the ceiling that suanlid's HTTP layer is measured against.
 *
 * A minimal libmicrohttpd server configured like suanlid (internal polling thread, epoll,
 * a thread pool of 2) that answers every GET with one fixed JSON body shaped like a page
 * of pools, of about 2 KB by default.  bench/run.sh runs wrk against it and against
 * `GET /v1/pools` on a real suanlid, in the same invocation, and reports the ratio.
 *
 *   bench_baseline_mhd PORT [BODY_BYTES]     listens on 127.0.0.1:PORT until SIGINT/SIGTERM
 *
 * BODY_BYTES (default 2048, 256..1048576) sets the approximate body size, so the baseline
 * can be matched to the size of suanlid's real reply.  Any method other than GET is 405.
 *
 * Two libmicrohttpd 0.9.75 traps are avoided here, as in suanlid:
 *   - the response is queued on the SECOND call of the access handler: queuing on the first
 *     call turned keep-alive off in this version (throughput fell from ~88k to ~18k req/s);
 *   - SIGINT/SIGTERM are blocked before the daemon's threads start and taken with sigwait(),
 *     so they cannot land in one of the library's threads.
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#if MHD_VERSION < 0x00097002
typedef int MHD_RESULT;
#else
typedef enum MHD_Result MHD_RESULT;
#endif

static struct MHD_Response *g_page; /* the fixed 200 reply, shared by every request */
static struct MHD_Response *g_not_allowed;
static int g_first_call_marker; /* address used to mark "first call seen" */

/* One pool object of about 600 bytes, like GET /v1/pools returns to a tenant. */
static int pool_json(char *buf, size_t len, long id) {
  return snprintf(
      buf, len,
      "{\"id\":%ld,\"owner_id\":7,\"name\":\"bench-pool-%05ld\",\"region\":\"us-east-1\","
      "\"accelerator\":\"H100-SXM\",\"memory_gb\":80,\"ncu_per_gpu\":\"1.000\","
      "\"gpu_count\":512,\"gpus_per_node\":8,\"nodes\":64,\"intra_node\":\"nvlink\","
      "\"inter_node\":\"infiniband\",\"inter_node_gbps\":400,\"price_per_gpu_hour\":\"2.49\","
      "\"price_per_ncu_hour\":\"2.490\",\"available_from\":\"2026-12-01T00:00:00Z\","
      "\"available_until\":\"2027-12-01T00:00:00Z\",\"status\":\"active\","
      "\"health\":{\"state\":\"healthy\",\"healthy_gpus\":512,\"utilization_bp\":6200,"
      "\"last_heartbeat_at\":\"2026-11-27T22:00:00Z\"},"
      "\"created_at\":\"2026-11-27T20:00:00Z\",\"updated_at\":\"2026-11-27T22:00:00Z\"}",
      id, id);
}

/* {"items":[pool, pool, ...],"next_after":N,"pad":"   "} with as many pools as fit in
 * `target` bytes (at least one), padded to `target` bytes when there is room.  Returns a
 * malloc'd string and its length in *out_len. */
static char *build_page(size_t target, size_t *out_len) {
  char one[1024];
  int n1 = pool_json(one, sizeof one, 1);
  if (n1 <= 0 || (size_t)n1 >= sizeof one) return NULL;
  size_t count = target > 64 ? (target - 32) / ((size_t)n1 + 1) : 1;
  if (count == 0) count = 1;
  size_t cap = (count + 1) * ((size_t)n1 + 16) + target + 64;
  char *buf = malloc(cap);
  if (!buf) return NULL;
  size_t len = (size_t)snprintf(buf, cap, "{\"items\":[");
  for (size_t i = 0; i < count; i++) {
    if (i) buf[len++] = ',';
    int n = pool_json(buf + len, cap - len, (long)(i + 1));
    if (n <= 0 || (size_t)n >= cap - len) {
      free(buf);
      return NULL;
    }
    len += (size_t)n;
  }
  len += (size_t)snprintf(buf + len, cap - len, "],\"next_after\":%zu", count);
  /* Pad with a string field up to the target size, so the size can match suanlid's. */
  static const char pad_key[] = ",\"pad\":\"";
  if (len + sizeof pad_key + 2 < target && target < cap) {
    memcpy(buf + len, pad_key, sizeof pad_key - 1);
    len += sizeof pad_key - 1;
    while (len < target - 2) buf[len++] = ' ';
    buf[len++] = '"';
  }
  buf[len++] = '}';
  buf[len] = '\0';
  *out_len = len;
  return buf;
}

static MHD_RESULT on_request(void *cls, struct MHD_Connection *conn, const char *url,
                             const char *method, const char *version, const char *upload_data,
                             size_t *upload_data_size, void **req_cls) {
  (void)cls;
  (void)url;
  (void)version;
  (void)upload_data;
  if (*req_cls == NULL) { /* first call: headers only; answer on the next call */
    *req_cls = &g_first_call_marker;
    return MHD_YES;
  }
  if (*upload_data_size != 0) { /* discard any body */
    *upload_data_size = 0;
    return MHD_YES;
  }
  if (strcmp(method, MHD_HTTP_METHOD_GET) != 0)
    return MHD_queue_response(conn, MHD_HTTP_METHOD_NOT_ALLOWED, g_not_allowed);
  return MHD_queue_response(conn, MHD_HTTP_OK, g_page);
}

int main(int argc, char **argv) {
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: %s PORT [BODY_BYTES]\n", argv[0]);
    return 2;
  }
  char *end = NULL;
  long port = strtol(argv[1], &end, 10);
  if (!end || *end || port < 1 || port > 65535) {
    fprintf(stderr, "bench_baseline_mhd: bad port %s\n", argv[1]);
    return 2;
  }
  long body_bytes = 2048;
  if (argc == 3) {
    body_bytes = strtol(argv[2], &end, 10);
    if (!end || *end || body_bytes < 256 || body_bytes > 1048576) {
      fprintf(stderr, "bench_baseline_mhd: BODY_BYTES must be 256..1048576\n");
      return 2;
    }
  }

  size_t page_len = 0;
  char *page = build_page((size_t)body_bytes, &page_len);
  static const char not_allowed[] =
      "{\"error\":\"method_not_allowed\",\"code\":3001,\"hint\":\"The route exists but not "
      "with this method.\",\"field\":\"\",\"detail\":\"\",\"request_id\":\"baseline\"}";
  if (!page) {
    fprintf(stderr, "bench_baseline_mhd: out of memory\n");
    return 1;
  }
  g_page = MHD_create_response_from_buffer(page_len, page, MHD_RESPMEM_PERSISTENT);
  g_not_allowed = MHD_create_response_from_buffer(sizeof not_allowed - 1, (void *)not_allowed,
                                                  MHD_RESPMEM_PERSISTENT);
  if (!g_page || !g_not_allowed ||
      MHD_add_response_header(g_page, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json") !=
          MHD_YES ||
      MHD_add_response_header(g_not_allowed, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json") !=
          MHD_YES ||
      MHD_add_response_header(g_not_allowed, MHD_HTTP_HEADER_ALLOW, "GET") != MHD_YES) {
    fprintf(stderr, "bench_baseline_mhd: cannot build responses\n");
    return 1;
  }

  /* Block the signals in every thread, before the library starts its own. */
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  if (pthread_sigmask(SIG_BLOCK, &sigs, NULL) != 0) {
    fprintf(stderr, "bench_baseline_mhd: pthread_sigmask failed\n");
    return 1;
  }

  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

  struct MHD_Daemon *d = MHD_start_daemon(
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG, (uint16_t)port, NULL,
      NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
      MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)2, MHD_OPTION_CONNECTION_LIMIT, (unsigned int)4096,
      MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)30, MHD_OPTION_LISTEN_BACKLOG_SIZE,
      (unsigned int)1024, MHD_OPTION_END);
  if (!d) {
    fprintf(stderr, "bench_baseline_mhd: cannot listen on 127.0.0.1:%ld\n", port);
    return 1;
  }
  printf("bench_baseline_mhd: listening on 127.0.0.1:%ld, body %zu bytes, pid %ld\n", port,
         page_len, (long)getpid());
  fflush(stdout);

  int sig = 0;
  while (sigwait(&sigs, &sig) != 0) {}
  MHD_stop_daemon(d);
  MHD_destroy_response(g_page);
  MHD_destroy_response(g_not_allowed);
  free(page);
  return 0;
}
