/* libFuzzer target: blob validation, then decisions on what validated.
 *
 * Each input is validated as it is, then once more with its size field and
 * checksum recomputed, since a mutation almost never keeps the CRC right and
 * the checks behind it (steps 7-15) would otherwise stay unreached. A blob
 * that validates is queried with digests taken from its own hash sections
 * and with paths made from its own patterns, and the decisions are checked
 * against invariants that hold for every valid blob (abort() on violation,
 * which libFuzzer and the regression driver report as a crash). */
#include <stdlib.h>
#include <string.h>

#include "ewl_endian.h"
#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int condition)
{
    if (!condition) {
        abort();
    }
}

static const uint8_t *blob_end(const ewl_blob_t *blob)
{
    return blob->data + blob->size;
}

/* The staged decision on q's inputs in every state of knowledge: it asks for
 * nothing it has, never allows for want of an input that a deny rule
 * needs, and with everything known keeps the plain decision's action. */
static void staged_checked(const ewl_blob_t *blob, const ewl_query_t *q, const ewl_vars_t *vars,
                           const ewl_decision_t *plain)
{
    int path_state, hash_state, signer_state;
    int deny_hashes = blob->sections[EWL_SECTION_AUTHENTICODE_DENY].count != 0 ||
                      blob->sections[EWL_SECTION_FILE_DENY].count != 0;
    for (path_state = EWL_FACT_UNKNOWN; path_state <= EWL_FACT_MISSING; path_state++) {
        for (hash_state = EWL_FACT_UNKNOWN; hash_state <= EWL_FACT_MISSING; hash_state++) {
            for (signer_state = EWL_FACT_UNKNOWN; signer_state <= EWL_FACT_MISSING;
                 signer_state++) {
                ewl_facts_t f;
                ewl_verdict_t v;
                if ((path_state == EWL_FACT_KNOWN && q->path == NULL) ||
                    (signer_state == EWL_FACT_KNOWN && q->signers == NULL)) {
                    continue;
                }
                f.path_state = path_state;
                f.path = q->path;
                f.path_len = q->path_len;
                f.hash_state = hash_state;
                f.authenticode_sha256 = q->authenticode_sha256;
                f.file_sha256 = q->file_sha256;
                f.signer_state = signer_state;
                f.signers = q->signers;
                ewl_decide_staged(blob, &f, vars, &v);
                check(v.next >= EWL_NEXT_NONE && v.next <= EWL_NEXT_SIGNER);
                check(v.next != EWL_NEXT_PATH || path_state == EWL_FACT_UNKNOWN);
                check(v.next != EWL_NEXT_HASH || hash_state == EWL_FACT_UNKNOWN);
                check(v.next != EWL_NEXT_SIGNER || signer_state == EWL_FACT_UNKNOWN);
                if (v.next != EWL_NEXT_NONE) {
                    continue;
                }
                check(v.reason >= EWL_REASON_RULE && v.reason <= EWL_REASON_NO_SIGNER);
                if (v.reason != EWL_REASON_RULE) {
                    check(v.decision.action == EWL_ACTION_DENY &&
                          v.decision.decided == EWL_DECIDED_DEFAULT_DENY);
                }
                if (v.decision.action == EWL_ACTION_ALLOW && hash_state == EWL_FACT_MISSING) {
                    check((v.decision.decided == EWL_DECIDED_PATH ||
                           v.decision.decided == EWL_DECIDED_PUBLISHER) &&
                          !deny_hashes);
                }
                if (v.decision.action == EWL_ACTION_ALLOW && path_state == EWL_FACT_MISSING) {
                    check(blob->path_deny_count == 0);
                }
                if (v.decision.action == EWL_ACTION_ALLOW &&
                    signer_state == EWL_FACT_MISSING) {
                    check(blob->publisher_deny_count == 0);
                }
                if (path_state == EWL_FACT_KNOWN && hash_state == EWL_FACT_KNOWN &&
                    (signer_state == EWL_FACT_KNOWN || !ewl_blob_needs_signers(blob))) {
                    check(v.decision.action == plain->action);
                }
            }
        }
    }
}

static void decide_checked(const ewl_blob_t *blob, const ewl_query_t *q, ewl_decision_t *d)
{
    static const uint16_t empty_value[1] = {0};
    ewl_vars_t vars;
    const ewl_u16str_t *values;
    const size_t *counts;
    ewl_u16str_t with_empty[6];
    size_t k, used = 0;
    char id[EWL_DEFAULT_ID_MAX];
    ewlh_default_variables(&values, &counts);
    /* The defaults, and an empty value for OSDRIVE: a prefix of every path. */
    for (k = 0; k < 5; k++) {
        with_empty[k] = values[k];
    }
    with_empty[5].units = empty_value;
    with_empty[5].len = 0;
    for (k = 0; k < EWL_VARIABLE_COUNT; k++) {
        vars.values[k] = with_empty + used;
        vars.count[k] = counts[k] + (k == EWL_VARIABLE_COUNT - 1 ? 1 : 0);
        used += counts[k];
    }
    ewl_decide(blob, q, &vars, d);
    check(d->action == EWL_ACTION_ALLOW || d->action == EWL_ACTION_DENY);
    check(d->enforced == ((blob->flags & EWL_FLAG_AUDIT) == 0));
    if (d->decided == EWL_DECIDED_DEFAULT_DENY) {
        check(d->action == EWL_ACTION_DENY && d->index == EWL_NO_INDEX && d->rule_id == NULL);
    } else if (d->decided == EWL_DECIDED_PATH) {
        ewl_path_entry_t e;
        check(d->index < blob->sections[EWL_SECTION_PATH_RULES].count);
        ewl_path_entry(blob, d->index, &e);
        check(e.action == d->action && d->rule_id == e.id && d->rule_id_len == e.id_len);
    } else if (d->decided == EWL_DECIDED_PUBLISHER) {
        const uint8_t *rec;
        check(d->index < blob->sections[EWL_SECTION_PUBLISHER_RULES].count);
        rec = blob->data + blob->sections[EWL_SECTION_PUBLISHER_RULES].offset +
              (size_t)d->index * EWL_PUBLISHER_RULE_SIZE;
        check(rec[EWL_PUBLISHER_RULE_ACTION_OFFSET] == d->action);
        check(q->signers != NULL && d->rule_id >= blob->data &&
              d->rule_id_len <= EWL_MAX_ID_BYTES && d->rule_id + d->rule_id_len <= blob_end(blob));
    } else {
        check(d->decided >= EWL_DECIDED_AUTHENTICODE_ALLOW &&
              d->decided <= EWL_DECIDED_FILE_DENY);
        check(d->index < blob->sections[d->decided].count);
        check(d->action == (d->decided % 2 == 0 ? EWL_ACTION_ALLOW : EWL_ACTION_DENY));
        if (d->default_id) {
            check(ewl_default_rule_id(d, id, sizeof id) >= 64);
        } else {
            check(d->rule_id >= blob->data && d->rule_id_len <= EWL_MAX_ID_BYTES &&
                  d->rule_id + d->rule_id_len <= blob_end(blob));
        }
    }
    staged_checked(blob, q, &vars, d);
}

/* A path matching entry i's pattern: the variable replaced by its first
 * default value, '?' by 'Q', '*' by "AB\" or, when `nearby`, by three copies
 * of the segment that follows it (up to the next '*') without its last
 * unit, each ended by U+0001 (in no pattern, so no copy completes a match):
 * near matches at every place, which make the core's plain search run out
 * of budget and hand over to its two-way search. At most 4 units per
 * pattern unit plus the variable's value. Returns its length. */
static size_t instantiate(const ewl_path_entry_t *e, uint16_t *out, int nearby)
{
    const ewl_u16str_t *values;
    const size_t *counts;
    size_t n = 0, k, v;
    ewlh_default_variables(&values, &counts);
    for (k = 0; k < e->units; k++) {
        uint16_t unit = ewl_load_u16le(e->pattern + 2 * k);
        if (unit > EWL_VARIABLE_TOKEN_BASE && unit <= EWL_VARIABLE_TOKEN_BASE + 4) {
            size_t first = 0;
            for (v = 0; v + 1 < unit - EWL_VARIABLE_TOKEN_BASE; v++) {
                first += counts[v];
            }
            memcpy(out + n, values[first].units, values[first].len * 2);
            n += values[first].len;
        } else if (unit == '*' && nearby) {
            size_t end = k + 1, r, j;
            while (end < e->units && ewl_load_u16le(e->pattern + 2 * end) != '*') {
                end++;
            }
            for (r = 0; end > k + 2 && r < 3; r++) {
                for (j = k + 1; j + 1 < end; j++) {
                    uint16_t near_unit = ewl_load_u16le(e->pattern + 2 * j);
                    out[n++] = near_unit == '?' ? 'Q' : near_unit;
                }
                out[n++] = 1;
            }
        } else if (unit == '*') {
            out[n++] = 'A';
            out[n++] = 'B';
            out[n++] = '\\';
        } else if (unit == '?') {
            out[n++] = 'Q';
        } else {
            out[n++] = unit;
        }
    }
    return n;
}

/* Hash lookups through an index (the driver builds one per section) find
 * what the plain binary search finds, for some of the section's digests and
 * for the input's tail; with the driver's index size and with 3 bits. */
static void check_indexed(const ewl_blob_t *plain, const uint8_t *data, size_t size)
{
    static uint32_t memory[EWL_HASH_SECTIONS][((size_t)1 << EWL_HASH_INDEX_MAX_BITS) + 1];
    ewl_blob_t blob;
    uint32_t section, i, n, round;
    for (round = 0; round < 2; round++) {
        blob = *plain;
        for (section = EWL_HASH_SECTION_FIRST; section <= EWL_HASH_SECTION_LAST;
             section++) {
            n = blob.sections[section].count;
            ewl_hash_index_build(&blob, section, round == 0 ? ewl_hash_index_bits(n) : 3u,
                                 memory[section - EWL_HASH_SECTION_FIRST]);
        }
        for (section = EWL_HASH_SECTION_FIRST; section <= EWL_HASH_SECTION_LAST;
             section++) {
            n = blob.sections[section].count;
            for (i = 0; i < n; i += n / 7 + 1) {
                const uint8_t *digest = data + blob.sections[section].offset + (size_t)i * 32;
                check(ewl_find_hash(&blob, section, digest) == i);
            }
            if (size >= 32) {
                check(ewl_find_hash(&blob, section, data + size - 32) ==
                      ewl_find_hash(plain, section, data + size - 32));
            }
        }
    }
}

/* Copy TEXTS entry i's units into out (at most EWL_MAX_TEXT_UNITS). */
static size_t text_units(const ewl_blob_t *blob, uint32_t i, uint16_t *out)
{
    const uint8_t *rec = blob->data + blob->sections[EWL_SECTION_TEXTS].offset +
                         (size_t)i * EWL_TEXT_ENTRY_SIZE;
    const uint8_t *units = blob->data + blob->sections[EWL_SECTION_TEXT_DATA].offset +
                           ewl_load_u32le(rec + EWL_TEXT_ENTRY_AT_OFFSET);
    size_t n = ewl_load_u32le(rec + EWL_TEXT_ENTRY_UNITS_OFFSET), k;
    for (k = 0; k < n; k++) {
        out[k] = ewl_load_u16le(units + 2 * k);
    }
    return n;
}

/* Signer facts made from the blob's first publisher conditions: a signer
 * whose chain has the pinned certificate as leaf and issuer, with the
 * condition's common name, attribute value and a version at its bound;
 * decided with q's other inputs (and in every state of knowledge). */
static void exercise_signers(const ewl_blob_t *blob, const ewl_query_t *base)
{
    static ewl_signer_facts_t sf;
    static uint16_t cn[EWL_MAX_TEXT_UNITS], value[EWL_MAX_TEXT_UNITS];
    ewl_query_t q = *base;
    ewl_decision_t d;
    uint32_t n = blob->sections[EWL_SECTION_PUBLISHERS].count, i, k;
    for (i = 0; i < n && i < 16; i++) {
        const uint8_t *rec = blob->data + blob->sections[EWL_SECTION_PUBLISHERS].offset +
                             (size_t)i * EWL_PUBLISHER_SIZE;
        uint32_t cert = ewl_load_u32le(rec + EWL_PUBLISHER_CERTIFICATE_OFFSET);
        uint32_t cn_text = ewl_load_u32le(rec + EWL_PUBLISHER_COMMON_NAME_OFFSET);
        uint32_t value_text = ewl_load_u32le(rec + EWL_PUBLISHER_ATTRIBUTE_VALUE_OFFSET);
        uint8_t attribute = rec[EWL_PUBLISHER_ATTRIBUTE_OFFSET];
        const uint8_t *crec = blob->data + blob->sections[EWL_SECTION_CERTIFICATES].offset +
                              (size_t)cert * EWL_CERTIFICATE_SIZE;
        memset(&sf, 0, sizeof sf);
        sf.signer_count = 1 + i % 2; /* a second, empty signer every other time */
        sf.signers[0].chain_len = 2;
        for (k = 0; k < 2; k++) {
            sf.signers[0].chain[k].algorithm = crec[EWL_CERTIFICATE_ALGORITHM_OFFSET];
            sf.signers[0].chain[k].digest = crec + EWL_CERTIFICATE_DIGEST_OFFSET;
        }
        if (cn_text != EWL_NONE_INDEX) {
            sf.signers[0].common_name = cn;
            sf.signers[0].common_name_len = text_units(blob, cn_text, cn);
        }
        if (attribute != EWL_ATTRIBUTE_NONE) {
            sf.attributes[attribute - 1].units = value;
            sf.attributes[attribute - 1].len = text_units(blob, value_text, value);
        }
        sf.has_version = i % 3 != 2;
        sf.version = ewl_load_u32le(rec + EWL_PUBLISHER_MIN_VERSION_OFFSET + 4 * (i % 4));
        q.signers = &sf;
        decide_checked(blob, &q, &d);
    }
}

static void exercise(const uint8_t *data, size_t size)
{
    ewl_blob_t blob;
    ewl_query_t q;
    ewl_decision_t d;
    uint32_t section, i, n;
    static uint16_t path[4 * EWL_MAX_PATTERN_UNITS + 64];
    if (ewl_blob_validate(data, size, &blob) != EWL_STATUS_OK) {
        return;
    }
    check_indexed(&blob, data, size);
    memset(&q, 0, sizeof q);
    decide_checked(&blob, &q, &d);
    check(d.decided == EWL_DECIDED_DEFAULT_DENY);
    /* Every hash section's first and last digest, as either kind of hash. */
    for (section = EWL_HASH_SECTION_FIRST; section <= EWL_HASH_SECTION_LAST; section++) {
        n = blob.sections[section].count;
        for (i = 0; i < n; i += n - 1 > 0 ? n - 1 : 1) {
            const uint8_t *digest = data + blob.sections[section].offset + (size_t)i * 32;
            int authenticode = section <= EWL_SECTION_AUTHENTICODE_DENY;
            check(ewl_find_hash(&blob, section, digest) == i);
            memset(&q, 0, sizeof q);
            q.authenticode_sha256 = authenticode ? digest : NULL;
            q.file_sha256 = authenticode ? NULL : digest;
            decide_checked(&blob, &q, &d);
            /* Found, so decided by a hash rule unless a deny outranks it. */
            check(d.decided != EWL_DECIDED_DEFAULT_DENY && d.decided != EWL_DECIDED_PATH);
            check(section % 2 == 0 || d.decided == (int)section);
        }
    }
    /* Paths made from the first patterns, plainly and with near matches of
     * each segment: the entry must match, so the decision is by a path rule,
     * and by this one or a lower one of the same action unless a deny wins. */
    n = blob.sections[EWL_SECTION_PATH_RULES].count;
    for (i = 0; i < n && i < 32; i++) {
        ewl_path_entry_t e;
        int nearby;
        ewl_path_entry(&blob, i, &e);
        for (nearby = 0; nearby < 2; nearby++) {
            memset(&q, 0, sizeof q);
            q.path = path;
            q.path_len = instantiate(&e, path, nearby);
            decide_checked(&blob, &q, &d);
            /* Unless exceptions take some rules out. */
            check(blob.path_lists != 0 || d.decided == EWL_DECIDED_PATH);
            check(blob.path_lists != 0 || d.action == EWL_ACTION_DENY ||
                  e.action == EWL_ACTION_ALLOW);
            check(blob.path_lists != 0 || d.action != e.action || d.index <= i);
        }
    }
    /* The input's own tail as a path, with and without a hash. */
    memset(&q, 0, sizeof q);
    q.path_len = size / 2 < 128 ? size / 2 : 128;
    for (i = 0; i < q.path_len; i++) {
        path[i] = ewl_load_u16le(data + size - 2 * q.path_len + 2 * i);
    }
    q.path = path;
    decide_checked(&blob, &q, &d);
    q.authenticode_sha256 = size >= 32 ? data + size - 32 : NULL;
    decide_checked(&blob, &q, &d);
    exercise_signers(&blob, &q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    exercise(data, size);
    if (size >= EWL_HEADER_SIZE && size <= EWL_MAX_BLOB_SIZE) {
        /* An exact-size copy, so ASan sees reads past its end. */
        uint8_t *fixed = malloc(size);
        check(fixed != NULL);
        memcpy(fixed, data, size);
        ewl_store_u32le(fixed + EWL_HEADER_BLOB_SIZE_OFFSET, (uint32_t)size);
        ewl_store_u32le(fixed + EWL_HEADER_CHECKSUM_OFFSET, ewl_blob_checksum(fixed, size));
        exercise(fixed, size);
        free(fixed);
    }
    return 0;
}
