/* An image's certificate table read and verified as a whole, and the signer
 * facts publisher conditions need from it: exewhitelist.signatures'
 * parse_table(...).algorithms and .verify(...), then the signers of
 * exewhitelist.rules.signer_facts (docs/signatures.md, docs/driver.md
 * "Signers").
 *
 * Portable C99 like the rest of the core. The table is the bytes the
 * certificate table's directory entry names (ewl_pe_result_t's
 * certificate_table_offset and _size), its entries walked as
 * pe._walk_certificates walks them. */
#ifndef EWL_TABLE_H
#define EWL_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "ewl_blob.h"
#include "ewl_signature.h"

/* A larger table is not read (signatures.MAX_TABLE_SIZE): one malformed
 * signature, no signer. */
#define EWL_TABLE_MAX_BYTES 0x100000u
/* Code units of a signer's common name kept for publisher conditions; a
 * longer name (X.520 bounds it at 64 characters) is no name, so a rule that
 * names one never matches it. */
#define EWL_TABLE_CN_MAX_UNITS 256u

/* The caller's working memory (about 20 KiB: keep it off the kernel stack).
 * After ewl_table_verify, results[0, count) are the table's signatures in
 * signatures' order, and the signers of the facts point into it. */
typedef struct ewl_table_work {
    ewl_sig_workspace_t sig;
    ewl_sig_result_t results[EWL_SIG_MAX_SIGNATURES];
    size_t count;
    size_t entry_at[EWL_SIG_MAX_SIGNATURES]; /* each result's entry in the table: its views
                                                 are relative to it */
    uint16_t names[EWL_MAX_SIGNERS][EWL_TABLE_CN_MAX_UNITS];
} ewl_table_work_t;

/* The Authenticode digests the table's signatures were made with: bit
 * (1u << EWL_HASH_x) for each, read without any crypto. */
unsigned ewl_table_algorithms(const uint8_t *table, size_t len, ewl_table_work_t *work);

/* Verify every signature of the table (at most EWL_SIG_MAX_SIGNATURES)
 * against the image's digests and set facts->signer_count and
 * facts->signers: each valid signature whose digest was compared and
 * matched, in order (at most EWL_MAX_SIGNERS), its chain up to the first
 * certificate without a TBS hash WDAC pins, its leaf's last common name.
 * The rest of *facts is the caller's. Returns the number of valid
 * signatures (which may exceed the signers kept). */
size_t ewl_table_verify(const uint8_t *table, size_t len, const ewl_sig_image_t *image,
                        const ewl_sig_crypto_t *crypto, ewl_table_work_t *work,
                        ewl_signer_facts_t *facts);

#endif /* EWL_TABLE_H */
