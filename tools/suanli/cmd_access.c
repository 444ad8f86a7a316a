/* cmd_access.c — access to what was bought (api/ACCESS.md): keygen makes the tenant's X25519
 * key pair (kept in the config folder, mode 0600) and registers the public half; access
 * fetches a trade's sealed box and opens it locally; seal is the provider's half (seal access
 * details to a tenant's public key, e.g. in a webhook receiver).  The private key never
 * leaves this machine and the exchange never sees the plaintext. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cli.h"

#define SEALED_MAX 16384

static void key_path(const cli *c, const char *given, char *out, size_t len) {
  if (given) snprintf(out, len, "%s", given);
  else snprintf(out, len, "%s/access.key", c->config_dir);
}

/* Read the key file {"public_key", "secret_key"} (hex).  False (message printed) on error. */
static bool load_keypair(const char *path, uint8_t pk[crypto_box_PUBLICKEYBYTES],
                         uint8_t sk[crypto_box_SECRETKEYBYTES]) {
  json_t *j = json_load_file(path, 0, NULL);
  size_t n1 = 0, n2 = 0;
  const char *p = jstr(j, "public_key"), *s = jstr(j, "secret_key");
  bool ok = j &&
            sodium_hex2bin(pk, crypto_box_PUBLICKEYBYTES, p, strlen(p), NULL, &n1, NULL) == 0 &&
            sodium_hex2bin(sk, crypto_box_SECRETKEYBYTES, s, strlen(s), NULL, &n2, NULL) == 0 &&
            n1 == crypto_box_PUBLICKEYBYTES && n2 == crypto_box_SECRETKEYBYTES;
  json_decref(j);
  if (!ok) fprintf(stderr, "suanli: %s is not a key file made by `suanli keygen`\n", path);
  return ok;
}

static int register_key(cli *c, const char *pk_hex) {
  json_t *b = json_pack("{s:s}", "public_key", pk_hex);
  resp r;
  int rc = cli_http(c, "PUT", "/v1/me/access-key", b, NULL, NULL, &r);
  json_decref(b);
  if (rc == EX_OK) rc = cli_expect(c, &r, 200);
  if (rc == EX_OK && c->json) print_json(r.body);
  else if (rc == EX_OK)
    printf("registered: access details of new reservations are sealed to %s\n", pk_hex);
  resp_free(&r);
  return rc;
}

int cmd_keygen(cli *c, int argc, char **argv) {
  static const char *usage =
      "usage: suanli keygen [--key FILE] [--no-register] [--force]\n"
      "  Makes an X25519 key pair in FILE (default <config>/access.key, mode 0600) and\n"
      "  registers the public key (PUT /v1/me/access-key).  An existing key file is only\n"
      "  registered again, unless --force replaces it.\n";
  const char *pos[1], *file = NULL;
  int np;
  bool help = false, noreg = false, force = false;
  const opt o[] = {{"--help", NULL, &help},
                   {"--key", &file, NULL},
                   {"--no-register", NULL, &noreg},
                   {"--force", NULL, &force},
                   {NULL, NULL, NULL}};
  if (!cli_opts(c, argc, argv, o, pos, 0, &np, usage)) return EX_USAGE;
  if (help) return fputs(usage, stdout), EX_OK;
  if (!noreg && !cli_need_token(c)) return EX_USAGE;
  char path[700], pk_hex[2 * crypto_box_PUBLICKEYBYTES + 1];
  key_path(c, file, path, sizeof path);
  uint8_t pk[crypto_box_PUBLICKEYBYTES], sk[crypto_box_SECRETKEYBYTES];
  FILE *exists = fopen(path, "r");
  if (exists) fclose(exists);
  if (exists && !force) {
    if (!load_keypair(path, pk, sk)) return EX_USAGE;
    fprintf(stderr, "suanli: keeping the existing key in %s\n", path);
  } else {
    char sk_hex[2 * crypto_box_SECRETKEYBYTES + 1];
    crypto_box_keypair(pk, sk);
    sodium_bin2hex(pk_hex, sizeof pk_hex, pk, sizeof pk);
    sodium_bin2hex(sk_hex, sizeof sk_hex, sk, sizeof sk);
    json_t *j = json_pack("{s:s, s:s, s:s}", "kind", "suanli X25519 access key", "public_key",
                          pk_hex, "secret_key", sk_hex);
    char *text = json_dumps(j, JSON_INDENT(2));
    json_decref(j);
    if (!file) cli_mkdirs(c->config_dir);
    int w = text ? cli_write_private(path, text) : -1;
    if (text) sodium_memzero(text, strlen(text));
    free(text);
    sodium_memzero(sk_hex, sizeof sk_hex);
    if (w != 0) {
      fprintf(stderr, "suanli: cannot write %s: %s\n", path, strerror(errno));
      return EX_USAGE;
    }
    fprintf(stderr, "suanli: wrote a new key pair to %s (keep it: it opens your access details)\n",
            path);
  }
  sodium_memzero(sk, sizeof sk);
  sodium_bin2hex(pk_hex, sizeof pk_hex, pk, sizeof pk);
  if (noreg) {
    printf("%s\n", pk_hex);
    return EX_OK;
  }
  return register_key(c, pk_hex);
}

int cmd_access(cli *c, int argc, char **argv) {
  static const char *usage =
      "usage: suanli access TRADE [--key FILE] [--json]\n"
      "  Fetches the trade's access details, sealed to your key by the provider's side, and\n"
      "  opens them here with your private key (default <config>/access.key).\n";
  const char *pos[1], *file = NULL;
  int np;
  bool help = false;
  const opt o[] = {{"--help", NULL, &help}, {"--key", &file, NULL}, {NULL, NULL, NULL}};
  if (!cli_opts(c, argc, argv, o, pos, 1, &np, usage)) return EX_USAGE;
  if (help) return fputs(usage, stdout), EX_OK;
  if (np != 1 || !parse_id(pos[0])) return cli_usage_error(usage, "give a TRADE id");
  char path[700];
  key_path(c, file, path, sizeof path);
  uint8_t pk[crypto_box_PUBLICKEYBYTES], sk[crypto_box_SECRETKEYBYTES];
  if (!load_keypair(path, pk, sk)) return EX_USAGE;
  if (!cli_need_token(c)) return EX_USAGE;
  char api[128];
  snprintf(api, sizeof api, "/v1/trades/%lld/access", parse_id(pos[0]));
  json_t *a;
  int rc = cli_get_json(c, api, &a);
  if (rc != EX_OK) {
    sodium_memzero(sk, sizeof sk);
    return rc;
  }
  const char *b64 = jstr(a, "sealed");
  uint8_t *box = malloc(SEALED_MAX), *plain = malloc(SEALED_MAX + 1);
  size_t n = 0;
  char pk_hex[2 * crypto_box_PUBLICKEYBYTES + 1];
  sodium_bin2hex(pk_hex, sizeof pk_hex, pk, sizeof pk);
  rc = EX_FAILED;
  if (!box || !plain) {
    fprintf(stderr, "suanli: out of memory\n");
  } else if (strcmp(jstr(a, "public_key"), pk_hex) != 0) {
    fprintf(
        stderr,
        "suanli: these details are sealed to key %s, not to yours (%s): register your key before "
        "buying (suanli keygen)\n",
        jstr(a, "public_key"), pk_hex);
  } else if (sodium_base642bin(box, SEALED_MAX, b64, strlen(b64), NULL, &n, NULL,
                               sodium_base64_VARIANT_ORIGINAL) != 0 ||
             n <= crypto_box_SEALBYTES || crypto_box_seal_open(plain, box, n, pk, sk) != 0) {
    fprintf(
        stderr,
        "suanli: the sealed access details do not open with your key (changed or not for you)\n");
  } else {
    size_t m = n - crypto_box_SEALBYTES;
    plain[m] = 0;
    json_t *d = json_loadb((const char *)plain, m, 0, NULL);
    if (c->json && d) {
      print_json(d);
    } else if (d) {
      json_t *ssh = json_object_get(d, "ssh"), *sl = json_object_get(d, "slurm");
      printf("trade %lld, reservation %lld (sealed by the %s side)\n", parse_id(pos[0]),
             jint(a, "reservation_id"), jstr(a, "source"));
      if (ssh) {
        printf("ssh        ssh -p %lld %s@%s\n", jint(ssh, "port") ? jint(ssh, "port") : 22,
               jstr(ssh, "user"), jstr(ssh, "host"));
        if (*jstr(ssh, "password")) printf("password   %s\n", jstr(ssh, "password"));
      }
      if (sl)
        printf("slurm      --reservation=%s on %s\n", jstr(sl, "reservation"),
               jstr(sl, "login_node"));
      const char *k;
      json_t *v;
      json_object_foreach(d, k, v) {
        char b[256];
        if (!strcmp(k, "ssh") || !strcmp(k, "slurm") || json_is_object(v) || json_is_array(v))
          continue;
        printf("%-10s %s\n", k, fmt_val(v, b, sizeof b));
      }
    } else {
      fwrite(plain, 1, m, stdout); /* not JSON: the provider's text as it is */
      putchar('\n');
    }
    json_decref(d);
    sodium_memzero(plain, m);
    rc = EX_OK;
  }
  sodium_memzero(sk, sizeof sk);
  free(box);
  free(plain);
  json_decref(a);
  return rc;
}

int cmd_seal(cli *c, int argc, char **argv) {
  static const char *usage =
      "usage: suanli seal --to PUBLIC_KEY_HEX [--in FILE]\n"
      "  Providers: seals the access details (FILE or standard input, at most 16000 bytes) to\n"
      "  a tenant's X25519 public key and prints the sealed box in base64, as a webhook\n"
      "  receiver returns it in \"access_sealed\".\n";
  const char *pos[1], *to = NULL, *in = NULL;
  int np;
  bool help = false;
  const opt o[] = {
      {"--help", NULL, &help}, {"--to", &to, NULL}, {"--in", &in, NULL}, {NULL, NULL, NULL}};
  if (!cli_opts(c, argc, argv, o, pos, 0, &np, usage)) return EX_USAGE;
  if (help) return fputs(usage, stdout), EX_OK;
  uint8_t pk[crypto_box_PUBLICKEYBYTES];
  size_t n = 0;
  if (!to || sodium_hex2bin(pk, sizeof pk, to, strlen(to), NULL, &n, NULL) != 0 || n != sizeof pk)
    return cli_usage_error(usage, "--to needs a public key of 64 hex digits");
  FILE *f = in ? fopen(in, "rb") : stdin;
  if (!f) return fprintf(stderr, "suanli: cannot read %s: %s\n", in, strerror(errno)), EX_USAGE;
  uint8_t *msg = malloc(SEALED_MAX), *box = malloc(SEALED_MAX + crypto_box_SEALBYTES);
  size_t m = msg ? fread(msg, 1, SEALED_MAX, f) : 0;
  if (in) fclose(f);
  int rc = EX_OK;
  if (!msg || !box) {
    rc = EX_USAGE;
  } else if (m == 0 || m > SEALED_MAX - crypto_box_SEALBYTES) {
    rc = cli_usage_error(usage, "the details must be 1 to %d bytes",
                         SEALED_MAX - crypto_box_SEALBYTES);
  } else {
    crypto_box_seal(box, msg, m, pk);
    size_t blen = m + crypto_box_SEALBYTES;
    size_t olen = sodium_base64_ENCODED_LEN(blen, sodium_base64_VARIANT_ORIGINAL);
    char *out = malloc(olen);
    if (out) {
      sodium_bin2base64(out, olen, box, blen, sodium_base64_VARIANT_ORIGINAL);
      printf("%s\n", out);
    }
    free(out);
    sodium_memzero(msg, m);
  }
  free(msg);
  free(box);
  return rc;
}
