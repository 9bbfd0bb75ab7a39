/* Host glue: see harness.h. */
#include "harness.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

uint8_t *ewlh_read_file(const char *path, size_t *len, const char *tool)
{
    FILE *f = fopen(path, "rb");
    uint8_t *data = NULL;
    long size;
    if (f != NULL && fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 &&
        fseek(f, 0, SEEK_SET) == 0) {
        data = malloc(size > 0 ? (size_t)size : 1);
        if (data != NULL && fread(data, 1, (size_t)size, f) != (size_t)size) {
            free(data);
            data = NULL;
        }
        *len = (size_t)size;
    }
    if (f != NULL) {
        fclose(f);
    }
    if (data == NULL) {
        fprintf(stderr, "%s: cannot read %s\n", tool, path);
        exit(2);
    }
    return data;
}

int ewlh_validate(const uint8_t *buf, size_t len)
{
    ewl_blob_t blob;
    return ewl_blob_validate(buf, len, &blob);
}

/* Whether two decisions are the same (the digest pointer included). */
static int ewlh_same(const ewl_decision_t *a, const ewl_decision_t *b)
{
    return a->action == b->action && a->decided == b->decided && a->index == b->index &&
           a->rule_id == b->rule_id && a->rule_id_len == b->rule_id_len &&
           a->default_id == b->default_id && a->digest == b->digest && a->enforced == b->enforced;
}

/* ewl_decide on `blob` with every non-empty hash section indexed with
 * `bits` bits (negative: ewl_hash_index_bits's choice), into *d. Returns 0,
 * or -1 when memory ran out. */
static int ewlh_decide_indexed(const ewl_blob_t *plain, int bits, const ewl_query_t *query,
                               const ewl_vars_t *vars, ewl_decision_t *d)
{
    ewl_blob_t blob = *plain;
    uint32_t *memory[EWL_HASH_SECTIONS] = {NULL, NULL, NULL, NULL};
    uint32_t k;
    int failed = 0;
    for (k = 0; k < EWL_HASH_SECTIONS && !failed; k++) {
        uint32_t section = EWL_HASH_SECTION_FIRST + k;
        uint32_t count = blob.sections[section].count;
        unsigned b = bits < 0 ? ewl_hash_index_bits(count) : (unsigned)bits;
        if (count > 0) {
            memory[k] = malloc(ewl_hash_index_entries(b) * sizeof(uint32_t));
            failed = memory[k] == NULL;
            if (!failed) {
                ewl_hash_index_build(&blob, section, b, memory[k]);
            }
        }
    }
    if (!failed) {
        ewl_decide(&blob, query, vars, d);
    }
    for (k = 0; k < EWL_HASH_SECTIONS; k++) {
        free(memory[k]);
    }
    return failed ? -1 : 0;
}

/* vars over values: counts[k] of them for variable id k + 1, in id order. */
static void ewlh_vars(const ewl_u16str_t *values, const size_t *counts, ewl_vars_t *vars)
{
    size_t k, used = 0;
    for (k = 0; k < EWL_VARIABLE_COUNT; k++) {
        vars->values[k] = values + used;
        vars->count[k] = counts[k];
        used += counts[k];
    }
}

/* A core decision in the harness's terms (the default id formatted). */
static void ewlh_copy_decision(const ewl_decision_t *d, ewlh_decision_t *out)
{
    out->action = d->action;
    out->decided = d->decided;
    out->enforced = d->enforced;
    out->default_id = d->default_id;
    out->index = d->index;
    out->id_len = 0;
    if (d->default_id) {
        out->id_len = (uint32_t)ewl_default_rule_id(d, (char *)out->id, sizeof out->id);
    } else if (d->rule_id != NULL) {
        out->id_len = (uint32_t)d->rule_id_len;
        memcpy(out->id, d->rule_id, d->rule_id_len);
    }
}

int ewlh_decide_staged(const uint8_t *buf, size_t len, int path_state, const uint16_t *path,
                       size_t path_len, int hash_state, const uint8_t *authenticode,
                       const uint8_t *file, const ewl_u16str_t *values, const size_t *counts,
                       ewlh_verdict_t *out)
{
    return ewlh_decide_staged_signers(buf, len, path_state, path, path_len, hash_state,
                                      authenticode, file, EWL_FACT_UNKNOWN, NULL, values, counts,
                                      out);
}

int ewlh_needs_signers(const uint8_t *buf, size_t len)
{
    ewl_blob_t blob;
    return ewl_blob_validate(buf, len, &blob) == EWL_STATUS_OK ? ewl_blob_needs_signers(&blob)
                                                               : -1;
}

int ewlh_decide_staged_signers(const uint8_t *buf, size_t len, int path_state,
                               const uint16_t *path, size_t path_len, int hash_state,
                               const uint8_t *authenticode, const uint8_t *file, int signer_state,
                               const ewl_signer_facts_t *signers, const ewl_u16str_t *values,
                               const size_t *counts, ewlh_verdict_t *out)
{
    ewl_blob_t blob;
    ewl_vars_t vars;
    ewl_facts_t facts;
    ewl_verdict_t v;
    memset(out, 0, sizeof *out);
    out->decision.status = ewl_blob_validate(buf, len, &blob);
    if (out->decision.status != EWL_STATUS_OK) {
        return out->decision.status;
    }
    ewlh_vars(values, counts, &vars);
    facts.path_state = path_state;
    facts.path = path;
    facts.path_len = path_len;
    facts.hash_state = hash_state;
    facts.authenticode_sha256 = authenticode;
    facts.file_sha256 = file;
    facts.signer_state = signer_state;
    facts.signers = signers;
    ewl_decide_staged(&blob, &facts, &vars, &v);
    out->next = v.next;
    if (v.next == EWL_NEXT_NONE) {
        out->depends = (int32_t)v.depends;
        out->reason = v.reason;
        ewlh_copy_decision(&v.decision, &out->decision);
    }
    return out->decision.status;
}

int ewlh_decide(const uint8_t *buf, size_t len, const uint8_t *authenticode, const uint8_t *file,
                const uint16_t *path, size_t path_len, const ewl_u16str_t *values,
                const size_t *counts, ewlh_decision_t *out)
{
    return ewlh_decide_signers(buf, len, authenticode, file, path, path_len, NULL, values, counts,
                               out);
}

int ewlh_decide_signers(const uint8_t *buf, size_t len, const uint8_t *authenticode,
                        const uint8_t *file, const uint16_t *path, size_t path_len,
                        const ewl_signer_facts_t *signers, const ewl_u16str_t *values,
                        const size_t *counts, ewlh_decision_t *out)
{
    /* Besides the plain decision, the same with hash indexes of the size the
     * driver builds, of 3 bits (buckets even in small sections: their
     * boundaries) and of the most bits (mostly empty buckets). */
    static const int index_bits[] = {-1, 3, (int)EWL_HASH_INDEX_MAX_BITS};
    ewl_blob_t blob;
    ewl_query_t query;
    ewl_vars_t vars;
    ewl_decision_t d, indexed;
    size_t k;
    memset(out, 0, sizeof *out);
    out->status = ewl_blob_validate(buf, len, &blob);
    if (out->status != EWL_STATUS_OK) {
        return out->status;
    }
    ewlh_vars(values, counts, &vars);
    query.authenticode_sha256 = authenticode;
    query.file_sha256 = file;
    query.path = path;
    query.path_len = path_len;
    query.signers = signers;
    ewl_decide(&blob, &query, &vars, &d);
    for (k = 0; k < sizeof index_bits / sizeof index_bits[0]; k++) {
        if (ewlh_decide_indexed(&blob, index_bits[k], &query, &vars, &indexed) != 0 ||
            !ewlh_same(&d, &indexed)) {
            out->status = EWLH_INDEX_MISMATCH;
            return out->status;
        }
    }
    ewlh_copy_decision(&d, out);
    return out->status;
}

uint32_t ewlh_crc32(uint32_t crc, const uint8_t *p, size_t n)
{
    return ewl_crc32(crc, p, n);
}

int ewlh_utf8_valid(const uint8_t *p, size_t n)
{
    return ewl_utf8_valid(p, n);
}

const char *ewlh_anomaly_name(unsigned n)
{
    return ewl_anomaly_name(n);
}

/* The defaults of exewhitelist.policy.DEFAULT_VARIABLES (ewl_format.h). */
static const uint16_t windir[] = EWL_DEFAULT_WINDIR_0;
static const uint16_t system32[] = EWL_DEFAULT_SYSTEM32_0;
static const uint16_t program_files[] = EWL_DEFAULT_PROGRAMFILES_0;
static const uint16_t program_files_x86[] = EWL_DEFAULT_PROGRAMFILES_1;
static const uint16_t osdrive[] = EWL_DEFAULT_OSDRIVE_0;

void ewlh_default_variables(const ewl_u16str_t **values, const size_t **counts)
{
    static const ewl_u16str_t defaults[] = {
        {windir, sizeof windir / 2},
        {system32, sizeof system32 / 2},
        {program_files, sizeof program_files / 2},
        {program_files_x86, sizeof program_files_x86 / 2},
        {osdrive, sizeof osdrive / 2},
    };
    static const size_t default_counts[EWL_VARIABLE_COUNT] = {
        EWL_DEFAULT_WINDIR_COUNT, EWL_DEFAULT_SYSTEM32_COUNT, EWL_DEFAULT_PROGRAMFILES_COUNT,
        EWL_DEFAULT_OSDRIVE_COUNT};
    *values = defaults;
    *counts = default_counts;
}

/* One OpenSSL digest behind the core's hasher callbacks. */
typedef struct ewlh_md {
    EVP_MD_CTX *ctx;
    const EVP_MD *type;
    uint8_t *out;
} ewlh_md_t;

static int ewlh_md_init(void *ctx)
{
    ewlh_md_t *md = ctx;
    return EVP_DigestInit_ex(md->ctx, md->type, NULL) == 1 ? 0 : -1;
}

static int ewlh_md_update(void *ctx, const uint8_t *data, size_t len)
{
    ewlh_md_t *md = ctx;
    return EVP_DigestUpdate(md->ctx, data, len) == 1 ? 0 : -1;
}

static int ewlh_md_final(void *ctx)
{
    ewlh_md_t *md = ctx;
    return EVP_DigestFinal_ex(md->ctx, md->out, NULL) == 1 ? 0 : -1;
}

typedef struct ewlh_fd_reader {
    int fd;
} ewlh_fd_reader_t;

static int ewlh_fd_read(void *ctx, uint64_t offset, uint8_t *buf, size_t len, size_t *got)
{
    ewlh_fd_reader_t *r = ctx;
    ssize_t n = pread(r->fd, buf, len, (off_t)offset);
    *got = n > 0 ? (size_t)n : 0;
    return n < 0 ? -1 : 0;
}

typedef struct ewlh_memory_reader {
    const uint8_t *data;
    size_t len;
    size_t piece;
    uint64_t given; /* bytes handed to the core */
} ewlh_memory_reader_t;

static int ewlh_memory_read(void *ctx, uint64_t offset, uint8_t *buf, size_t len, size_t *got)
{
    ewlh_memory_reader_t *r = ctx;
    size_t n = 0;
    if (offset < r->len) {
        n = r->len - (size_t)offset < len ? r->len - (size_t)offset : len;
        n = r->piece != 0 && n > r->piece ? r->piece : n;
        memcpy(buf, r->data + offset, n);
    }
    r->given += n;
    *got = n;
    return 0;
}

/* Scratch: twice the minimum, so the pass reads 1 MiB at a time as Python does. */
#define EWLH_SCRATCH (2 * (size_t)EWL_PE_SCRATCH_MIN)

static int ewlh_digest(ewl_read_fn read_fn, void *read_ctx, uint64_t size, ewlh_digests_t *out)
{
    static const struct {
        int role;
        int sha1;
        size_t offset;
    } plan[] = {
        {EWL_DIGEST_FLAT, 0, offsetof(ewlh_digests_t, sha256)},
        {EWL_DIGEST_AUTHENTICODE, 0, offsetof(ewlh_digests_t, authenticode_sha256)},
        {EWL_DIGEST_AUTHENTICODE, 1, offsetof(ewlh_digests_t, authenticode_sha1)},
        {EWL_DIGEST_AUTHENTICODE_UNPADDED, 0,
         offsetof(ewlh_digests_t, authenticode_sha256_unpadded)},
        {EWL_DIGEST_FIRST_PAGE, 0, offsetof(ewlh_digests_t, page_sha256)},
        {EWL_DIGEST_FIRST_PAGE, 1, offsetof(ewlh_digests_t, page_sha1)},
    };
    enum { N = sizeof plan / sizeof plan[0] };
    ewlh_md_t mds[N];
    ewl_hasher_t hashers[N];
    ewl_pe_result_t r;
    uint8_t *scratch = malloc(EWLH_SCRATCH);
    size_t k;
    for (k = 0; k < N; k++) {
        mds[k].ctx = EVP_MD_CTX_new();
        mds[k].type = plan[k].sha1 ? EVP_sha1() : EVP_sha256();
        mds[k].out = (uint8_t *)out + plan[k].offset;
        hashers[k].role = plan[k].role;
        hashers[k].ctx = &mds[k];
        hashers[k].init = ewlh_md_init;
        hashers[k].update = ewlh_md_update;
        hashers[k].final = ewlh_md_final;
    }
    out->status = scratch == NULL ? -1
                                  : ewl_pe_digest(read_fn, read_ctx, size, hashers, N, scratch,
                                                  EWLH_SCRATCH, &r);
    if (out->status == EWL_PE_OK) {
        out->kind = r.kind;
        out->anomalies = r.anomalies;
        out->format = r.format;
        out->machine = r.machine;
        out->subsystem = r.subsystem;
        out->characteristics = r.characteristics;
        out->sections = r.sections;
        out->is_signed = r.is_signed;
        out->certificate_entries = r.certificate_entries;
        out->page_size = r.page_size;
        out->size = r.size;
    }
    for (k = 0; k < N; k++) {
        EVP_MD_CTX_free(mds[k].ctx);
    }
    free(scratch);
    return out->status;
}

int ewlh_hash_file(const char *path, ewlh_digests_t *out)
{
    ewlh_fd_reader_t reader;
    struct stat st;
    memset(out, 0, sizeof *out);
    out->status = -1;
    reader.fd = open(path, O_RDONLY);
    if (reader.fd >= 0) {
        if (fstat(reader.fd, &st) == 0) {
            ewlh_digest(ewlh_fd_read, &reader, (uint64_t)st.st_size, out);
        }
        close(reader.fd);
    }
    return out->status;
}

int ewlh_hash_memory(const uint8_t *data, size_t len, uint64_t file_size, size_t piece,
                     ewlh_digests_t *out)
{
    ewlh_memory_reader_t reader;
    memset(out, 0, sizeof *out);
    reader.data = data;
    reader.len = len;
    reader.piece = piece;
    reader.given = 0;
    return ewlh_digest(ewlh_memory_read, &reader, file_size, out);
}

int ewlh_version_memory(const uint8_t *data, size_t len, uint64_t file_size, size_t piece,
                        uint8_t *scratch, ewl_version_result_t *out, uint64_t *bytes_read)
{
    ewlh_memory_reader_t reader;
    int status;
    reader.data = data;
    reader.len = len;
    reader.piece = piece;
    reader.given = 0;
    status = ewl_version_read(ewlh_memory_read, &reader, file_size, scratch,
                              EWL_VERSION_SCRATCH_MIN, out);
    *bytes_read = reader.given;
    return status;
}
