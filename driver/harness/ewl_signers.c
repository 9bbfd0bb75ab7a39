/* The signer facts of each PE file named on the command line, as the driver
 * gets them: one pass of the core over the file (ewl_pe_digest_planned)
 * whose plan reads the certificate table and asks for the Authenticode
 * digests its signatures need, then ewl_table_verify with OpenSSL behind
 * the callbacks. One JSON object a line, in the form of
 * exewhitelist.blob.signerjson (signers only), plus "statuses": each
 * signature's status name in signatures' order:
 *
 *   ewl_signers FILE...
 *
 * Used by tests/test_core_table.py; built with ASan and UBSan. */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ewl_table.h"
#include "harness.h"
#include "sig_crypto.h"

static const char *const tbs_names[] = {NULL, "sha1", "sha256", "sha384", "sha512"};

typedef struct memory {
    const uint8_t *data;
    size_t len;
} memory_t;

typedef struct md {
    EVP_MD_CTX *ctx;
    const EVP_MD *type;
    uint8_t *out;
} md_t;

/* The plan's state: the table read, the digests it needs (hasher
 * EWL_HASH_x - 1 computes algorithm x). */
typedef struct plan {
    memory_t *file;
    uint8_t *table;
    size_t table_len;
    unsigned algs; /* bit EWL_HASH_x: the digests the signatures need */
    ewl_table_work_t *work;
} plan_t;

static int memory_read(void *ctx, uint64_t offset, uint8_t *buf, size_t len, size_t *got)
{
    memory_t *m = ctx;
    size_t n = offset < m->len ? (m->len - (size_t)offset < len ? m->len - (size_t)offset : len)
                               : 0;
    if (n > 0) {
        memcpy(buf, m->data + offset, n);
    }
    *got = n;
    return 0;
}

static int md_init(void *ctx)
{
    md_t *md = ctx;
    return EVP_DigestInit_ex(md->ctx, md->type, NULL) == 1 ? 0 : -1;
}

static int md_update(void *ctx, const uint8_t *data, size_t len)
{
    md_t *md = ctx;
    return EVP_DigestUpdate(md->ctx, data, len) == 1 ? 0 : -1;
}

static int md_final(void *ctx)
{
    md_t *md = ctx;
    return EVP_DigestFinal_ex(md->ctx, md->out, NULL) == 1 ? 0 : -1;
}

static int plan_signers(void *ctx, const ewl_pe_result_t *classified, uint8_t *enabled)
{
    plan_t *p = ctx;
    int alg;
    p->table_len = classified->is_signed ? classified->certificate_table_size : 0;
    if (p->table_len > 0 && p->table_len <= EWL_TABLE_MAX_BYTES) {
        p->table = malloc(p->table_len);
        if (p->table == NULL ||
            ewl_pe_read_exact(memory_read, p->file, classified->certificate_table_offset,
                              p->table, p->table_len) != EWL_PE_OK) {
            return 1;
        }
        p->algs = ewl_table_algorithms(p->table, p->table_len, p->work);
    }
    for (alg = EWL_HASH_SHA1; alg < EWL_HASH_COUNT; alg++) {
        enabled[alg - 1] = (uint8_t)((p->algs >> alg) & 1u);
    }
    return 0;
}

static void print_units(const uint16_t *u, size_t n)
{
    size_t i;
    putchar('"');
    for (i = 0; i < n; i++) {
        if (u[i] >= 0x20 && u[i] < 0x7f && u[i] != '"' && u[i] != '\\') {
            putchar(u[i]);
        } else {
            printf("\\u%04x", u[i]);
        }
    }
    putchar('"');
}

static int signers_of(const char *path, ewl_table_work_t *work)
{
    memory_t file;
    plan_t plan;
    md_t mds[EWL_HASH_COUNT - 1];
    ewl_hasher_t hashers[EWL_HASH_COUNT - 1];
    ewl_sig_image_t image;
    ewl_sig_crypto_t crypto;
    ewl_signer_facts_t facts;
    ewl_pe_result_t r;
    uint8_t *scratch = malloc(EWL_PE_SCRATCH_MIN);
    ewl_pe_status_t status;
    size_t i, j, k;
    int alg;
    file.data = ewlh_read_file(path, &file.len, "ewl_signers");
    memset(&plan, 0, sizeof plan);
    memset(&image, 0, sizeof image);
    memset(&facts, 0, sizeof facts);
    plan.file = &file;
    plan.work = work;
    for (alg = EWL_HASH_SHA1; alg < EWL_HASH_COUNT; alg++) {
        k = (size_t)alg - 1;
        mds[k].ctx = EVP_MD_CTX_new();
        mds[k].type = alg == EWL_HASH_SHA1     ? EVP_sha1()
                      : alg == EWL_HASH_SHA256 ? EVP_sha256()
                      : alg == EWL_HASH_SHA384 ? EVP_sha384()
                                               : EVP_sha512();
        mds[k].out = image.digest[alg];
        hashers[k].role = EWL_DIGEST_AUTHENTICODE;
        hashers[k].ctx = &mds[k];
        hashers[k].init = md_init;
        hashers[k].update = md_update;
        hashers[k].final = md_final;
    }
    status = scratch == NULL ? EWL_PE_BAD_ARGUMENT
                             : ewl_pe_digest_planned(memory_read, &file, file.len, hashers,
                                                     EWL_HASH_COUNT - 1, plan_signers, &plan,
                                                     scratch, EWL_PE_SCRATCH_MIN, &r);
    if (status == EWL_PE_OK && r.kind == EWL_FILE_PE && plan.table_len > 0) {
        /* The pass digested what the plan asked for. */
        for (alg = EWL_HASH_SHA1; alg < EWL_HASH_COUNT; alg++) {
            image.present[alg] = (uint8_t)((plan.algs >> alg) & 1u);
        }
        ewlh_sig_openssl(&crypto);
        (void)ewl_table_verify(plan.table, plan.table_len, &image, &crypto, work, &facts);
    } else {
        work->count = 0;
    }
    printf("{\"status\": %d, \"signers\": [", (int)status);
    for (i = 0; i < facts.signer_count; i++) {
        const ewl_signer_t *s = &facts.signers[i];
        printf("%s{\"chain\": [", i ? ", " : "");
        for (j = 0; j < s->chain_len; j++) {
            printf("%s\"%s:", j ? ", " : "", tbs_names[s->chain[j].algorithm]);
            for (k = 0; k < ewl_hash_size(s->chain[j].algorithm); k++) {
                printf("%02x", s->chain[j].digest[k]);
            }
            putchar('"');
        }
        putchar(']');
        if (s->common_name != NULL) {
            printf(", \"common_name\": ");
            print_units(s->common_name, s->common_name_len);
        }
        putchar('}');
    }
    printf("], \"statuses\": [");
    for (i = 0; i < work->count; i++) {
        printf("%s\"%s\"", i ? ", " : "", ewl_sig_status_name(work->results[i].status));
    }
    printf("]}\n");
    for (k = 0; k < EWL_HASH_COUNT - 1; k++) {
        EVP_MD_CTX_free(mds[k].ctx);
    }
    free(plan.table);
    free(scratch);
    free((void *)(uintptr_t)file.data);
    return status == EWL_PE_OK ? 0 : 1;
}

int main(int argc, char **argv)
{
    static ewl_table_work_t work;
    int i, failed = 0;
    for (i = 1; i < argc; i++) {
        failed |= signers_of(argv[i], &work);
    }
    return failed;
}
