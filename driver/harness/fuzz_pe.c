/* libFuzzer target: the input as a file for ewl_pe_digest.
 *
 * The hashes are stubs that count and mix the bytes they are given (every
 * byte is read, so ASan sees a bad range), with the file read back in odd
 * pieces to exercise the short-read loop. The result is checked against
 * invariants of docs/hashing.md (abort() on violation). */
#include <stdlib.h>
#include <string.h>

#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct stub_hash {
    uint64_t count;
    uint32_t mix;
    int state; /* 0 new, 1 initialised, 2 final */
} stub_hash_t;

typedef struct memory_file {
    const uint8_t *data;
    size_t size;
} memory_file_t;

static void check(int condition)
{
    if (!condition) {
        abort();
    }
}

static int stub_init(void *ctx)
{
    stub_hash_t *h = ctx;
    check(h->state == 0);
    h->state = 1;
    return 0;
}

static int stub_update(void *ctx, const uint8_t *p, size_t n)
{
    stub_hash_t *h = ctx;
    size_t i;
    check(h->state == 1);
    for (i = 0; i < n; i++) {
        h->mix = (h->mix ^ p[i]) * 16777619u;
    }
    h->count += n;
    return 0;
}

static int stub_final(void *ctx)
{
    stub_hash_t *h = ctx;
    check(h->state == 1);
    h->state = 2;
    return 0;
}

static int memory_read(void *ctx, uint64_t offset, uint8_t *buf, size_t len, size_t *got)
{
    const memory_file_t *f = ctx;
    size_t n = 0;
    if (offset < f->size) {
        n = f->size - (size_t)offset < len ? f->size - (size_t)offset : len;
        n = n > 1021 ? 1021 : n; /* a prime: pieces straddle every boundary */
        memcpy(buf, f->data + offset, n);
    }
    *got = n;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Exactly the minimum, allocated once: ASan sees writes past it. */
    static uint8_t *scratch;
    static const int roles[4] = {EWL_DIGEST_FLAT, EWL_DIGEST_AUTHENTICODE,
                                 EWL_DIGEST_AUTHENTICODE_UNPADDED, EWL_DIGEST_FIRST_PAGE};
    const uint32_t nonconformant =
        1u << EWL_ANOMALY_FILE_OVER_4GIB | 1u << EWL_ANOMALY_TRUNCATED_HEADERS |
        1u << EWL_ANOMALY_OPTIONAL_HEADER_MAGIC_UNKNOWN |
        1u << EWL_ANOMALY_OPTIONAL_HEADER_TOO_SMALL | 1u << EWL_ANOMALY_TOO_FEW_DATA_DIRECTORIES;
    stub_hash_t hashes[4];
    ewl_hasher_t hashers[4];
    memory_file_t file;
    ewl_pe_result_t r;
    size_t k;
    if (scratch == NULL) {
        scratch = malloc(EWL_PE_SCRATCH_MIN);
        check(scratch != NULL);
    }
    memset(hashes, 0, sizeof hashes);
    for (k = 0; k < 4; k++) {
        hashers[k].role = roles[k];
        hashers[k].ctx = &hashes[k];
        hashers[k].init = stub_init;
        hashers[k].update = stub_update;
        hashers[k].final = stub_final;
    }
    file.data = data;
    file.size = size;
    check(ewl_pe_digest(memory_read, &file, size, hashers, 4, scratch, EWL_PE_SCRATCH_MIN, &r) ==
          EWL_PE_OK);
    check(r.size == size && hashes[0].state == 2 && hashes[0].count == size);
    if (r.kind == EWL_FILE_PE) {
        check((r.anomalies & nonconformant) == 0);
        check(r.format == EWL_PE_FORMAT_PE32 || r.format == EWL_PE_FORMAT_PE32_PLUS);
        check(r.certificate_entries <= 64);
        check(!r.is_signed || (r.anomalies & 1u << EWL_ANOMALY_CERTIFICATE_TABLE_INVALID) == 0);
        check(r.is_signed || r.certificate_entries == 0);
        /* Hashed: [0, end) less the CheckSum field and the certificate entry
         * (12 bytes, always inside), end being the file's end when unsigned;
         * then padded by (8 - end % 8) % 8 zeros, so 4 modulo 8 in all. */
        check(hashes[1].state == 2 && hashes[1].count % 8 == 4);
        check(r.is_signed ? hashes[2].count + 12 < size : hashes[2].count + 12 == size);
        check(hashes[1].count - hashes[2].count < 8);
        /* The first page: P bytes less what the two fields take of it. */
        check(hashes[3].count <= r.page_size && hashes[3].count + 12 >= r.page_size);
    } else {
        check(hashes[1].state == 0 && hashes[2].state == 0 && hashes[3].state == 0);
        check(r.kind == EWL_FILE_NOT_PE ? r.anomalies == 0
                                        : r.kind == EWL_FILE_NONCONFORMANT &&
                                              (r.anomalies & nonconformant) == r.anomalies &&
                                              (r.anomalies & (r.anomalies - 1)) == 0 &&
                                              r.anomalies != 0);
    }
    return 0;
}
