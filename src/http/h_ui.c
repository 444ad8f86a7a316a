/* h_ui.c — the dashboard: static files compiled into suanlid (cmake/embed_web.cmake, from
 * web/ and the vendored uPlot) served at /ui and /ui/<file>, and the extra headers of every reply
 * (a strict Content-Security-Policy on the dashboard's files; ETags are every GET's, server.c).
 *
 * The page signs in with an API token that it keeps in memory only (never in a URL, a cookie
 * or storage) and sends as `Authorization: Bearer`; every figure comes from the JSON API, so
 * the page sees exactly what the token's role may see. */
#include "internal.h"
#include <string.h>

struct sl_ui_asset {
  const char *name;
  const char *type;
  const char *data;
  size_t len;
};
extern const struct sl_ui_asset sl_ui_assets[];

static void serve(sl_req *r, const char *name) {
  for (const struct sl_ui_asset *a = sl_ui_assets; a->name; a++) {
    if (strcmp(a->name, name) != 0) continue;
    char *copy = strndup(a->data, a->len);
    if (!copy) {
      sl_reply_error(r, SL_E_INTERNAL, NULL, "out of memory");
      return;
    }
    sl_reply_text(r, 200, copy);
    r->content_type = a->type;
    r->ui_asset = true;
    return;
  }
  sl_reply_error(r, SL_E_NOT_FOUND, "asset", "no dashboard file '%.64s'", name);
}

/* GET /ui (also /ui/index.html) */
void h_ui_index(sl_req *r) { serve(r, "index.html"); }

/* GET /ui/{asset} */
void h_ui_asset(sl_req *r) { serve(r, r->params[0]); }

void sl_http_extra_headers(const sl_req *r, struct MHD_Response *resp) {
  if (!r->ui_asset) return;
  MHD_add_response_header(resp, "Content-Security-Policy",
                          "default-src 'none'; script-src 'self'; style-src 'self'; "
                          "img-src 'self' data:; connect-src 'self'; font-src 'self'; "
                          "base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
  MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
  MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
  MHD_add_response_header(resp, "X-Frame-Options", "DENY");
}
