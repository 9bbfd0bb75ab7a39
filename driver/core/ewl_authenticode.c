/* File digests and the PE checks of docs/hashing.md, mirroring
 * src/exewhitelist/pe.py (parse_layout) and hashing.py (_digest_fd) field for
 * field and check for check, so that both give the same digests, the same
 * classification and the same anomalies for every file.
 *
 * Offsets are uint64_t throughout: a header field (u32) plus a size (u32)
 * cannot wrap, and files may be larger than 4 GiB. Reads are bounded by the
 * file size before they are made, as Python's read_at is. */
#include "ewl_authenticode.h"
#include "ewl_endian.h"

#define EWL_MAX_IMAGE_SIZE 0xffffffffu /* Authenticode offsets are 32-bit */
#define EWL_DOS_HEADER_SIZE 64u
#define EWL_COFF_HEADER_SIZE 20u
#define EWL_SECTION_HEADER_SIZE 40u
#define EWL_CHECKSUM_FIELD 64u /* in the optional header, PE32 and PE32+ alike */
#define EWL_SECURITY_DIRECTORY 4u
#define EWL_MACHINE_IA64 0x200u
#define EWL_PAGE_SIZE 4096u
#define EWL_PAGE_SIZE_IA64 8192u
/* The largest optional header prefix read: PE32+ up to its certificate entry. */
#define EWL_OPT_READ_MAX (112u + 8u * EWL_SECURITY_DIRECTORY + 8u)
/* Section headers read at a time, into the scratch buffer after the pairs. */
#define EWL_SECTION_BATCH 16u
#define EWL_PAIR_SIZE 8u
#define EWL_PAIRS_BYTES 0x80000u /* 65535 pairs of 8 bytes fit */

typedef struct ewl_file {
    ewl_read_fn read;
    void *ctx;
    uint64_t size;
} ewl_file_t;

/* Where the digests start and stop: the PELayout fields the pass needs. */
typedef struct ewl_layout {
    uint64_t checksum_offset;
    uint64_t certificate_entry_offset;
    uint64_t size_of_headers;
    uint64_t hash_end;
} ewl_layout_t;

/* Up to three ranges [start, end) of the file: [0, end) without two holes. */
typedef struct ewl_ranges {
    uint64_t start[3];
    uint64_t end[3];
    size_t n;
} ewl_ranges_t;

/* The pairs and one batch of section headers fit in the minimum scratch. */
typedef char ewl_scratch_fits[EWL_PAIRS_BYTES + EWL_SECTION_BATCH * EWL_SECTION_HEADER_SIZE <=
                                      EWL_PE_SCRATCH_MIN
                                  ? 1
                                  : -1];

static const uint8_t ewl_zeros[512] = {0};

const char *ewl_anomaly_name(unsigned n)
{
    static const char *const names[EWL_ANOMALY_COUNT] = EWL_ANOMALY_NAMES;
    return n < EWL_ANOMALY_COUNT ? names[n] : NULL;
}

static uint32_t ewl_bit(unsigned anomaly)
{
    return (uint32_t)1u << anomaly;
}

/* Read exactly len bytes at offset, which the caller knows lie inside the
 * file: a read that comes up short means the file changed. */
static ewl_pe_status_t ewl_read_full(const ewl_file_t *f, uint64_t offset, uint8_t *buf, size_t len)
{
    ewl_pe_status_t status = EWL_PE_OK;
    size_t done = 0;
    while (status == EWL_PE_OK && done < len) {
        size_t got = 0;
        if (f->read(f->ctx, offset + done, buf + done, len - done, &got) != 0 ||
            got > len - done) {
            status = EWL_PE_READ_FAILED;
        } else if (got == 0) {
            status = EWL_PE_FILE_CHANGED;
        } else {
            done += got;
        }
    }
    return status;
}

ewl_pe_status_t ewl_pe_read_exact(ewl_read_fn read, void *read_ctx, uint64_t offset,
                                  uint8_t *buf, size_t len)
{
    ewl_file_t f;
    f.read = read;
    f.ctx = read_ctx;
    f.size = 0; /* not used by ewl_read_full */
    return ewl_read_full(&f, offset, buf, len);
}

/* pe._read_exact: read [offset, offset + len) when it lies inside the file
 * (*inside = 1; an empty range always does), else read nothing (*inside = 0:
 * the structure is truncated). */
static ewl_pe_status_t ewl_read_inside(const ewl_file_t *f, uint64_t offset, uint8_t *buf,
                                       size_t len, int *inside)
{
    *inside = len == 0 || (offset <= f->size && len <= f->size - offset);
    return *inside ? ewl_read_full(f, offset, buf, len) : EWL_PE_OK;
}

static uint32_t ewl_pair_start(const uint8_t *pairs, size_t i)
{
    return ewl_load_u32le(pairs + EWL_PAIR_SIZE * i);
}

static uint64_t ewl_pair_end(const uint8_t *pairs, size_t i)
{
    return (uint64_t)ewl_pair_start(pairs, i) + ewl_load_u32le(pairs + EWL_PAIR_SIZE * i + 4);
}

static void ewl_pair_swap(uint8_t *pairs, size_t i, size_t j)
{
    size_t k;
    for (k = 0; k < EWL_PAIR_SIZE; k++) {
        uint8_t t = pairs[EWL_PAIR_SIZE * i + k];
        pairs[EWL_PAIR_SIZE * i + k] = pairs[EWL_PAIR_SIZE * j + k];
        pairs[EWL_PAIR_SIZE * j + k] = t;
    }
}

static void ewl_sift_down(uint8_t *pairs, size_t root, size_t n)
{
    int sifting = 1;
    while (sifting && 2 * root + 1 < n) {
        size_t child = 2 * root + 1;
        if (child + 1 < n && ewl_pair_start(pairs, child + 1) > ewl_pair_start(pairs, child)) {
            child++;
        }
        if (ewl_pair_start(pairs, root) >= ewl_pair_start(pairs, child)) {
            sifting = 0;
        } else {
            ewl_pair_swap(pairs, root, child);
            root = child;
        }
    }
}

/* True when two of the n non-empty raw data ranges overlap. Sorted by start
 * (heapsort: in place, O(n log n), no recursion), two ranges overlap exactly
 * when some range starts before its predecessor ends, which is pe.py's test
 * on its sorted list. */
static int ewl_sections_overlap(uint8_t *pairs, size_t n)
{
    size_t i;
    int overlap = 0;
    for (i = n / 2; i-- > 0;) {
        ewl_sift_down(pairs, i, n);
    }
    for (i = n; i-- > 1;) {
        ewl_pair_swap(pairs, 0, i);
        ewl_sift_down(pairs, 0, i);
    }
    for (i = 1; !overlap && i < n; i++) {
        overlap = ewl_pair_start(pairs, i) < ewl_pair_end(pairs, i - 1);
    }
    return overlap;
}

/* The section table (known to lie inside the file): the section anomalies
 * and the end of the image, max(headers end, SizeOfHeaders, raw data ends). */
static ewl_pe_status_t ewl_scan_sections(const ewl_file_t *f, uint64_t table, uint32_t count,
                                         uint8_t *scratch, ewl_pe_result_t *out,
                                         uint64_t *image_end)
{
    ewl_pe_status_t status = EWL_PE_OK;
    uint8_t *pairs = scratch, *batch = scratch + EWL_PAIRS_BYTES;
    uint32_t i = 0, k;
    size_t with_data = 0;
    int past_end = 0;
    while (status == EWL_PE_OK && i < count) {
        uint32_t n = count - i < EWL_SECTION_BATCH ? count - i : EWL_SECTION_BATCH;
        status = ewl_read_full(f, table + (uint64_t)i * EWL_SECTION_HEADER_SIZE, batch,
                               (size_t)n * EWL_SECTION_HEADER_SIZE);
        for (k = 0; status == EWL_PE_OK && k < n; k++) {
            const uint8_t *header = batch + k * EWL_SECTION_HEADER_SIZE;
            uint32_t size_of_raw_data = ewl_load_u32le(header + 16);
            uint32_t pointer_to_raw_data = ewl_load_u32le(header + 20);
            uint64_t end = (uint64_t)pointer_to_raw_data + size_of_raw_data;
            if (size_of_raw_data != 0) {
                ewl_store_u32le(pairs + EWL_PAIR_SIZE * with_data, pointer_to_raw_data);
                ewl_store_u32le(pairs + EWL_PAIR_SIZE * with_data + 4, size_of_raw_data);
                with_data++;
                past_end |= end > f->size;
                *image_end = end > *image_end ? end : *image_end;
            }
        }
        i += n;
    }
    if (status == EWL_PE_OK && past_end) {
        out->anomalies |= ewl_bit(EWL_ANOMALY_SECTION_PAST_END_OF_FILE);
    }
    if (status == EWL_PE_OK && ewl_sections_overlap(pairs, with_data)) {
        out->anomalies |= ewl_bit(EWL_ANOMALY_SECTIONS_OVERLAP);
    }
    return status;
}

/* pe._walk_certificates over a table that passed the gate (so it ends at the
 * end of the file and every header read lies inside it). */
static ewl_pe_status_t ewl_walk_certificates(const ewl_file_t *f, uint64_t va, uint64_t size,
                                             ewl_pe_result_t *out)
{
    ewl_pe_status_t status = EWL_PE_OK;
    uint64_t end = va + size, pos = va;
    int walking = 1;
    while (status == EWL_PE_OK && walking && pos <= end && end - pos >= 8) {
        uint8_t header[8];
        if (out->certificate_entries == EWL_MAX_CERTIFICATE_ENTRIES) {
            out->anomalies |= ewl_bit(EWL_ANOMALY_CERTIFICATE_ENTRY_MALFORMED);
            walking = 0;
        } else {
            status = ewl_read_full(f, pos, header, sizeof header);
        }
        if (status == EWL_PE_OK && walking) {
            uint32_t length = ewl_load_u32le(header);
            if (length < 8 || length > end - pos ||
                ewl_load_u16le(header + 4) != EWL_WIN_CERT_REVISION_2_0 ||
                ewl_load_u16le(header + 6) != EWL_WIN_CERT_TYPE_PKCS_SIGNED_DATA) {
                out->anomalies |= ewl_bit(EWL_ANOMALY_CERTIFICATE_ENTRY_MALFORMED);
                walking = 0;
            } else {
                out->certificate_entries++;
                pos += (uint64_t)length + (8u - length % 8u) % 8u;
            }
        }
    }
    return status;
}

/* pe._certificate_gate, then the walk of a table that passes it. */
static ewl_pe_status_t ewl_check_certificate_table(const ewl_file_t *f, uint32_t va,
                                                   uint32_t size, uint64_t image_end,
                                                   ewl_pe_result_t *out, ewl_layout_t *layout)
{
    ewl_pe_status_t status = EWL_PE_OK;
    uint32_t reasons = 0;
    uint64_t end = (uint64_t)va + size;
    if (va == 0 || size == 0) {
        reasons = ewl_bit(EWL_ANOMALY_CERTIFICATE_TABLE_EMPTY);
    } else {
        if (va % 8 != 0) {
            reasons |= ewl_bit(EWL_ANOMALY_CERTIFICATE_TABLE_UNALIGNED);
        }
        if (va < image_end) {
            reasons |= ewl_bit(EWL_ANOMALY_CERTIFICATE_TABLE_INSIDE_IMAGE);
        }
        if (end > f->size) {
            reasons |= ewl_bit(EWL_ANOMALY_CERTIFICATE_TABLE_PAST_END_OF_FILE);
        } else if (end < f->size) {
            reasons |= ewl_bit(EWL_ANOMALY_DATA_AFTER_CERTIFICATE_TABLE);
        }
    }
    if (reasons != 0) {
        /* Never honoured: hashed like any other byte. */
        out->anomalies |= ewl_bit(EWL_ANOMALY_CERTIFICATE_TABLE_INVALID) | reasons;
    } else {
        layout->hash_end = va;
        out->is_signed = 1;
        out->certificate_table_offset = va;
        out->certificate_table_size = size;
        status = ewl_walk_certificates(f, va, size, out);
    }
    return status;
}

/* pe.parse_layout after the PE signature (at e_lfanew, inside the file):
 * sets out->kind to EWL_FILE_PE, or to EWL_FILE_NONCONFORMANT with the one
 * anomaly that says why. The checks come in Python's order, reads included,
 * since a truncated read and a bad field must be told apart the same way. */
static ewl_pe_status_t ewl_parse_pe(const ewl_file_t *f, uint64_t e_lfanew, uint8_t *scratch,
                                    ewl_pe_result_t *out, ewl_layout_t *layout)
{
    uint8_t coff[EWL_COFF_HEADER_SIZE], opt[EWL_OPT_READ_MAX];
    uint64_t opt_offset = e_lfanew + 4 + EWL_COFF_HEADER_SIZE, table, headers_end, image_end;
    uint32_t cert_field = 0, rva_count_field = 0, sections = 0, va, size;
    uint16_t size_of_optional_header = 0;
    unsigned reason = EWL_ANOMALY_COUNT; /* none yet */
    int inside = 0;
    ewl_pe_status_t status = ewl_read_inside(f, e_lfanew + 4, coff, sizeof coff, &inside);
    if (status == EWL_PE_OK && !inside) {
        reason = EWL_ANOMALY_TRUNCATED_HEADERS;
    }
    if (status == EWL_PE_OK && reason == EWL_ANOMALY_COUNT) {
        out->machine = ewl_load_u16le(coff);
        sections = ewl_load_u16le(coff + 2);
        size_of_optional_header = ewl_load_u16le(coff + 16);
        out->characteristics = ewl_load_u16le(coff + 18);
        if (size_of_optional_header < 2) {
            reason = EWL_ANOMALY_OPTIONAL_HEADER_TOO_SMALL;
        } else {
            status = ewl_read_inside(f, opt_offset, opt, 2, &inside);
            reason = inside ? reason : EWL_ANOMALY_TRUNCATED_HEADERS;
        }
    }
    if (status == EWL_PE_OK && reason == EWL_ANOMALY_COUNT) {
        out->format = ewl_load_u16le(opt);
        if (out->format == EWL_PE_FORMAT_PE32) {
            rva_count_field = 92;
            cert_field = 96 + 8 * EWL_SECURITY_DIRECTORY;
        } else if (out->format == EWL_PE_FORMAT_PE32_PLUS) {
            rva_count_field = 108;
            cert_field = 112 + 8 * EWL_SECURITY_DIRECTORY;
        } else {
            reason = EWL_ANOMALY_OPTIONAL_HEADER_MAGIC_UNKNOWN; /* ROM images (0x107) too */
        }
    }
    if (status == EWL_PE_OK && reason == EWL_ANOMALY_COUNT) {
        if (size_of_optional_header < cert_field + 8) {
            reason = EWL_ANOMALY_OPTIONAL_HEADER_TOO_SMALL;
        } else {
            status = ewl_read_inside(f, opt_offset, opt, cert_field + 8, &inside);
            reason = inside ? reason : EWL_ANOMALY_TRUNCATED_HEADERS;
        }
    }
    if (status == EWL_PE_OK && reason == EWL_ANOMALY_COUNT) {
        layout->size_of_headers = ewl_load_u32le(opt + 60);
        out->subsystem = ewl_load_u16le(opt + 68);
        if (ewl_load_u32le(opt + rva_count_field) <= EWL_SECURITY_DIRECTORY) {
            reason = EWL_ANOMALY_TOO_FEW_DATA_DIRECTORIES;
        }
    }
    table = opt_offset + size_of_optional_header;
    headers_end = table + (uint64_t)sections * EWL_SECTION_HEADER_SIZE;
    if (status == EWL_PE_OK && reason == EWL_ANOMALY_COUNT) {
        /* Checked against the file here, read in batches by ewl_scan_sections;
         * an empty table is never truncated (Python reads 0 bytes fine). */
        inside = sections == 0 || (table <= f->size && headers_end - table <= f->size - table);
        reason = inside ? reason : EWL_ANOMALY_TRUNCATED_HEADERS;
    }
    if (status == EWL_PE_OK && reason == EWL_ANOMALY_COUNT) {
        out->kind = EWL_FILE_PE;
        out->sections = (uint16_t)sections;
        out->page_size = out->machine == EWL_MACHINE_IA64 ? EWL_PAGE_SIZE_IA64 : EWL_PAGE_SIZE;
        layout->checksum_offset = opt_offset + EWL_CHECKSUM_FIELD;
        layout->certificate_entry_offset = opt_offset + cert_field;
        layout->hash_end = f->size;
        if (sections == 0) {
            out->anomalies |= ewl_bit(EWL_ANOMALY_NO_SECTIONS);
        }
        if (layout->size_of_headers > f->size) {
            out->anomalies |= ewl_bit(EWL_ANOMALY_HEADERS_PAST_END_OF_FILE);
        } else if (layout->size_of_headers < headers_end) {
            out->anomalies |= ewl_bit(EWL_ANOMALY_SIZE_OF_HEADERS_TOO_SMALL);
        }
        image_end = headers_end > layout->size_of_headers ? headers_end : layout->size_of_headers;
        status = ewl_scan_sections(f, table, sections, scratch, out, &image_end);
        va = ewl_load_u32le(opt + cert_field);
        size = ewl_load_u32le(opt + cert_field + 4);
        if (status == EWL_PE_OK && (va != 0 || size != 0)) {
            status = ewl_check_certificate_table(f, va, size, image_end, out, layout);
        }
    } else if (status == EWL_PE_OK) {
        out->kind = EWL_FILE_NONCONFORMANT;
        out->anomalies = ewl_bit(reason);
    }
    return status;
}

/* hashing._digest_fd's classification: not a PE unless the file starts with
 * MZ and has PE\0\0 at e_lfanew inside it; a PE over 4 GiB is nonconformant. */
static ewl_pe_status_t ewl_classify(const ewl_file_t *f, uint8_t *scratch, ewl_pe_result_t *out,
                                    ewl_layout_t *layout)
{
    uint8_t dos[EWL_DOS_HEADER_SIZE], signature[4];
    size_t head = f->size < EWL_DOS_HEADER_SIZE ? (size_t)f->size : EWL_DOS_HEADER_SIZE;
    uint64_t e_lfanew = 0;
    int inside = 0;
    ewl_pe_status_t status = ewl_read_full(f, 0, dos, head);
    if (status == EWL_PE_OK && head >= 2 && dos[0] == 'M' && dos[1] == 'Z') {
        if (f->size > EWL_MAX_IMAGE_SIZE) {
            out->kind = EWL_FILE_NONCONFORMANT;
            out->anomalies = ewl_bit(EWL_ANOMALY_FILE_OVER_4GIB);
        } else if (head == EWL_DOS_HEADER_SIZE) {
            e_lfanew = ewl_load_u32le(dos + 0x3c);
            /* An MZ file whose e_lfanew points outside it: a DOS program or garbage. */
            status = ewl_read_inside(f, e_lfanew, signature, sizeof signature, &inside);
        }
    }
    if (status == EWL_PE_OK && inside && signature[0] == 'P' && signature[1] == 'E' &&
        signature[2] == 0 && signature[3] == 0) {
        status = ewl_parse_pe(f, e_lfanew, scratch, out, layout);
    }
    return status;
}

/* pe._exclude: [0, end) without the CheckSum field and the certificate entry. */
static void ewl_exclude(uint64_t end, const ewl_layout_t *layout, ewl_ranges_t *r)
{
    const uint64_t hole_start[2] = {layout->checksum_offset, layout->certificate_entry_offset};
    const uint64_t hole_size[2] = {4, 8};
    uint64_t pos = 0;
    size_t h;
    r->n = 0;
    for (h = 0; h < 2 && hole_start[h] < end; h++) {
        if (hole_start[h] > pos) {
            r->start[r->n] = pos;
            r->end[r->n] = hole_start[h];
            r->n++;
        }
        pos = pos > hole_start[h] + hole_size[h] ? pos : hole_start[h] + hole_size[h];
    }
    if (pos < end) {
        r->start[r->n] = pos;
        r->end[r->n] = end;
        r->n++;
    }
}

/* hashing._feed: the parts of chunk [pos, pos + len) inside the ranges. */
static int ewl_feed(const ewl_hasher_t *h, const ewl_ranges_t *r, const uint8_t *chunk,
                    uint64_t pos, size_t len)
{
    uint64_t end = pos + len;
    size_t i;
    int failed = 0;
    for (i = 0; !failed && i < r->n; i++) {
        uint64_t from = r->start[i] > pos ? r->start[i] : pos;
        uint64_t to = r->end[i] < end ? r->end[i] : end;
        if (from < to) {
            failed = h->update(h->ctx, chunk + (from - pos), (size_t)(to - from)) != 0;
        }
    }
    return failed;
}

/* Feed n zero bytes. */
static int ewl_feed_zeros(const ewl_hasher_t *h, uint64_t n)
{
    int failed = 0;
    while (!failed && n > 0) {
        size_t piece = n < sizeof ewl_zeros ? (size_t)n : sizeof ewl_zeros;
        failed = h->update(h->ctx, ewl_zeros, piece) != 0;
        n -= piece;
    }
    return failed;
}

static int ewl_hasher_applies(const ewl_hasher_t *h, const ewl_pe_result_t *out, uint8_t enabled)
{
    return enabled && (h->role == EWL_DIGEST_FLAT || out->kind == EWL_FILE_PE);
}

ewl_pe_status_t ewl_pe_digest(ewl_read_fn read, void *read_ctx, uint64_t file_size,
                              const ewl_hasher_t *hashers, size_t hasher_count, uint8_t *scratch,
                              size_t scratch_len, ewl_pe_result_t *out)
{
    return ewl_pe_digest_planned(read, read_ctx, file_size, hashers, hasher_count, NULL, NULL,
                                 scratch, scratch_len, out);
}

ewl_pe_status_t ewl_pe_digest_planned(ewl_read_fn read, void *read_ctx, uint64_t file_size,
                                      const ewl_hasher_t *hashers, size_t hasher_count,
                                      ewl_plan_fn plan, void *plan_ctx, uint8_t *scratch,
                                      size_t scratch_len, ewl_pe_result_t *out)
{
    uint8_t enabled[EWL_PE_MAX_HASHERS];
    ewl_pe_status_t status = EWL_PE_OK;
    ewl_file_t f;
    ewl_layout_t layout = {0, 0, 0, 0};
    ewl_ranges_t authenticode, first_page;
    uint64_t pos = 0, page_end = 0;
    size_t i;
    int failed = 0;
    f.read = read;
    f.ctx = read_ctx;
    f.size = file_size;
    out->size = file_size;
    out->kind = EWL_FILE_NOT_PE;
    out->anomalies = 0;
    out->format = 0;
    out->machine = out->subsystem = out->characteristics = out->sections = 0;
    out->is_signed = 0;
    out->certificate_entries = 0;
    out->page_size = 0;
    out->certificate_table_offset = 0;
    out->certificate_table_size = 0;
    if (scratch_len < EWL_PE_SCRATCH_MIN || hasher_count > EWL_PE_MAX_HASHERS) {
        status = EWL_PE_BAD_ARGUMENT;
    }
    for (i = 0; status == EWL_PE_OK && i < hasher_count; i++) {
        enabled[i] = 1;
        if (hashers[i].role < EWL_DIGEST_FLAT || hashers[i].role > EWL_DIGEST_FIRST_PAGE) {
            status = EWL_PE_BAD_ARGUMENT;
        }
    }
    if (status == EWL_PE_OK) {
        status = ewl_classify(&f, scratch, out, &layout);
    }
    if (status == EWL_PE_OK && out->kind != EWL_FILE_PE) {
        /* The facts below belong to a PE only (parsing may have set some). */
        out->format = 0;
        out->machine = out->subsystem = out->characteristics = 0;
    }
    ewl_exclude(layout.hash_end, &layout, &authenticode);
    if (out->kind == EWL_FILE_PE) {
        page_end = layout.size_of_headers < out->page_size ? layout.size_of_headers : out->page_size;
        page_end = page_end < file_size ? page_end : file_size;
    }
    ewl_exclude(page_end, &layout, &first_page);
    if (status == EWL_PE_OK && plan != NULL && plan(plan_ctx, out, enabled) != 0) {
        status = EWL_PE_READ_FAILED;
    }
    for (i = 0; status == EWL_PE_OK && !failed && i < hasher_count; i++) {
        failed = ewl_hasher_applies(&hashers[i], out, enabled[i]) &&
                 hashers[i].init(hashers[i].ctx) != 0;
    }
    /* The one pass: each chunk feeds every digest through its ranges. */
    while (status == EWL_PE_OK && !failed && pos < file_size) {
        size_t n = file_size - pos < scratch_len ? (size_t)(file_size - pos) : scratch_len;
        status = ewl_read_full(&f, pos, scratch, n);
        for (i = 0; status == EWL_PE_OK && !failed && i < hasher_count; i++) {
            const ewl_hasher_t *h = &hashers[i];
            if (enabled[i] && h->role == EWL_DIGEST_FLAT) {
                failed = h->update(h->ctx, scratch, n) != 0;
            } else if (enabled[i] && out->kind == EWL_FILE_PE &&
                       h->role == EWL_DIGEST_FIRST_PAGE) {
                failed = ewl_feed(h, &first_page, scratch, pos, n);
            } else if (enabled[i] && out->kind == EWL_FILE_PE) {
                failed = ewl_feed(h, &authenticode, scratch, pos, n);
            }
        }
        pos += n;
    }
    if (status == EWL_PE_OK && !failed) {
        /* A file that grew since its size was taken: hashing.py reads to the
         * end of the file and compares. */
        size_t got = 0;
        if (read(read_ctx, file_size, scratch, 1, &got) != 0) {
            status = EWL_PE_READ_FAILED;
        } else if (got != 0) {
            status = EWL_PE_FILE_CHANGED;
        }
    }
    /* Padding (Windows pads the Authenticode digest to 8), then the digests. */
    for (i = 0; status == EWL_PE_OK && !failed && i < hasher_count; i++) {
        const ewl_hasher_t *h = &hashers[i];
        if (ewl_hasher_applies(h, out, enabled[i])) {
            if (h->role == EWL_DIGEST_AUTHENTICODE) {
                failed = ewl_feed_zeros(h, (8u - layout.hash_end % 8u) % 8u);
            } else if (h->role == EWL_DIGEST_FIRST_PAGE) {
                failed = ewl_feed_zeros(h, out->page_size - page_end);
            }
            failed = failed || h->final(h->ctx) != 0;
        }
    }
    return status == EWL_PE_OK && failed ? EWL_PE_HASH_FAILED : status;
}
