/* libFuzzer target: the input as one WIN_CERTIFICATE entry for
 * ewl_sig_verify_entry, with deterministic stub crypto (sig_crypto.h): every
 * range the core hashes or verifies is read, both verify outcomes occur.
 *
 * The input is used twice: as is (a whole entry, header included), and
 * behind a header made right for it (dwLength = size + 8, revision 0x0200,
 * type 2), so that mutations reach the DER. Invariants (abort() on
 * violation): results within bounds, views inside the entry, statuses and
 * algorithms in range, a valid signature has a chain and a matching digest
 * when one was given, nesting grows by at most one a step.
 *
 * The framed entry is also read as a whole certificate table
 * (ewl_table.h): the algorithms it asks for are known ones, and the signer
 * facts stay within their bounds, each signer's chain made of pinnable TBS
 * hashes and its common name inside the work's own buffers. */
#include <stdlib.h>
#include <string.h>

#include "ewl_table.h"
#include "harness.h"
#include "sig_crypto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int condition)
{
    if (!condition) {
        abort();
    }
}

static int inside(ewl_der_view_t v, size_t len)
{
    return v.off <= len && v.len <= len - v.off;
}

static void run(const uint8_t *entry, size_t len, const ewl_sig_image_t *image)
{
    static ewl_sig_workspace_t work;
    static ewl_sig_result_t results[EWL_SIG_MAX_SIGNATURES];
    ewl_sig_crypto_t crypto;
    size_t count = 99, k;
    ewlh_sig_stub(&crypto);
    check(ewl_sig_verify_entry(entry, len, image, &crypto, &work, results,
                               EWL_SIG_MAX_SIGNATURES, &count) == 0);
    check(count >= 1 && count <= EWL_SIG_MAX_SIGNATURES);
    check(results[0].nesting == 0);
    for (k = 0; k < count; k++) {
        const ewl_sig_result_t *r = &results[k];
        uint32_t j;
        check(r->status >= 0 && r->status < EWL_SIG_STATUS_COUNT);
        check(r->nesting <= EWL_SIG_MAX_NESTING);
        check(k == 0 || r->nesting <= results[k - 1].nesting + 1);
        check(r->digest_alg >= 0 && r->digest_alg < EWL_HASH_COUNT);
        check(inside(r->digest, len) && inside(r->cn, len));
        check(r->chain_len <= EWL_SIG_MAX_CHAIN);
        check(r->digest_matches >= -1 && r->digest_matches <= 1);
        for (j = 0; j < r->chain_len; j++) {
            check(inside(r->chain[j], len) && r->chain[j].len > 0);
            check(r->tbs_alg[j] >= 0 && r->tbs_alg[j] < EWL_HASH_COUNT);
        }
        if (r->status == EWL_SIG_VALID) {
            check(r->chain_len >= 1 && r->digest_alg != EWL_HASH_NONE);
            check(r->digest.len == ewl_hash_size(r->digest_alg) || r->digest_matches != 1);
            check(r->digest_matches != 0);
        }
        if (r->status == EWL_SIG_MALFORMED) {
            check(r->chain_len == 0);
        }
    }
}

static void run_table(const uint8_t *table, size_t len, const ewl_sig_image_t *image)
{
    static ewl_table_work_t work;
    ewl_signer_facts_t facts;
    ewl_sig_crypto_t crypto;
    unsigned algorithms;
    size_t valid, k;
    uint32_t j;
    ewlh_sig_stub(&crypto);
    algorithms = ewl_table_algorithms(table, len, &work);
    check((algorithms & ~0x1eu) == 0); /* SHA-1 to SHA-512 only */
    valid = ewl_table_verify(table, len, image, &crypto, &work, &facts);
    check(work.count <= EWL_SIG_MAX_SIGNATURES);
    check(facts.signer_count <= EWL_MAX_SIGNERS && facts.signer_count <= valid);
    check(valid <= work.count);
    for (k = 0; k < work.count; k++) {
        check(work.entry_at[k] < len);
    }
    for (k = 0; k < facts.signer_count; k++) {
        const ewl_signer_t *signer = &facts.signers[k];
        check(signer->chain_len <= EWL_MAX_CHAIN);
        for (j = 0; j < signer->chain_len; j++) {
            check(signer->chain[j].algorithm >= EWL_TBS_SHA1 &&
                  signer->chain[j].algorithm <= EWL_TBS_SHA512);
        }
        check(signer->common_name == NULL || signer->common_name == work.names[k]);
        check(signer->common_name_len <= EWL_TABLE_CN_MAX_UNITS);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t *framed;
    ewl_sig_image_t image;
    size_t len = size > EWL_SIG_MAX_ENTRY ? EWL_SIG_MAX_ENTRY : size;
    if (framed == NULL) {
        framed = malloc(EWL_SIG_MAX_ENTRY + 8);
        check(framed != NULL);
    }
    memset(&image, 0, sizeof image);
    run(data, size, NULL);
    /* A header made right; image digests (all zero) given for SHA-1 and
     * SHA-256, so that the digest comparison runs and mismatches. */
    framed[0] = (uint8_t)(len + 8);
    framed[1] = (uint8_t)((len + 8) >> 8);
    framed[2] = (uint8_t)((len + 8) >> 16);
    framed[3] = (uint8_t)((len + 8) >> 24);
    framed[4] = 0x00;
    framed[5] = 0x02;
    framed[6] = 0x02;
    framed[7] = 0x00;
    memcpy(framed + 8, data, len);
    image.present[EWL_HASH_SHA256] = 1;
    image.present[EWL_HASH_SHA1] = 1;
    run(framed, len + 8, &image);
    run_table(framed, len + 8, &image);
    run_table(data, size, &image);
    return 0;
}
