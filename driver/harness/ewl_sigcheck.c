/* Every signature of WIN_CERTIFICATE entries, verified by the core with
 * OpenSSL behind its callbacks, one JSON object a line:
 *
 *   ewl_sigcheck [--image ALG:HEX]... ENTRY_FILE...
 *
 * ALG is sha1, sha256, sha384 or sha512: the file's Authenticode digest in it
 * (ewl_sig_image_t). Each ENTRY_FILE holds one entry, its 8-byte header first.
 * Output per signature: entry (argument index), nesting, status (name),
 * digest_alg, digest (hex), digest_matches (-1, 0, 1), chain ([offset,
 * length] of each certificate in the entry), tbs ([alg, hex] or null each),
 * cn_tag and cn (hex of the content octets; tag 0: no CN). Used by
 * tests/test_core_signature.py; built with ASan and UBSan. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "sig_crypto.h"

static const char *const hash_names[EWL_HASH_COUNT] = {NULL, "sha1", "sha256", "sha384", "sha512"};

static void hex(const uint8_t *p, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        printf("%02x", p[i]);
    }
}

static int parse_image(const char *arg, ewl_sig_image_t *image)
{
    const char *colon = strchr(arg, ':');
    int alg;
    size_t i, n;
    for (alg = 1; alg < EWL_HASH_COUNT; alg++) {
        if (colon != NULL && (size_t)(colon - arg) == strlen(hash_names[alg]) &&
            strncmp(arg, hash_names[alg], strlen(hash_names[alg])) == 0) {
            break;
        }
    }
    if (alg == EWL_HASH_COUNT) {
        return -1;
    }
    n = ewl_hash_size(alg);
    if (strlen(colon + 1) != 2 * n) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(colon + 1 + 2 * i, "%2x", &v) != 1) {
            return -1;
        }
        image->digest[alg][i] = (uint8_t)v;
    }
    image->present[alg] = 1;
    return 0;
}

int main(int argc, char **argv)
{
    static ewl_sig_workspace_t work;
    static ewl_sig_result_t results[EWL_SIG_MAX_SIGNATURES];
    ewl_sig_image_t image;
    ewl_sig_crypto_t crypto;
    int i, entry = 0;
    memset(&image, 0, sizeof image);
    ewlh_sig_openssl(&crypto);
    for (i = 1; i < argc; i++) {
        size_t len, count = 0, k;
        uint8_t *data;
        if (strcmp(argv[i], "--image") == 0) {
            if (i + 1 >= argc || parse_image(argv[i + 1], &image) != 0) {
                fprintf(stderr, "ewl_sigcheck: bad --image\n");
                return 2;
            }
            i++;
            continue;
        }
        data = ewlh_read_file(argv[i], &len, "ewl_sigcheck");
        if (ewl_sig_verify_entry(data, len, &image, &crypto, &work, results,
                                 EWL_SIG_MAX_SIGNATURES, &count) != 0) {
            fprintf(stderr, "ewl_sigcheck: bad arguments\n");
            return 2;
        }
        for (k = 0; k < count; k++) {
            const ewl_sig_result_t *r = &results[k];
            uint32_t j;
            printf("{\"entry\": %d, \"nesting\": %u, \"status\": \"%s\", \"digest_alg\": %d, "
                   "\"digest\": \"",
                   entry, r->nesting, ewl_sig_status_name(r->status), r->digest_alg);
            hex(data + r->digest.off, r->digest.len);
            printf("\", \"digest_matches\": %d, \"chain\": [", r->digest_matches);
            for (j = 0; j < r->chain_len; j++) {
                printf("%s[%zu, %zu]", j ? ", " : "", r->chain[j].off, r->chain[j].len);
            }
            printf("], \"tbs\": [");
            for (j = 0; j < r->chain_len; j++) {
                printf("%s", j ? ", " : "");
                if (r->tbs_alg[j] == EWL_HASH_NONE) {
                    printf("null");
                } else {
                    printf("[\"%s\", \"", hash_names[r->tbs_alg[j]]);
                    hex(r->tbs_hash[j], ewl_hash_size(r->tbs_alg[j]));
                    printf("\"]");
                }
            }
            printf("], \"cn_tag\": %u, \"cn\": \"", r->cn_tag);
            hex(data + r->cn.off, r->cn.len);
            printf("\"}\n");
        }
        free(data);
        entry++;
    }
    return 0;
}
