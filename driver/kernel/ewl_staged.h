/* The core's staged decision (issue 11), until driver/core/ewl_blob.h has it:
 * the same types and semantics, built on ewl_decide. When the core defines
 * EWL_NEXT_NONE this header is empty and the driver calls the core's
 * ewl_decide_staged unchanged. */
#ifndef EWL_STAGED_H
#define EWL_STAGED_H

#include "ewl_blob.h"

#ifndef EWL_NEXT_NONE
#define EWL_FACT_UNKNOWN 0 /* not asked yet */
#define EWL_FACT_KNOWN 1
#define EWL_FACT_MISSING 2 /* asked and could not be had */
typedef struct ewl_facts {
    int path_state;
    const uint16_t *path;
    size_t path_len;
    int hash_state;
    const uint8_t *authenticode_sha256;
    const uint8_t *file_sha256;
} ewl_facts_t;
#define EWL_NEXT_NONE 0
#define EWL_NEXT_PATH 1
#define EWL_NEXT_HASH 2
#define EWL_DEPENDS_PATH 1u
#define EWL_DEPENDS_HASH 2u
#define EWL_REASON_RULE 0
#define EWL_REASON_NO_PATH 1
#define EWL_REASON_NO_HASH 2
typedef struct ewl_verdict {
    int next;
    ewl_decision_t decision;
    unsigned depends;
    int reason;
} ewl_verdict_t;

static inline int ewl_staged_has_deny_paths(const ewl_blob_t *blob)
{
    ewl_path_entry_t entry;
    uint32_t i;
    for (i = 0; i < blob->sections[EWL_SECTION_PATH_RULES].count; i++) {
        ewl_path_entry(blob, i, &entry);
        if (entry.action == EWL_PATH_ACTION_DENY) {
            return 1;
        }
    }
    return 0;
}

static inline void ewl_decide_staged(const ewl_blob_t *blob, const ewl_facts_t *facts,
                                     const ewl_vars_t *vars, ewl_verdict_t *out)
{
    ewl_query_t query = {NULL, NULL, NULL, 0};
    int hasPaths = blob->sections[EWL_SECTION_PATH_RULES].count != 0;
    int hasDenyHash = blob->sections[EWL_SECTION_AUTHENTICODE_DENY].count != 0 ||
                      blob->sections[EWL_SECTION_FILE_DENY].count != 0;
    int hasHash = hasDenyHash || blob->sections[EWL_SECTION_AUTHENTICODE_ALLOW].count != 0 ||
                  blob->sections[EWL_SECTION_FILE_ALLOW].count != 0;

    out->next = EWL_NEXT_NONE;
    out->depends = 0;
    out->reason = EWL_REASON_RULE;
    if (hasPaths) {
        if (facts->path_state == EWL_FACT_UNKNOWN) {
            out->next = EWL_NEXT_PATH;
            return;
        }
        out->depends |= EWL_DEPENDS_PATH;
        if (facts->path_state == EWL_FACT_KNOWN) {
            query.path = facts->path;
            query.path_len = facts->path_len;
        }
    }
    ewl_decide(blob, &query, vars, &out->decision);
    if (!(out->decision.decided == EWL_DECIDED_PATH &&
          (out->decision.action == EWL_ACTION_DENY || !hasDenyHash)) &&
        hasHash) {
        if (facts->hash_state == EWL_FACT_UNKNOWN) {
            out->next = EWL_NEXT_HASH;
            return;
        }
        out->depends |= EWL_DEPENDS_HASH;
        if (facts->hash_state == EWL_FACT_MISSING) {
            out->decision.action = EWL_ACTION_DENY;
            out->reason = EWL_REASON_NO_HASH;
            return;
        }
        query.authenticode_sha256 = facts->authenticode_sha256;
        query.file_sha256 = facts->file_sha256;
        ewl_decide(blob, &query, vars, &out->decision);
    }
    if (out->decision.action == EWL_ACTION_ALLOW && hasPaths &&
        facts->path_state == EWL_FACT_MISSING && ewl_staged_has_deny_paths(blob)) {
        out->decision.action = EWL_ACTION_DENY;
        out->reason = EWL_REASON_NO_PATH;
    }
}
#endif /* EWL_NEXT_NONE */

#endif /* EWL_STAGED_H */
