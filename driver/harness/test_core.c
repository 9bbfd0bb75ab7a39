/* The golden blob vectors through the core, built with ASan and UBSan.
 *
 * Reads a line-based rendering of tests/vectors/blob/manifest.json that
 * tests/test_core_vectors.py writes (JSON needs no parser in C that way):
 *
 *   var <id> <folded value: 4 hex digits per code unit>
 *   invalid <file> <code>
 *   valid <file>
 *   query <authenticode hex|-> <file hex|-> <folded path units hex|-|=> <allow|deny>
 *         <rule id as UTF-8 hex|-> <enforced 0|1>
 *
 * ("=" is the empty path.) A query applies to the last valid file. Signer
 * facts for the next query (blob 1.1), before it:
 *
 *   facts                                   signer facts known (no signer yet)
 *   signer <common name units hex|-> <algorithm code>:<TBS hex>,...|-
 *   attribute <1-4> <folded value units hex|=>
 *   version <a.b.c.d packed, decimal>
 *
 * Prints one line per failure and "test_core: N passed, M failed"; exits 1
 * on any failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define MAX_LINE 65536
#define MAX_VALUES 64

static int hex_nibble(char c)
{
    int v = -1;
    if (c >= '0' && c <= '9') {
        v = c - '0';
    } else if (c >= 'a' && c <= 'f') {
        v = c - 'a' + 10;
    }
    return v;
}

/* Decode hex into bytes; returns the byte count, or -1. */
static long unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = strlen(hex), i;
    if (n % 2 != 0 || n / 2 > cap) {
        return -1;
    }
    for (i = 0; i < n / 2; i++) {
        int hi = hex_nibble(hex[2 * i]), lo = hex_nibble(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return -1;
        }
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return (long)(n / 2);
}

/* Decode 4 hex digits per unit (big-endian digits, as Python's f"{u:04x}"). */
static long unhex_units(const char *hex, uint16_t *out, size_t cap)
{
    size_t n = strlen(hex), i;
    if (n % 4 != 0 || n / 4 > cap) {
        return -1;
    }
    for (i = 0; i < n / 4; i++) {
        unsigned v = 0;
        size_t k;
        for (k = 0; k < 4; k++) {
            int d = hex_nibble(hex[4 * i + k]);
            if (d < 0) {
                return -1;
            }
            v = v << 4 | (unsigned)d;
        }
        out[i] = (uint16_t)v;
    }
    return (long)(n / 4);
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *data = NULL;
    long size;
    if (f == NULL) {
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        /* Exactly the file's size, so that ASan sees any read past its end. */
        data = malloc(size > 0 ? (size_t)size : 1);
        if (data != NULL && fread(data, 1, (size_t)size, f) != (size_t)size) {
            free(data);
            data = NULL;
        }
        *len = (size_t)size;
    }
    fclose(f);
    return data;
}

/* ewl_pe_digest's failure paths, which no file on disk reaches. */
typedef struct api_file {
    const uint8_t *data;
    size_t len;
    int fail_read;
} api_file_t;

static int api_read(void *ctx, uint64_t offset, uint8_t *buf, size_t len, size_t *got)
{
    const api_file_t *f = ctx;
    size_t n = offset < f->len ? f->len - (size_t)offset : 0;
    n = n < len ? n : len;
    memcpy(buf, f->data + (offset < f->len ? offset : 0), n);
    *got = n;
    return f->fail_read;
}

static int api_ok(void *ctx)
{
    (void)ctx;
    return 0;
}

static int api_update(void *ctx, const uint8_t *data, size_t len)
{
    (void)data;
    (void)len;
    return *(const int *)ctx;
}

static int api_status(const api_file_t *f, uint64_t size, int role, int fail_hash,
                      size_t scratch_len)
{
    ewl_hasher_t h;
    ewl_pe_result_t r;
    uint8_t *scratch = malloc(scratch_len);
    int status;
    h.role = role;
    h.ctx = &fail_hash;
    h.init = api_ok;
    h.update = api_update;
    h.final = api_ok;
    status = ewl_pe_digest(api_read, (void *)(uintptr_t)f, size, &h, 1, scratch, scratch_len, &r);
    free(scratch);
    return status;
}

static void api_checks(unsigned *passed, unsigned *failed)
{
    static const uint8_t text[100] = "not a PE, only flat-hashed";
    const api_file_t ok = {text, sizeof text, 0}, broken = {text, sizeof text, 1};
    const size_t min = EWL_PE_SCRATCH_MIN;
    const struct {
        const char *what;
        int got, want;
    } checks[] = {
        {"ok", api_status(&ok, sizeof text, EWL_DIGEST_FLAT, 0, min), EWL_PE_OK},
        {"scratch too small", api_status(&ok, sizeof text, EWL_DIGEST_FLAT, 0, min - 1),
         EWL_PE_BAD_ARGUMENT},
        {"unknown role", api_status(&ok, sizeof text, 0, 0, min), EWL_PE_BAD_ARGUMENT},
        {"unknown role", api_status(&ok, sizeof text, 5, 0, min), EWL_PE_BAD_ARGUMENT},
        {"read fails", api_status(&broken, sizeof text, EWL_DIGEST_FLAT, 0, min),
         EWL_PE_READ_FAILED},
        {"hash fails", api_status(&ok, sizeof text, EWL_DIGEST_FLAT, 1, min),
         EWL_PE_HASH_FAILED},
        {"file shrank", api_status(&ok, sizeof text + 1, EWL_DIGEST_FLAT, 0, min),
         EWL_PE_FILE_CHANGED},
        {"file grew", api_status(&ok, sizeof text - 1, EWL_DIGEST_FLAT, 0, min),
         EWL_PE_FILE_CHANGED},
        /* A role that does not apply to a non-PE is neither fed nor finalised. */
        {"not applicable", api_status(&ok, sizeof text, EWL_DIGEST_AUTHENTICODE, 1, min),
         EWL_PE_OK},
    };
    size_t k;
    for (k = 0; k < sizeof checks / sizeof checks[0]; k++) {
        if (checks[k].got == checks[k].want) {
            (*passed)++;
        } else {
            (*failed)++;
            printf("FAIL api %s: status %d, expected %d\n", checks[k].what, checks[k].got,
                   checks[k].want);
        }
    }
}

int main(int argc, char **argv)
{
    static char line[MAX_LINE];
    static uint16_t units[MAX_VALUES][1024];
    static uint16_t path[MAX_LINE / 4];
    ewl_u16str_t values[MAX_VALUES];
    size_t counts[EWL_VARIABLE_COUNT] = {0, 0, 0, 0};
    size_t n_values = 0, blob_len = 0;
    uint8_t *blob = NULL;
    static char blob_name[MAX_LINE / 2];
    static ewl_signer_facts_t facts;
    static uint8_t tbs[EWL_MAX_SIGNERS][EWL_MAX_CHAIN][64];
    static uint16_t names[EWL_MAX_SIGNERS][1024];
    static uint16_t attribute_units[EWL_ATTRIBUTE_COUNT][1024];
    int have_facts = 0;
    unsigned passed = 0, failed = 0, lineno = 0;
    FILE *f;
    if (argc != 2 || (f = fopen(argv[1], "r")) == NULL) {
        fprintf(stderr, "usage: test_core VECTORS.txt\n");
        return 2;
    }
    api_checks(&passed, &failed);
    while (fgets(line, sizeof line, f) != NULL) {
        char a[MAX_LINE / 2], b[256], c[256], d[MAX_LINE / 2], e[16], g[1024], h[8];
        lineno++;
        line[strcspn(line, "\n")] = '\0';
        if (sscanf(line, "var %255s %32767s", b, a) == 2) {
            unsigned id = (unsigned)atoi(b);
            long n = unhex_units(a, units[n_values], 1024);
            /* Values arrive grouped by id, in id order (as ewlh_decide takes them). */
            if (id < 1 || id > EWL_VARIABLE_COUNT || n < 0 || n_values == MAX_VALUES) {
                fprintf(stderr, "line %u: bad var\n", lineno);
                return 2;
            }
            values[n_values].units = units[n_values];
            values[n_values].len = (size_t)n;
            n_values++;
            counts[id - 1]++;
        } else if (sscanf(line, "invalid %4095s %255s", a, b) == 2) {
            size_t len = 0;
            uint8_t *data = read_file(a, &len);
            int code;
            if (data == NULL) {
                fprintf(stderr, "line %u: cannot read %s\n", lineno, a);
                return 2;
            }
            code = ewlh_validate(data, len);
            if (code == atoi(b)) {
                passed++;
            } else {
                failed++;
                printf("FAIL %s: code %d, expected %s\n", a, code, b);
            }
            free(data);
        } else if (sscanf(line, "valid %4095s", a) == 1) {
            free(blob);
            blob = read_file(a, &blob_len);
            snprintf(blob_name, sizeof blob_name, "%s", a);
            if (blob == NULL) {
                fprintf(stderr, "line %u: cannot read %s\n", lineno, a);
                return 2;
            }
            if (ewlh_validate(blob, blob_len) == EWL_STATUS_OK) {
                passed++;
            } else {
                failed++;
                printf("FAIL %s: code %d, expected 0\n", a, ewlh_validate(blob, blob_len));
            }
        } else if (strcmp(line, "facts") == 0) {
            memset(&facts, 0, sizeof facts);
            have_facts = 1;
        } else if (sscanf(line, "signer %4095s %16383s", a, d) == 2 && have_facts &&
                   facts.signer_count < EWL_MAX_SIGNERS) {
            ewl_signer_t *signer = &facts.signers[facts.signer_count];
            char *cert = d, *next;
            long n = 0;
            if (strcmp(a, "-") != 0) {
                n = unhex_units(a, names[facts.signer_count], 1024);
                signer->common_name = names[facts.signer_count];
                signer->common_name_len = (size_t)(n < 0 ? 0 : n);
            }
            while (n >= 0 && strcmp(d, "-") != 0 && cert != NULL &&
                   signer->chain_len < EWL_MAX_CHAIN) {
                uint8_t *digest = tbs[facts.signer_count][signer->chain_len];
                next = strchr(cert, ',');
                if (next != NULL) {
                    *next++ = '\0';
                }
                signer->chain[signer->chain_len].algorithm = atoi(cert);
                signer->chain[signer->chain_len].digest = digest;
                n = strchr(cert, ':') == NULL ? -1 : unhex(strchr(cert, ':') + 1, digest, 64);
                signer->chain_len++;
                cert = next;
            }
            if (n < 0) {
                fprintf(stderr, "line %u: bad signer\n", lineno);
                return 2;
            }
            facts.signer_count++;
        } else if (sscanf(line, "attribute %15s %4095s", e, a) == 2 && have_facts) {
            int code = atoi(e);
            long n = 0;
            if (code < 1 || code > EWL_ATTRIBUTE_COUNT ||
                (strcmp(a, "=") != 0 &&
                 (n = unhex_units(a, attribute_units[code - 1], 1024)) < 0)) {
                fprintf(stderr, "line %u: bad attribute\n", lineno);
                return 2;
            }
            facts.attributes[code - 1].units = attribute_units[code - 1];
            facts.attributes[code - 1].len = (size_t)n;
        } else if (sscanf(line, "version %255s", b) == 1 && have_facts) {
            facts.has_version = 1;
            facts.version = strtoull(b, NULL, 10);
        } else if (sscanf(line, "query %255s %255s %16383s %15s %1023s %7s", b, c, d, e, g, h) == 6 &&
                   blob != NULL) {
            uint8_t auth[32], flat[32], id[512];
            long path_len = 0, id_len = 0;
            ewlh_decision_t out;
            const char *want_action = e;
            int ok;
            if ((strcmp(b, "-") != 0 && unhex(b, auth, 32) != 32) ||
                (strcmp(c, "-") != 0 && unhex(c, flat, 32) != 32) ||
                (strcmp(d, "-") != 0 && strcmp(d, "=") != 0 &&
                 (path_len = unhex_units(d, path, sizeof path / 2)) < 0) ||
                (strcmp(g, "-") != 0 && (id_len = unhex(g, id, sizeof id)) < 0)) {
                fprintf(stderr, "line %u: bad query\n", lineno);
                return 2;
            }
            ewlh_decide_signers(blob, blob_len, strcmp(b, "-") ? auth : NULL,
                                strcmp(c, "-") ? flat : NULL, strcmp(d, "-") ? path : NULL,
                                (size_t)path_len, have_facts ? &facts : NULL, values, counts,
                                &out);
            have_facts = 0;
            ok = out.status == EWL_STATUS_OK &&
                 out.action == (strcmp(want_action, "allow") == 0 ? EWL_ACTION_ALLOW
                                                                  : EWL_ACTION_DENY) &&
                 out.enforced == atoi(h) && out.id_len == (uint32_t)id_len &&
                 memcmp(out.id, id, (size_t)id_len) == 0 &&
                 (strcmp(g, "-") == 0) == (out.decided == EWL_DECIDED_DEFAULT_DENY);
            if (ok) {
                passed++;
            } else {
                failed++;
                printf("FAIL %s line %u: action %d decided %d index %u id %.*s enforced %d\n",
                       blob_name, lineno, out.action, out.decided, out.index, (int)out.id_len,
                       (const char *)out.id, out.enforced);
            }
        } else if (line[0] != '\0') {
            fprintf(stderr, "line %u: cannot parse\n", lineno);
            return 2;
        }
    }
    fclose(f);
    free(blob);
    printf("test_core: %u passed, %u failed\n", passed, failed);
    return failed == 0 && passed > 0 ? 0 : 1;
}
