/* Host-side glue around the portable core, for the tests (ctypes through
 * libewlcore.so, and the sanitized executables), the fuzzers and the
 * benchmark. Unlike driver/core/, this may use libc, POSIX and OpenSSL's
 * libcrypto (SHA-256 and SHA-1 for ewl_pe_digest's hashers). */
#ifndef EWL_HARNESS_H
#define EWL_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "ewl_authenticode.h"
#include "ewl_blob.h"
#include "ewl_versioninfo.h"

/* Room for any rule id: 256 bytes stored, or a default id of 84. */
#define EWLH_ID_MAX 256

/* ewlh_decide's status when the decision with hash indexes differs from the
 * one without (or memory for them ran out): a core bug. */
#define EWLH_INDEX_MISMATCH (-2)

typedef struct ewlh_decision {
    int32_t status; /* ewl_blob_validate's (or EWLH_INDEX_MISMATCH); the rest is set only
                       when it is EWL_STATUS_OK */
    int32_t action;
    int32_t decided;
    int32_t enforced;
    int32_t default_id;
    uint32_t index;
    uint32_t id_len; /* 0 for the default deny */
    uint8_t id[EWLH_ID_MAX]; /* the stored id, or the default id formatted by the core */
} ewlh_decision_t;

typedef struct ewlh_digests {
    int32_t status; /* ewl_pe_digest's, or -1 when the file could not be opened */
    int32_t kind;
    uint32_t anomalies;
    uint32_t format;
    uint32_t machine;
    uint32_t subsystem;
    uint32_t characteristics;
    uint32_t sections;
    int32_t is_signed;
    uint32_t certificate_entries;
    uint32_t page_size;
    uint64_t size;
    uint8_t sha256[32];
    uint8_t authenticode_sha256[32];
    uint8_t authenticode_sha1[20];
    uint8_t authenticode_sha256_unpadded[32];
    uint8_t page_sha256[32];
    uint8_t page_sha1[20];
} ewlh_digests_t;

/* A whole file in malloc'd memory (*len bytes); on failure a line naming `tool`
 * on stderr and exit 2. For the command-line tools. */
uint8_t *ewlh_read_file(const char *path, size_t *len, const char *tool);

/* ewl_blob_validate's code for buf[0, len). */
int ewlh_validate(const uint8_t *buf, size_t len);

/* Validate, then decide. authenticode / file: 32 bytes or NULL; path: folded
 * units or NULL (path_len 0 with a non-NULL path is the empty path); values:
 * all variable values, counts[k] of them for variable id k + 1, in id order.
 * Every decision is also made with hash indexes of several sizes, which must
 * agree. Returns the validation status (also in out->status). */
int ewlh_decide(const uint8_t *buf, size_t len, const uint8_t *authenticode, const uint8_t *file,
                const uint16_t *path, size_t path_len, const ewl_u16str_t *values,
                const size_t *counts, ewlh_decision_t *out);

/* ewlh_decide with signer facts (NULL: none). */
int ewlh_decide_signers(const uint8_t *buf, size_t len, const uint8_t *authenticode,
                        const uint8_t *file, const uint16_t *path, size_t path_len,
                        const ewl_signer_facts_t *signers, const ewl_u16str_t *values,
                        const size_t *counts, ewlh_decision_t *out);

/* ewl_blob_needs_signers of a blob, or -1 when it does not validate. */
int ewlh_needs_signers(const uint8_t *buf, size_t len);

typedef struct ewlh_verdict {
    int32_t next;
    int32_t depends;
    int32_t reason;
    ewlh_decision_t decision; /* its status is the validation status */
} ewlh_verdict_t;

/* Validate, then ewl_decide_staged. path_state / hash_state: EWL_FACT_*; the
 * other arguments as for ewlh_decide. Returns the validation status. */
int ewlh_decide_staged(const uint8_t *buf, size_t len, int path_state, const uint16_t *path,
                       size_t path_len, int hash_state, const uint8_t *authenticode,
                       const uint8_t *file, const ewl_u16str_t *values, const size_t *counts,
                       ewlh_verdict_t *out);

/* ewlh_decide_staged with the signer facts' state (EWL_FACT_*) and, when
 * KNOWN, the facts. */
int ewlh_decide_staged_signers(const uint8_t *buf, size_t len, int path_state,
                               const uint16_t *path, size_t path_len, int hash_state,
                               const uint8_t *authenticode, const uint8_t *file, int signer_state,
                               const ewl_signer_facts_t *signers, const ewl_u16str_t *values,
                               const size_t *counts, ewlh_verdict_t *out);

/* Every digest of a file, hashed by the core with OpenSSL's SHA-256/SHA-1. */
int ewlh_hash_file(const char *path, ewlh_digests_t *out);

/* The same for bytes in memory, read back in pieces of at most `piece`
 * bytes (0: no limit) to exercise short reads, with file_size given to the
 * core as the size at open (!= len: the file changed). */
int ewlh_hash_memory(const uint8_t *data, size_t len, uint64_t file_size, size_t piece,
                     ewlh_digests_t *out);

/* ewl_version_read over bytes in memory, read back as ewlh_hash_memory reads
 * them; *bytes_read: the bytes the core was given, headers included. The
 * result's strings point into scratch (EWL_VERSION_SCRATCH_MIN bytes). */
int ewlh_version_memory(const uint8_t *data, size_t len, uint64_t file_size, size_t piece,
                        uint8_t *scratch, ewl_version_result_t *out, uint64_t *bytes_read);

uint32_t ewlh_crc32(uint32_t crc, const uint8_t *p, size_t n);
int ewlh_utf8_valid(const uint8_t *p, size_t n);
const char *ewlh_anomaly_name(unsigned n);

/* The folded default variable values (exewhitelist.policy.DEFAULT_VARIABLES),
 * for the C-only tools: *values and counts[EWL_VARIABLE_COUNT] as ewlh_decide
 * takes them. */
void ewlh_default_variables(const ewl_u16str_t **values, const size_t **counts);

#endif /* EWL_HARNESS_H */
