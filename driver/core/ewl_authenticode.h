/* File digests per docs/hashing.md: flat, Authenticode (padded and not) and
 * first-page, in one sequential pass over the file, with the anomalies and
 * the PE / not-a-PE / non-conformant classification of
 * src/exewhitelist/pe.py and hashing.py.
 *
 * Portable C99 (<stdint.h>/<stddef.h> only, no libc, no allocation, no
 * globals). The caller supplies the file (a read callback), the hash
 * functions (SHA-256 and SHA-1 are the caller's: CNG in the kernel, OpenSSL
 * in the harness) and a scratch buffer. */
#ifndef EWL_AUTHENTICODE_H
#define EWL_AUTHENTICODE_H

#include <stddef.h>
#include <stdint.h>

#include "ewl_format.h"

/* Anomaly bit numbers: bit n of ewl_pe_result_t.anomalies is anomaly n,
 * EWL_ANOMALY_<NAME> in ewl_format.h, generated from the declaration order of
 * exewhitelist.pe.Anomaly; ewl_anomaly_name(n) is that member's value. Reading
 * bits in increasing order gives the anomalies in the order Python reports
 * them. */

/* The certificate table's WIN_CERTIFICATE entries (pe._walk_certificates):
 * a header of dwLength (u32, header included), wRevision and
 * wCertificateType (u16), each entry padded to 8; the walk stops at the
 * first entry that is not one, or after EWL_MAX_CERTIFICATE_ENTRIES. */
#define EWL_WIN_CERT_HEADER 8u
#define EWL_WIN_CERT_REVISION_2_0 0x0200u
#define EWL_WIN_CERT_TYPE_PKCS_SIGNED_DATA 0x0002u
#define EWL_MAX_CERTIFICATE_ENTRIES 64u /* real files carry 1 or 2 */

/* What the file is (ewl_pe_result_t.kind). */
#define EWL_FILE_NOT_PE 0        /* only the flat digest applies; no anomaly */
#define EWL_FILE_NONCONFORMANT 1 /* claims to be a PE, Windows uses the flat hash; one anomaly */
#define EWL_FILE_PE 2            /* every digest applies */

#define EWL_PE_FORMAT_PE32 0x10b
#define EWL_PE_FORMAT_PE32_PLUS 0x20b

/* What a hasher digests (ewl_hasher_t.role). Each is fed with the same pass. */
#define EWL_DIGEST_FLAT 1                   /* every byte of the file */
#define EWL_DIGEST_AUTHENTICODE 2           /* docs/hashing.md §5, padded to 8 */
#define EWL_DIGEST_AUTHENTICODE_UNPADDED 3  /* the same without the padding */
#define EWL_DIGEST_FIRST_PAGE 4             /* §6 */

/* ewl_pe_digest's status. The file's shape is never an error: it is in the
 * result. */
typedef int ewl_pe_status_t;
#define EWL_PE_OK 0
#define EWL_PE_READ_FAILED 1  /* the read callback failed */
#define EWL_PE_FILE_CHANGED 2 /* the file ended before file_size, or went on past it */
#define EWL_PE_HASH_FAILED 3  /* a hash callback failed */
#define EWL_PE_BAD_ARGUMENT 4 /* scratch smaller than EWL_PE_SCRATCH_MIN, an unknown role, or
                                 more than EWL_PE_MAX_HASHERS hashers */

/* The scratch buffer holds, while the headers are checked, the
 * (PointerToRawData, SizeOfRawData) pairs of up to 65535 sections (8 bytes
 * each, sorted in place: under 512 KiB) and the section headers being read
 * (1 KiB, kept off the kernel's 12-24 KiB stack); then it serves as the read
 * buffer of the pass: a larger one means fewer reads. */
#define EWL_PE_SCRATCH_MIN 0x80400u

/* Read up to len bytes at offset into buf and set *got (0 at the end of the
 * file); return 0 on success. Short reads are allowed: the core asks again. */
typedef int (*ewl_read_fn)(void *ctx, uint64_t offset, uint8_t *buf, size_t len, size_t *got);

/* One digest to compute. The callbacks return 0 on success; final leaves the
 * digest wherever ctx says (the core never sees it). Hashers whose role does
 * not apply to the file (all but EWL_DIGEST_FLAT when kind != EWL_FILE_PE) are
 * neither initialised nor finalised. */
typedef struct ewl_hasher {
    int role;
    void *ctx;
    int (*init)(void *ctx);
    int (*update)(void *ctx, const uint8_t *data, size_t len);
    int (*final)(void *ctx);
} ewl_hasher_t;

typedef struct ewl_pe_result {
    uint64_t size;        /* file_size */
    int kind;             /* EWL_FILE_* */
    uint32_t anomalies;   /* bit EWL_ANOMALY_x set for each anomaly */
    /* The rest is set when kind == EWL_FILE_PE (else zero). */
    uint32_t format;      /* EWL_PE_FORMAT_PE32 or EWL_PE_FORMAT_PE32_PLUS */
    uint16_t machine;
    uint16_t subsystem;
    uint16_t characteristics;
    uint16_t sections;    /* NumberOfSections */
    int is_signed;        /* the certificate table passed the validity gate (§4) */
    uint32_t certificate_entries; /* well-formed WIN_CERTIFICATE entries walked */
    uint32_t page_size;   /* of the first-page digest: 4096, or 8192 for IA64 */
    /* Where the certificate table is when is_signed (else 0): it ends at the
     * end of the file. */
    uint64_t certificate_table_offset;
    uint32_t certificate_table_size;
} ewl_pe_result_t;

/* Classify the file, then digest it in one sequential pass (the header
 * structures are read first with small bounded reads). file_size is the size
 * at open; a file that is shorter or longer when read is EWL_PE_FILE_CHANGED.
 * *out is complete only when EWL_PE_OK is returned. */
ewl_pe_status_t ewl_pe_digest(ewl_read_fn read, void *read_ctx, uint64_t file_size,
                              const ewl_hasher_t *hashers, size_t hasher_count, uint8_t *scratch,
                              size_t scratch_len, ewl_pe_result_t *out);

/* Read [offset, offset + len) through read, asking again after short reads:
 * EWL_PE_OK, EWL_PE_READ_FAILED, or EWL_PE_FILE_CHANGED when the file ends
 * first. */
ewl_pe_status_t ewl_pe_read_exact(ewl_read_fn read, void *read_ctx, uint64_t offset,
                                  uint8_t *buf, size_t len);

/* The most hashers one pass feeds. */
#define EWL_PE_MAX_HASHERS 16u

/* Called once the file is classified (*classified is complete but for the
 * digests) and before any hasher is initialised: the caller may read what
 * the headers point to (the certificate table, to learn which digests its
 * signatures need, as hashing.py does) and clear enabled[i] for hashers it
 * does not want (all are set on entry). Returns 0, or non-zero to end the
 * pass with EWL_PE_READ_FAILED. */
typedef int (*ewl_plan_fn)(void *ctx, const ewl_pe_result_t *classified, uint8_t *enabled);

/* ewl_pe_digest with a plan (NULL: every hasher). */
ewl_pe_status_t ewl_pe_digest_planned(ewl_read_fn read, void *read_ctx, uint64_t file_size,
                                      const ewl_hasher_t *hashers, size_t hasher_count,
                                      ewl_plan_fn plan, void *plan_ctx, uint8_t *scratch,
                                      size_t scratch_len, ewl_pe_result_t *out);

/* The name of anomaly bit n as exewhitelist reports it ("no_sections"...), or
 * NULL when n >= EWL_ANOMALY_COUNT. */
const char *ewl_anomaly_name(unsigned n);

#endif /* EWL_AUTHENTICODE_H */
