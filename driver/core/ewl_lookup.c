/* Lookups in a validated blob and its decisions (docs/blob-format.md §8 and
 * the 1.1 design: path rules, Authenticode, file, publisher rules; deny
 * first; exceptions).
 *
 * Mirrors Blob.find_hash, matching_path_rules, _indexed and decide of
 * src/exewhitelist/blob/read.py, and exewhitelist.staging.stage (_settle,
 * rule_state) for the staged decision: ewl_decide is the staged decision
 * with every input known. Nothing here checks bounds: ewl_blob_validate
 * proved every offset, count, string reference, parent pointer, exception
 * list and index, so every loop below terminates and every read is inside
 * the blob. No recursion, no allocation: the publisher lookup keeps at most
 * EWL_MAX_SIGNERS * EWL_MAX_CHAIN certificate indexes on the stack. */
#include "ewl_blob.h"
#include "ewl_endian.h"
#include "ewl_path.h"
#include "ewl_signer.h"

#define EWL_UNIT_STAR 0x2au     /* '*' */
#define EWL_UNIT_QUESTION 0x3fu /* '?' */

/* A query key Q of §5.2, described without building it (no allocation).
 * Group 1: an optional head unit (a variable token), then units[0, len).
 * Group 2: units[0, len) read backwards (the reversed path). */
typedef struct ewl_key_query {
    const uint16_t *units;
    size_t len;
    uint16_t head;
    int has_head;
} ewl_key_query_t;

/* The facts a rule's condition and its exceptions are checked on: each
 * input's state (EWL_FACT_*) and value. ewl_decide's query has every input
 * KNOWN, a NULL one matching nothing. */
typedef struct ewl_eval {
    int path_state;
    const uint16_t *path;
    size_t path_len;
    int hash_state;
    const uint8_t *authenticode_sha256;
    const uint8_t *file_sha256;
    int signer_state;
    const ewl_signer_facts_t *signers;
    const ewl_vars_t *vars;
} ewl_eval_t;

/* The path rules' part of the staged table (staging.StageState), per
 * action: the lowest matching entry index (EWL_NO_INDEX: none) and the
 * EWL_DEPENDS_* bits that undecided ones need. */
typedef struct ewl_path_matches {
    uint32_t lowest[EWL_ACTION_DENY + 1];
    unsigned undecided[EWL_ACTION_DENY + 1];
    /* Match every candidate, not only those below the lowest match: an
     * undecided rule past it still needs its inputs. */
    int all;
    const ewl_eval_t *eval;
} ewl_path_matches_t;

static uint16_t ewl_pattern_unit(const ewl_path_entry_t *e, size_t k)
{
    return ewl_load_u16le(e->pattern + 2 * k);
}

static size_t ewl_query_len(const ewl_key_query_t *q)
{
    return q->len + (q->has_head ? 1u : 0u);
}

/* Unit k of Q in group `group`. */
static uint16_t ewl_query_unit(const ewl_key_query_t *q, uint8_t group, size_t k)
{
    uint16_t unit;
    if (group == EWL_PATH_GROUP_SUFFIX) {
        unit = q->units[q->len - 1 - k];
    } else if (q->has_head) {
        unit = k == 0 ? q->head : q->units[k - 1];
    } else {
        unit = q->units[k];
    }
    return unit;
}

/* The length of the longest common prefix of e's key and Q, both known to
 * agree on their first k units. Group 1 keys read forwards from the
 * pattern's start, group 2 keys backwards from its end. */
static size_t ewl_common_prefix(const ewl_path_entry_t *e, const ewl_key_query_t *q, size_t k)
{
    size_t key = e->key_units, len = ewl_query_len(q);
    size_t n = key < len ? key : len;
    if (e->group == EWL_PATH_GROUP_SUFFIX) {
        const uint8_t *end = e->pattern + 2 * (size_t)e->units;
        while (k < n && ewl_load_u16le(end - 2 * (k + 1)) == q->units[q->len - 1 - k]) {
            k++;
        }
    } else {
        if (k == 0 && n > 0 && q->has_head) {
            k = ewl_pattern_unit(e, 0) == q->head ? 1 : 0;
            n = k == 0 ? 0 : n;
        }
        while (k < n && ewl_pattern_unit(e, k) == q->units[k - (q->has_head ? 1u : 0u)]) {
            k++;
        }
    }
    return k;
}

/* Whether e's key sorts at or before Q, given their common prefix m: it is
 * a prefix of Q, or differs first by a smaller unit. */
static int ewl_key_at_or_before(const ewl_path_entry_t *e, const ewl_key_query_t *q, size_t m)
{
    uint16_t key_unit;
    int before = m == e->key_units;
    if (!before && m < ewl_query_len(q)) {
        key_unit = e->group == EWL_PATH_GROUP_SUFFIX ? ewl_pattern_unit(e, e->units - 1 - m)
                                                      : ewl_pattern_unit(e, m);
        before = key_unit < ewl_query_unit(q, e->group, m);
    }
    return before;
}

/* Whether the pattern's units [s, s + n) (no '*') match text[t, t + n),
 * '?' matching any unit. */
static int ewl_segment_at(const ewl_path_entry_t *e, size_t s, size_t n, const uint16_t *text,
                          size_t t)
{
    size_t k;
    int matches = 1;
    for (k = 0; matches && k < n; k++) {
        uint16_t unit = ewl_pattern_unit(e, s + k);
        matches = unit == EWL_UNIT_QUESTION || unit == text[t + k];
    }
    return matches;
}

/* The maximal suffix of the needle [s, s + n) (n >= 1) by the unit order,
 * or by its reverse when `reverse`: its start minus one (~0 for the whole
 * needle: unsigned arithmetic wraps back to 0 on the + 1 of every use) and
 * its period in *period. The first step of the two-way algorithm
 * (Crochemore and Perrin 1991), as musl's memmem computes it: O(n)
 * comparisons. */
static size_t ewl_maximal_suffix(const ewl_path_entry_t *e, size_t s, size_t n, int reverse,
                                 size_t *period)
{
    size_t ip = ~(size_t)0, jp = 0, k = 1, p = 1;
    while (jp + k < n) {
        uint16_t a = ewl_pattern_unit(e, s + ip + k), b = ewl_pattern_unit(e, s + jp + k);
        if (a == b) {
            if (k == p) {
                jp += p;
                k = 1;
            } else {
                k++;
            }
        } else if (reverse ? a < b : a > b) {
            jp += k;
            k = 1;
            p = jp - ip;
        } else {
            ip = jp++;
            k = p = 1;
        }
    }
    *period = p;
    return ip;
}

#define EWL_NOT_FOUND (~(size_t)0)

/* The leftmost i in [t, end - n] where the needle [s, s + n) (n >= 1, no
 * wildcard) occurs in text, or EWL_NOT_FOUND. The two-way algorithm: at most
 * about 2 * (end - t) unit comparisons plus O(n) to factor the needle, and
 * O(1) memory (no allocation, no table: musl's byte shift table would need
 * 64 Ki entries for 16-bit units, and only speeds up, never bounds). The
 * needle is cut at its critical factorization ms + 1: the right half is
 * compared left to right, then the left half right to left; a mismatch in
 * the right half shifts by how far it got, a match of the right half by the
 * period, remembering (mem) how much of a periodic needle is known to match
 * already. */
static size_t ewl_two_way(const ewl_path_entry_t *e, size_t s, size_t n, const uint16_t *text,
                          size_t t, size_t end)
{
    size_t ms, p, p0, ms2, k, mem = 0, mem0, found = EWL_NOT_FOUND;
    ms = ewl_maximal_suffix(e, s, n, 0, &p0);
    ms2 = ewl_maximal_suffix(e, s, n, 1, &p);
    if (ms2 + 1 > ms + 1) {
        ms = ms2;
    } else {
        p = p0;
    }
    /* Periodic needle (its first ms + 1 units recur p later)? Then a match
     * of the right half shifts by p and keeps n - p units known; else the
     * shift may be the larger half's length, with nothing kept. */
    for (k = 0; k < ms + 1 && ewl_pattern_unit(e, s + k) == ewl_pattern_unit(e, s + p + k); k++) {
    }
    if (k < ms + 1) {
        /* ms + 1 > 0 here: ms is an index, not the wrapped ~0. */
        mem0 = 0;
        p = (ms > n - ms - 1 ? ms : n - ms - 1) + 1;
    } else {
        mem0 = n - p;
    }
    while (found == EWL_NOT_FOUND && end >= t && end - t >= n) {
        for (k = ms + 1 > mem ? ms + 1 : mem; k < n && ewl_pattern_unit(e, s + k) == text[t + k];
             k++) {
        }
        if (k < n) {
            t += k - ms;
            mem = 0;
        } else {
            for (k = ms + 1; k > mem && ewl_pattern_unit(e, s + k - 1) == text[t + k - 1]; k--) {
            }
            if (k <= mem) {
                found = t;
            } else {
                t += p;
                mem = mem0;
            }
        }
    }
    return found;
}

/* Unit comparisons the plain search below may spend per text position it
 * has passed before it hands over to ewl_two_way. */
#define EWL_PLAIN_SEARCH_BUDGET 4u

/* The leftmost i in [t, end - n] where the needle [s, s + n) (n >= 1, no
 * wildcard) occurs in text, or EWL_NOT_FOUND; linear in end - t. Most
 * needles of real patterns are short (\TEMP\, .EXE) and rare in a path:
 * a plain search (skip to the needle's first unit, compare the rest) finds
 * or rules them out in one pass without factoring the needle, which would
 * cost more than the search. A path made to defeat it (many near matches)
 * makes it spend comparisons faster than it advances: past a budget of
 * EWL_PLAIN_SEARCH_BUDGET per position passed (plus n), the rest of the
 * text goes to the two-way search, so the whole stays linear. */
static size_t ewl_find_literal(const ewl_path_entry_t *e, size_t s, size_t n,
                               const uint16_t *text, size_t t, size_t end)
{
    uint16_t first = ewl_pattern_unit(e, s);
    size_t start = t, spent = 0, k, found = EWL_NOT_FOUND, stop;
    int searching = end >= t && end - t >= n;
    stop = searching ? end - n + 1 : t; /* one past the last place a match can start */
    while (searching) {
        while (t < stop && text[t] != first) {
            t++;
        }
        searching = t < stop;
        if (searching) {
            for (k = 1; k < n && ewl_pattern_unit(e, s + k) == text[t + k]; k++) {
            }
            spent += k;
            if (k == n) {
                found = t;
                searching = 0;
            } else {
                t++;
                if (spent > EWL_PLAIN_SEARCH_BUDGET * (t - start) + n) {
                    /* No match starts before t: the two-way search goes on from there. */
                    found = ewl_two_way(e, s, n, text, t, end);
                    searching = 0;
                }
            }
        }
    }
    return found;
}

/* The leftmost i in [t, end - n] where the segment [s, s + n) (with '?')
 * matches text, or EWL_NOT_FOUND: every place is tried, O((end - t) * n)
 * unit comparisons at worst (docs/policy.md states this bound; the Python
 * twin uses shift-and, which needs n bits of state: too much stack here).
 * A place is first tested on the segment's first literal unit, which rules
 * out most places of a real path at one comparison. */
static size_t ewl_find_wild(const ewl_path_entry_t *e, size_t s, size_t n, const uint16_t *text,
                            size_t t, size_t end)
{
    size_t found = EWL_NOT_FOUND, o = 0;
    uint16_t literal;
    while (o < n && ewl_pattern_unit(e, s + o) == EWL_UNIT_QUESTION) {
        o++;
    }
    literal = o < n ? ewl_pattern_unit(e, s + o) : EWL_UNIT_QUESTION;
    for (; found == EWL_NOT_FOUND && end >= t && end - t >= n; t++) {
        if ((o == n || text[t + o] == literal) && ewl_segment_at(e, s, n, text, t)) {
            found = t;
        }
    }
    return found;
}

/* exewhitelist.rules.path.glob_match on code units: pattern[p, units)
 * against the whole of text[t, len) (the units before p and t are known to
 * match). The pattern is cut at each '*' into segments of '?' and literals:
 * the first must match at t, the last at the end of the text, and each one
 * between them at its leftmost place after the previous one and before the
 * last (the leftmost place never loses a match: the segments after it only
 * get more room). Linear in the text for segments without '?'
 * (ewl_find_literal), O(text * segment) for one with '?' (ewl_find_wild); no
 * recursion, no backtracking. A '*' of the pattern is always a wildcard, also
 * against a '*' in the text. */
static int ewl_glob_match(const ewl_path_entry_t *e, size_t p, const uint16_t *text, size_t t,
                          size_t len)
{
    size_t plen = e->units, first = p, last = plen, head, tail, end, s, stop, found;
    int matches;
    while (first < plen && ewl_pattern_unit(e, first) != EWL_UNIT_STAR) {
        first++;
    }
    if (first == plen) {
        return len - t == plen - p && ewl_segment_at(e, p, plen - p, text, t);
    }
    while (ewl_pattern_unit(e, last - 1) != EWL_UNIT_STAR) {
        last--;
    }
    /* The head [p, first) at t, the tail [last, plen) at the end. */
    head = first - p;
    tail = plen - last;
    matches = len - t >= head + tail && ewl_segment_at(e, p, head, text, t) &&
              ewl_segment_at(e, last, tail, text, len - tail);
    /* The middle segments search text[t + head, len - tail) (unused, so
     * never wrapped, when the ends do not match). */
    t += head;
    end = len - tail;
    /* Each segment between the stars first and last - 1, left to right. */
    for (s = first + 1; matches && s < last; s = stop + 1) {
        int wild = 0;
        for (stop = s; ewl_pattern_unit(e, stop) != EWL_UNIT_STAR; stop++) {
            wild |= ewl_pattern_unit(e, stop) == EWL_UNIT_QUESTION;
        }
        if (stop > s) {
            found = wild ? ewl_find_wild(e, s, stop - s, text, t, end)
                         : ewl_find_literal(e, s, stop - s, text, t, end);
            matches = found != EWL_NOT_FOUND;
            t = found + (stop - s);
        }
    }
    return matches;
}

static int ewl_units_start_with(const uint16_t *s, size_t len, const ewl_u16str_t *prefix)
{
    size_t k;
    int starts = prefix->len <= len;
    for (k = 0; starts && k < prefix->len; k++) {
        starts = s[k] == prefix->units[k];
    }
    return starts;
}

/* Whether a PATH exception's pattern (TEXTS entry `text`, folded tokens
 * with an optional leading variable unit) matches the folded path
 * (PathPattern.matches). */
static int ewl_text_path_matches(const ewl_blob_t *blob, uint32_t text, const uint16_t *path,
                                 size_t len, const ewl_vars_t *vars)
{
    ewl_path_entry_t e;
    const uint8_t *units;
    uint16_t first;
    size_t v;
    int matches = 0;
    e.units = ewl_text_at(blob, text, &units);
    e.pattern = units;
    e.key_units = 0;
    e.parent = EWL_NO_PARENT;
    e.id = NULL;
    e.id_len = 0;
    e.action = 0;
    e.group = EWL_PATH_GROUP_SCAN;
    first = ewl_pattern_unit(&e, 0);
    if (first >= EWL_VARIABLE_TOKEN_BASE && first <= EWL_VARIABLE_TOKEN_LAST) {
        /* Validated: a defined variable. */
        size_t id = (size_t)(first - EWL_VARIABLE_TOKEN_BASE);
        for (v = 0; !matches && vars != NULL && v < vars->count[id - 1]; v++) {
            const ewl_u16str_t *value = &vars->values[id - 1][v];
            matches = ewl_units_start_with(path, len, value) &&
                      ewl_glob_match(&e, 1, path, value->len, len);
        }
    } else {
        matches = ewl_glob_match(&e, 0, path, 0, len);
    }
    return matches;
}

static int ewl_bytes_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
    size_t k;
    int equal = 1;
    for (k = 0; equal && k < n; k++) {
        equal = a[k] == b[k];
    }
    return equal;
}

/* Whether TEXTS entry `text` is exactly the code units s[0, len). */
static int ewl_text_equals(const ewl_blob_t *blob, uint32_t text, const uint16_t *s, size_t len)
{
    const uint8_t *units;
    uint32_t n = ewl_text_at(blob, text, &units), k;
    int equal = s != NULL && len == n;
    for (k = 0; equal && k < n; k++) {
        equal = ewl_load_u16le(units + 2 * (size_t)k) == s[k];
    }
    return equal;
}

/* Whether CERTIFICATES entry i is the certificate ref (algorithm and TBS hash). */
static int ewl_certificate_is(const ewl_blob_t *blob, uint32_t i, const ewl_certificate_ref_t *ref)
{
    const uint8_t *rec = ewl_record(blob, EWL_SECTION_CERTIFICATES, i, EWL_CERTIFICATE_SIZE);
    uint8_t algorithm = rec[EWL_CERTIFICATE_ALGORITHM_OFFSET];
    return ref->digest != NULL && ref->algorithm == (int)algorithm &&
           ewl_bytes_equal(rec + EWL_CERTIFICATE_DIGEST_OFFSET, ref->digest,
                           ewl_tbs_size(algorithm));
}

static size_t ewl_min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* Publisher.matches_as for PUBLISHERS entry i, for an allow rule (or an
 * exception) in *allow and for a deny rule in *deny: they differ only for a
 * lone version bound (WDAC: a deny rule's minimum denies that version and
 * earlier, its maximum that version and later). */
static void ewl_publisher_holds(const ewl_blob_t *blob, uint32_t i, const ewl_signer_facts_t *sf,
                                int *allow, int *deny)
{
    ewl_publisher_t p;
    size_t s, c, signers, chain;
    int has_min, has_max, found = 0;
    *allow = *deny = 0;
    if (sf == NULL || sf->signer_count == 0) {
        return;
    }
    ewl_publisher_at(blob, i, &p);
    if (p.attribute != EWL_ATTRIBUTE_NONE) {
        const ewl_u16str_t *value = &sf->attributes[p.attribute - 1];
        if (!ewl_text_equals(blob, p.value, value->units, value->len)) {
            return;
        }
    }
    has_min = (p.flags & EWL_VERSION_HAS_MIN) != 0;
    has_max = (p.flags & EWL_VERSION_HAS_MAX) != 0;
    if (!has_min && !has_max) {
        *allow = *deny = 1;
    } else if (sf->has_version && has_min && has_max) {
        *allow = *deny = p.min_version <= sf->version && sf->version <= p.max_version;
    } else if (sf->has_version && has_min) {
        *allow = sf->version >= p.min_version;
        *deny = sf->version <= p.min_version;
    } else if (sf->has_version) {
        *allow = sf->version <= p.max_version;
        *deny = sf->version >= p.max_version;
    }
    signers = ewl_min_size(sf->signer_count, EWL_MAX_SIGNERS);
    for (s = 0; !found && (*allow || *deny) && s < signers; s++) {
        const ewl_signer_t *signer = &sf->signers[s];
        chain = ewl_min_size(signer->chain_len, EWL_MAX_CHAIN);
        if (p.common_name != EWL_NONE_INDEX &&
            !ewl_text_equals(blob, p.common_name, signer->common_name, signer->common_name_len)) {
            continue;
        }
        /* leaf: the signer's own certificate; issuer: above it; any: either. */
        if (p.pin == EWL_PIN_LEAF) {
            chain = ewl_min_size(chain, 1);
        }
        for (c = p.pin == EWL_PIN_ISSUER ? 1 : 0; !found && c < chain; c++) {
            found = ewl_certificate_is(blob, p.certificate, &signer->chain[c]);
        }
    }
    *allow = *allow && found;
    *deny = *deny && found;
}

/* The EXCEPTION_LISTS entry of rule `index` of `section` (PATH_RULES or
 * PUBLISHER_RULES): its exceptions are EXCEPTIONS [*first, *first + count);
 * returns count, 0 when the rule has none. */
static uint32_t ewl_exception_list(const ewl_blob_t *blob, uint32_t section, uint32_t index,
                                   uint32_t *first)
{
    uint32_t lo = section == EWL_SECTION_PATH_RULES ? 0 : blob->path_lists;
    uint32_t hi = section == EWL_SECTION_PATH_RULES
                      ? blob->path_lists
                      : blob->sections[EWL_SECTION_EXCEPTION_LISTS].count;
    uint32_t count = 0;
    *first = 0;
    while (count == 0 && lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        const uint8_t *rec =
            ewl_record(blob, EWL_SECTION_EXCEPTION_LISTS, mid, EWL_EXCEPTION_LIST_SIZE);
        uint32_t k = ewl_load_u32le(rec + EWL_EXCEPTION_LIST_INDEX_OFFSET);
        if (k == index) {
            *first = ewl_load_u32le(rec + EWL_EXCEPTION_LIST_FIRST_OFFSET);
            count = ewl_load_u32le(rec + EWL_EXCEPTION_LIST_COUNT_OFFSET);
        } else if (k < index) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return count;
}

/* The exceptions' part of staging.rule_state for a rule whose own condition
 * holds: 1 when an exception whose input is KNOWN matches (the rule does not
 * match); else 0, with *undecided the EWL_DEPENDS_* bits of the exceptions
 * whose inputs are not KNOWN. Exceptions match as allow rules do. */
static int ewl_excepted(const ewl_blob_t *blob, uint32_t section, uint32_t index,
                        const ewl_eval_t *eval, unsigned *undecided)
{
    uint32_t first, count = ewl_exception_list(blob, section, index, &first), k;
    int excepted = 0;
    *undecided = 0;
    for (k = first; !excepted && k < first + count; k++) {
        const uint8_t *rec = ewl_record(blob, EWL_SECTION_EXCEPTIONS, k, EWL_EXCEPTION_SIZE);
        uint8_t kind = rec[EWL_EXCEPTION_KIND_OFFSET];
        uint32_t i = ewl_load_u32le(rec + EWL_EXCEPTION_INDEX_OFFSET);
        const uint8_t *hash = NULL;
        int allow = 0, deny = 0;
        if (kind == EWL_EXCEPTION_KIND_PATH) {
            if (eval->path_state != EWL_FACT_KNOWN) {
                *undecided |= EWL_DEPENDS_PATH;
            } else {
                excepted = eval->path != NULL &&
                           ewl_text_path_matches(blob, i, eval->path, eval->path_len, eval->vars);
            }
        } else if (kind == EWL_EXCEPTION_KIND_PUBLISHER) {
            if (eval->signer_state != EWL_FACT_KNOWN) {
                *undecided |= EWL_DEPENDS_SIGNER;
            } else {
                ewl_publisher_holds(blob, i, eval->signers, &allow, &deny);
                excepted = allow;
            }
        } else if (eval->hash_state != EWL_FACT_KNOWN) {
            *undecided |= EWL_DEPENDS_HASH;
        } else {
            hash = kind == EWL_EXCEPTION_KIND_AUTHENTICODE ? eval->authenticode_sha256
                                                           : eval->file_sha256;
            excepted = hash != NULL &&
                       ewl_bytes_equal(ewl_record(blob, EWL_SECTION_EXCEPTION_HASHES, i,
                                                  EWL_HASH_SIZE),
                                       hash, EWL_HASH_SIZE);
        }
    }
    if (excepted) {
        *undecided = 0;
    }
    return excepted;
}

/* A path rule whose pattern matches: staging.rule_state with its exceptions. */
static void ewl_note_match(const ewl_blob_t *blob, ewl_path_matches_t *m,
                           const ewl_path_entry_t *e, uint32_t i)
{
    unsigned undecided = 0;
    if (blob->path_lists != 0 &&
        ewl_excepted(blob, EWL_SECTION_PATH_RULES, i, m->eval, &undecided)) {
        return;
    }
    if (undecided != 0) {
        m->undecided[e->action] |= undecided;
    } else if (i < m->lowest[e->action]) {
        m->lowest[e->action] = i;
    }
}

/* Blob._indexed: the entries of [lo, hi) (one group, sorted by key) whose key
 * is a prefix of Q and whose pattern matches text[0, len).
 *
 * The last key <= Q is found by binary search, comparing each probe from the
 * common prefix its two bounds share with Q (keys between two sorted keys
 * share their common prefix). Every key that is a prefix of Q is on that
 * entry's parent chain, and each key on the chain is a prefix of that
 * entry's key, so it is a prefix of Q exactly when it is no longer than the
 * entry's common prefix with Q: no comparison is needed along the chain. A
 * group 1 entry's key is the literal start of its pattern, so the match
 * starts after it. */
static void ewl_match_indexed(const ewl_blob_t *blob, uint32_t lo, uint32_t hi,
                              const ewl_key_query_t *q, const uint16_t *text, size_t len,
                              ewl_path_matches_t *m)
{
    uint32_t a = lo, b = hi, i;
    size_t low_common = 0, high_common = 0, common;
    ewl_path_entry_t e;
    while (a < b) {
        uint32_t mid = a + (b - a) / 2;
        ewl_path_entry_at(blob, mid, &e);
        common = ewl_common_prefix(&e, q, low_common < high_common ? low_common : high_common);
        if (ewl_key_at_or_before(&e, q, common)) {
            a = mid + 1;
            low_common = common; /* the common prefix of entry a - 1 */
        } else {
            b = mid;
            high_common = common;
        }
    }
    /* Parents of a group's entries stay in it; EWL_NO_PARENT ends the chain. */
    i = a > lo ? a - 1 : EWL_NO_PARENT;
    while (i != EWL_NO_PARENT) {
        ewl_path_entry_at(blob, i, &e);
        /* An entry at or above the lowest match of its action cannot decide. */
        if ((m->all || i < m->lowest[e.action]) && e.key_units <= low_common) {
            int matches = e.group == EWL_PATH_GROUP_SUFFIX
                              ? ewl_glob_match(&e, 0, text, 0, len)
                              : ewl_glob_match(&e, e.key_units, text,
                                               e.key_units - (q->has_head ? 1u : 0u), len);
            if (matches) {
                ewl_note_match(blob, m, &e, i);
            }
        }
        i = e.parent;
    }
}

/* Blob.matching_path_rules, keeping only the lowest index of each action
 * (the decision needs no more). */
static void ewl_match_paths(const ewl_blob_t *blob, const uint16_t *path, size_t len,
                            const ewl_vars_t *vars, ewl_path_matches_t *m)
{
    size_t v;
    uint32_t id, i;
    ewl_key_query_t q;
    ewl_path_entry_t e;

    /* Group 1, queried by the path itself (unless it starts with a variable
     * unit: only variable rules have such a key, and they match through a
     * variable's value, never the unit itself)... */
    q.units = path;
    q.len = len;
    q.head = 0;
    q.has_head = 0;
    if (len == 0 || path[0] < EWL_VARIABLE_TOKEN_BASE || path[0] > EWL_VARIABLE_TOKEN_LAST) {
        ewl_match_indexed(blob, 0, blob->group_end[EWL_PATH_GROUP_PREFIX], &q, path, len, m);
    }
    /* ...and by each variable token followed by the rest of the path after
     * each value of that variable that is a prefix of it. */
    for (id = 1; vars != NULL && id <= EWL_VARIABLE_COUNT; id++) {
        for (v = 0; v < vars->count[id - 1]; v++) {
            const ewl_u16str_t *value = &vars->values[id - 1][v];
            if (ewl_units_start_with(path, len, value)) {
                q.units = path + value->len;
                q.len = len - value->len;
                q.head = (uint16_t)(EWL_VARIABLE_TOKEN_BASE + id);
                q.has_head = 1;
                ewl_match_indexed(blob, 0, blob->group_end[EWL_PATH_GROUP_PREFIX], &q, q.units,
                                  q.len, m);
            }
        }
    }
    /* Group 2, queried by the reversed path. */
    q.units = path;
    q.len = len;
    q.head = 0;
    q.has_head = 0;
    ewl_match_indexed(blob, blob->group_end[EWL_PATH_GROUP_PREFIX],
                      blob->group_end[EWL_PATH_GROUP_SUFFIX], &q, path, len, m);
    /* Group 3, entry by entry. */
    for (i = blob->group_end[EWL_PATH_GROUP_SUFFIX]; i < blob->group_end[EWL_PATH_GROUP_SCAN];
         i++) {
        ewl_path_entry_at(blob, i, &e);
        if ((m->all || i < m->lowest[e.action]) && ewl_glob_match(&e, 0, path, 0, len)) {
            ewl_note_match(blob, m, &e, i);
        }
    }
}

/* The bucket of a digest in an index of `bits` bits: its first bits. */
static uint32_t ewl_hash_bucket(const uint8_t *digest, unsigned bits)
{
    uint32_t key = (uint32_t)digest[0] << 24 | (uint32_t)digest[1] << 16 |
                   (uint32_t)digest[2] << 8 | (uint32_t)digest[3];
    return bits == 0 ? 0 : key >> (32u - bits);
}

unsigned ewl_hash_index_bits(uint32_t count)
{
    unsigned bits = 0;
    while (bits < EWL_HASH_INDEX_MAX_BITS && (count >> (bits + 3u)) > 1u) {
        bits++;
    }
    return bits;
}

size_t ewl_hash_index_entries(unsigned bits)
{
    return ((size_t)1 << (bits < EWL_HASH_INDEX_MAX_BITS ? bits : EWL_HASH_INDEX_MAX_BITS)) + 1u;
}

void ewl_hash_index_build(ewl_blob_t *blob, uint32_t section, unsigned bits, uint32_t *memory)
{
    const uint8_t *base = blob->data + blob->sections[section].offset;
    uint32_t count = blob->sections[section].count, i = 0, b;
    uint32_t buckets;
    bits = bits < EWL_HASH_INDEX_MAX_BITS ? bits : EWL_HASH_INDEX_MAX_BITS;
    buckets = (uint32_t)1 << bits;
    /* The section is sorted (validation): one pass over it. */
    for (b = 0; b < buckets; b++) {
        while (i < count && ewl_hash_bucket(base + (size_t)i * EWL_HASH_SIZE, bits) < b) {
            i++;
        }
        memory[b] = i;
    }
    memory[buckets] = count;
    blob->hash_index[section - EWL_HASH_SECTION_FIRST].start = memory;
    blob->hash_index[section - EWL_HASH_SECTION_FIRST].bits = bits;
}

uint32_t ewl_find_hash(const ewl_blob_t *blob, uint32_t section, const uint8_t *digest)
{
    const uint8_t *base = blob->data + blob->sections[section].offset;
    const ewl_hash_index_t *index = &blob->hash_index[section - EWL_HASH_SECTION_FIRST];
    uint32_t lo = 0, hi = blob->sections[section].count, found = EWL_NO_INDEX;
    if (index->start != NULL) {
        uint32_t b = ewl_hash_bucket(digest, index->bits);
        lo = index->start[b];
        hi = index->start[b + 1];
    }
    while (found == EWL_NO_INDEX && lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        const uint8_t *probe = base + (size_t)mid * EWL_HASH_SIZE;
        size_t k = 0;
        while (k < EWL_HASH_SIZE && probe[k] == digest[k]) {
            k++;
        }
        if (k == EWL_HASH_SIZE) {
            found = mid;
        } else if (probe[k] < digest[k]) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return found;
}

/* The stored id of hash rule (section, index) in HASH_RULE_IDS, sorted by
 * (section, index); rule_id stays NULL when the rule has the default id. */
static void ewl_hash_rule_id(const ewl_blob_t *blob, uint32_t section, uint32_t index,
                             ewl_decision_t *out)
{
    const uint8_t *base = blob->data + blob->sections[EWL_SECTION_HASH_RULE_IDS].offset;
    const uint8_t *strings = blob->data + blob->sections[EWL_SECTION_STRINGS].offset;
    uint32_t lo = 0, hi = blob->sections[EWL_SECTION_HASH_RULE_IDS].count;
    out->default_id = 1;
    while (out->default_id && lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        const uint8_t *rec = base + (size_t)mid * EWL_RULE_ID_ENTRY_SIZE;
        uint32_t s = ewl_load_u32le(rec + EWL_RULE_ID_ENTRY_SECTION_OFFSET);
        uint32_t k = ewl_load_u32le(rec + EWL_RULE_ID_ENTRY_INDEX_OFFSET);
        if (s == section && k == index) {
            out->default_id = 0;
            out->rule_id = strings + ewl_load_u32le(rec + EWL_RULE_ID_ENTRY_ID_AT_OFFSET);
            out->rule_id_len = ewl_load_u32le(rec + EWL_RULE_ID_ENTRY_ID_BYTES_OFFSET);
        } else if (s < section || (s == section && k < index)) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
}

size_t ewl_default_rule_id(const ewl_decision_t *decision, char *out, size_t cap)
{
    static const char *const prefixes[EWL_HASH_SECTIONS] = EWL_DEFAULT_ID_PREFIXES;
    static const char hex[] = "0123456789abcdef";
    size_t n = 0, k;
    /* decided is a hash section's id whenever the rule has a default id. */
    if (decision->default_id && decision->digest != NULL && cap >= EWL_DEFAULT_ID_MAX &&
        decision->decided >= EWL_HASH_SECTION_FIRST && decision->decided <= EWL_HASH_SECTION_LAST) {
        const char *kind = prefixes[decision->decided - EWL_HASH_SECTION_FIRST];
        for (k = 0; kind[k] != '\0'; k++) {
            out[n++] = kind[k];
        }
        for (k = 0; k < EWL_HASH_SIZE; k++) {
            out[n++] = hex[decision->digest[k] >> 4];
            out[n++] = hex[decision->digest[k] & 0xfu];
        }
    }
    return n;
}

/* One entry of the staged table (staging.StageState): the first matching
 * rule of one action whose own condition tests one input, as (section,
 * index) (index EWL_NO_INDEX: none), and the EWL_DEPENDS_* bits of the
 * inputs its undecided rules need. */
typedef struct ewl_stage {
    uint32_t section;
    uint32_t index;
    unsigned undecided;
} ewl_stage_t;

/* [action] for each input, filled when first needed (the path rules are
 * matched once, for both actions). */
typedef struct ewl_tables {
    ewl_stage_t path[EWL_ACTION_DENY + 1];
    ewl_stage_t hash[EWL_ACTION_DENY + 1];
    ewl_stage_t signer[EWL_ACTION_DENY + 1];
    int have_path, have_hash, have_signer;
} ewl_tables_t;

static void ewl_stage_clear(ewl_stage_t *st, uint32_t section)
{
    st->section = section;
    st->index = EWL_NO_INDEX;
    st->undecided = 0;
}

static int ewl_all_known(const ewl_eval_t *eval)
{
    return eval->path_state == EWL_FACT_KNOWN && eval->hash_state == EWL_FACT_KNOWN &&
           eval->signer_state == EWL_FACT_KNOWN;
}

/* The path rules of each action. */
static void ewl_path_stages(const ewl_blob_t *blob, const ewl_eval_t *eval, ewl_stage_t *st)
{
    uint32_t paths = blob->sections[EWL_SECTION_PATH_RULES].count;
    ewl_path_matches_t m;
    int a;
    for (a = EWL_ACTION_ALLOW; a <= EWL_ACTION_DENY; a++) {
        ewl_stage_clear(&st[a], EWL_SECTION_PATH_RULES);
    }
    if (eval->path_state != EWL_FACT_KNOWN) {
        /* Undecided, whatever their exceptions: they need the path. */
        st[EWL_ACTION_DENY].undecided = blob->path_deny_count != 0 ? EWL_DEPENDS_PATH : 0u;
        st[EWL_ACTION_ALLOW].undecided =
            paths - blob->path_deny_count != 0 ? EWL_DEPENDS_PATH : 0u;
    } else if (eval->path != NULL && paths != 0) {
        m.lowest[0] = m.lowest[EWL_ACTION_ALLOW] = m.lowest[EWL_ACTION_DENY] = EWL_NO_INDEX;
        m.undecided[0] = m.undecided[EWL_ACTION_ALLOW] = m.undecided[EWL_ACTION_DENY] = 0;
        m.all = blob->path_lists != 0 && !ewl_all_known(eval);
        m.eval = eval;
        ewl_match_paths(blob, eval->path, eval->path_len, eval->vars, &m);
        for (a = EWL_ACTION_ALLOW; a <= EWL_ACTION_DENY; a++) {
            st[a].index = m.lowest[a];
            st[a].undecided = m.undecided[a];
        }
    }
}

/* The hash rules of `action`: Authenticode, then file (canonical order). */
static void ewl_hash_stage(const ewl_blob_t *blob, const ewl_eval_t *eval, int action,
                           ewl_stage_t *st)
{
    uint32_t authenticode = action == EWL_ACTION_DENY ? EWL_SECTION_AUTHENTICODE_DENY
                                                      : EWL_SECTION_AUTHENTICODE_ALLOW;
    uint32_t file = action == EWL_ACTION_DENY ? EWL_SECTION_FILE_DENY : EWL_SECTION_FILE_ALLOW;
    ewl_stage_clear(st, authenticode);
    if (eval->hash_state != EWL_FACT_KNOWN) {
        if (blob->sections[authenticode].count != 0 || blob->sections[file].count != 0) {
            st->undecided = EWL_DEPENDS_HASH;
        }
        return;
    }
    if (eval->authenticode_sha256 != NULL) {
        st->index = ewl_find_hash(blob, authenticode, eval->authenticode_sha256);
    }
    if (st->index == EWL_NO_INDEX && eval->file_sha256 != NULL) {
        st->section = file;
        st->index = ewl_find_hash(blob, file, eval->file_sha256);
    }
}

/* The CERTIFICATES index of a signer's certificate, or EWL_NO_INDEX. */
static uint32_t ewl_find_certificate(const ewl_blob_t *blob, const ewl_certificate_ref_t *ref)
{
    uint32_t size = ref->algorithm > 0 ? ewl_tbs_size((uint32_t)ref->algorithm) : 0;
    uint32_t lo = 0, hi = blob->sections[EWL_SECTION_CERTIFICATES].count, found = EWL_NO_INDEX;
    while (size != 0 && ref->digest != NULL && found == EWL_NO_INDEX && lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        const uint8_t *rec = ewl_record(blob, EWL_SECTION_CERTIFICATES, mid, EWL_CERTIFICATE_SIZE);
        int algorithm = rec[EWL_CERTIFICATE_ALGORITHM_OFFSET];
        int order = algorithm < ref->algorithm ? -1 : (algorithm > ref->algorithm ? 1 : 0);
        size_t k = 0;
        if (order == 0) {
            /* Same algorithm: the bytes past the digest are zero in both. */
            const uint8_t *digest = rec + EWL_CERTIFICATE_DIGEST_OFFSET;
            while (k < size && digest[k] == ref->digest[k]) {
                k++;
            }
            order = k == size ? 0 : (digest[k] < ref->digest[k] ? -1 : 1);
        }
        if (order == 0) {
            found = mid;
        } else if (order < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return found;
}

/* The first record of `section` (`size` bytes each, sorted by the u32 at
 * `offset`) whose field is >= value. */
static uint32_t ewl_lower_bound(const ewl_blob_t *blob, uint32_t section, uint32_t size,
                                uint32_t offset, uint32_t value)
{
    uint32_t lo = 0, hi = blob->sections[section].count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (ewl_load_u32le(ewl_record(blob, section, mid, size) + offset) < value) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* The publisher rules of each action. A condition holds only for an image
 * one of whose signers has its certificate: for each distinct certificate
 * of the signers' chains found in CERTIFICATES, the conditions on it are a
 * contiguous range of PUBLISHERS, and the rules of each condition one of
 * PUBLISHER_RULES. */
static void ewl_signer_stages(const ewl_blob_t *blob, const ewl_eval_t *eval, ewl_stage_t *st)
{
    const ewl_signer_facts_t *sf = eval->signers;
    uint32_t seen[EWL_MAX_SIGNERS * EWL_MAX_CHAIN];
    uint32_t publishers = blob->sections[EWL_SECTION_PUBLISHERS].count;
    uint32_t rules = blob->sections[EWL_SECTION_PUBLISHER_RULES].count;
    size_t s, c, k, n_seen = 0, signers, chain;
    int a;
    for (a = EWL_ACTION_ALLOW; a <= EWL_ACTION_DENY; a++) {
        ewl_stage_clear(&st[a], EWL_SECTION_PUBLISHER_RULES);
    }
    if (eval->signer_state != EWL_FACT_KNOWN) {
        st[EWL_ACTION_DENY].undecided =
            blob->publisher_deny_count != 0 ? EWL_DEPENDS_SIGNER : 0u;
        st[EWL_ACTION_ALLOW].undecided =
            rules - blob->publisher_deny_count != 0 ? EWL_DEPENDS_SIGNER : 0u;
        return;
    }
    if (sf == NULL || rules == 0) {
        return;
    }
    signers = ewl_min_size(sf->signer_count, EWL_MAX_SIGNERS);
    for (s = 0; s < signers; s++) {
        chain = ewl_min_size(sf->signers[s].chain_len, EWL_MAX_CHAIN);
        for (c = 0; c < chain; c++) {
            uint32_t cert = ewl_find_certificate(blob, &sf->signers[s].chain[c]);
            uint32_t p, r;
            int fresh = cert != EWL_NO_INDEX;
            for (k = 0; fresh && k < n_seen; k++) {
                fresh = seen[k] != cert;
            }
            if (!fresh) {
                continue;
            }
            seen[n_seen++] = cert;
            p = ewl_lower_bound(blob, EWL_SECTION_PUBLISHERS, EWL_PUBLISHER_SIZE,
                                EWL_PUBLISHER_CERTIFICATE_OFFSET, cert);
            for (; p < publishers &&
                   ewl_load_u32le(ewl_record(blob, EWL_SECTION_PUBLISHERS, p, EWL_PUBLISHER_SIZE) +
                                  EWL_PUBLISHER_CERTIFICATE_OFFSET) == cert;
                 p++) {
                int holds[EWL_ACTION_DENY + 1] = {0, 0, 0};
                ewl_publisher_holds(blob, p, sf, &holds[EWL_ACTION_ALLOW],
                                    &holds[EWL_ACTION_DENY]);
                if (!holds[EWL_ACTION_ALLOW] && !holds[EWL_ACTION_DENY]) {
                    continue;
                }
                r = ewl_lower_bound(blob, EWL_SECTION_PUBLISHER_RULES, EWL_PUBLISHER_RULE_SIZE,
                                    EWL_PUBLISHER_RULE_PUBLISHER_OFFSET, p);
                for (; r < rules; r++) {
                    const uint8_t *rec = ewl_record(blob, EWL_SECTION_PUBLISHER_RULES, r,
                                                    EWL_PUBLISHER_RULE_SIZE);
                    int action = rec[EWL_PUBLISHER_RULE_ACTION_OFFSET];
                    unsigned undecided = 0;
                    if (ewl_load_u32le(rec + EWL_PUBLISHER_RULE_PUBLISHER_OFFSET) != p) {
                        break;
                    }
                    if (!holds[action] ||
                        ewl_excepted(blob, EWL_SECTION_PUBLISHER_RULES, r, eval, &undecided)) {
                        continue;
                    }
                    if (undecided != 0) {
                        st[action].undecided |= undecided;
                    } else if (r < st[action].index) {
                        st[action].index = r;
                    }
                }
            }
        }
    }
}

/* table(action, need) of staging.stage; need is EWL_NEXT_PATH..SIGNER. */
static const ewl_stage_t *ewl_table(const ewl_blob_t *blob, const ewl_eval_t *eval,
                                    ewl_tables_t *t, int action, int need)
{
    const ewl_stage_t *st;
    if (need == EWL_NEXT_PATH) {
        if (!t->have_path) {
            ewl_path_stages(blob, eval, t->path);
            t->have_path = 1;
        }
        st = &t->path[action];
    } else if (need == EWL_NEXT_HASH) {
        if (!t->have_hash) {
            ewl_hash_stage(blob, eval, EWL_ACTION_DENY, &t->hash[EWL_ACTION_DENY]);
            ewl_hash_stage(blob, eval, EWL_ACTION_ALLOW, &t->hash[EWL_ACTION_ALLOW]);
            t->have_hash = 1;
        }
        st = &t->hash[action];
    } else {
        if (!t->have_signer) {
            ewl_signer_stages(blob, eval, t->signer);
            t->have_signer = 1;
        }
        st = &t->signer[action];
    }
    return st;
}

/* staging._settle. */
typedef struct ewl_settled {
    const ewl_stage_t *rule; /* NULL: none */
    unsigned missing;        /* EWL_DEPENDS_* bits */
    unsigned wanted;         /* EWL_DEPENDS_* bits not asked for yet: ask; 0: none */
} ewl_settled_t;

static void ewl_settle(const ewl_blob_t *blob, const ewl_eval_t *eval, ewl_tables_t *t,
                       int action, unsigned unknown, ewl_settled_t *out)
{
    int need;
    out->rule = NULL;
    out->missing = 0;
    out->wanted = 0;
    for (need = EWL_NEXT_PATH; need <= EWL_NEXT_SIGNER; need++) {
        const ewl_stage_t *st = ewl_table(blob, eval, t, action, need);
        if ((st->undecided & unknown) != 0) {
            out->wanted = st->undecided & unknown;
            return;
        }
        out->missing |= st->undecided;
        if (st->index != EWL_NO_INDEX) {
            out->rule = st;
            return;
        }
    }
}

/* The earliest input among EWL_DEPENDS_* bits (not 0): EWL_NEXT_* (equal
 * to EWL_REASON_NO_*). */
static int ewl_earliest(unsigned bits)
{
    return (bits & EWL_DEPENDS_PATH) != 0 ? EWL_NEXT_PATH
           : (bits & EWL_DEPENDS_HASH) != 0 ? EWL_NEXT_HASH
                                            : EWL_NEXT_SIGNER;
}

/* The decision by rule (st's first rule, of `action`), or the default deny
 * for st NULL. */
static void ewl_decision_for(const ewl_blob_t *blob, int action, const ewl_stage_t *st,
                             ewl_decision_t *out)
{
    out->action = EWL_ACTION_DENY;
    out->decided = EWL_DECIDED_DEFAULT_DENY;
    out->index = EWL_NO_INDEX;
    out->rule_id = NULL;
    out->rule_id_len = 0;
    out->default_id = 0;
    out->digest = NULL;
    out->enforced = (blob->flags & EWL_FLAG_AUDIT) == 0;
    if (st == NULL) {
        return;
    }
    out->action = action;
    out->decided = (int)st->section;
    out->index = st->index;
    if (st->section == EWL_SECTION_PATH_RULES) {
        ewl_path_entry_t e;
        ewl_path_entry_at(blob, st->index, &e);
        out->rule_id = e.id;
        out->rule_id_len = e.id_len;
    } else if (st->section == EWL_SECTION_PUBLISHER_RULES) {
        const uint8_t *rec =
            ewl_record(blob, EWL_SECTION_PUBLISHER_RULES, st->index, EWL_PUBLISHER_RULE_SIZE);
        out->rule_id = blob->data + blob->sections[EWL_SECTION_STRINGS].offset +
                       ewl_load_u32le(rec + EWL_PUBLISHER_RULE_ID_AT_OFFSET);
        out->rule_id_len = ewl_load_u32le(rec + EWL_PUBLISHER_RULE_ID_BYTES_OFFSET);
    } else {
        out->digest = ewl_record(blob, st->section, st->index, EWL_HASH_SIZE);
        ewl_hash_rule_id(blob, st->section, st->index, out);
    }
}

/* staging.stage over the blob's rules. */
static void ewl_stage(const ewl_blob_t *blob, const ewl_eval_t *eval, ewl_verdict_t *out)
{
    ewl_tables_t t;
    ewl_settled_t deny, allow;
    unsigned unknown = (eval->path_state == EWL_FACT_UNKNOWN ? (unsigned)EWL_DEPENDS_PATH : 0u) |
                       (eval->hash_state == EWL_FACT_UNKNOWN ? (unsigned)EWL_DEPENDS_HASH : 0u) |
                       (eval->signer_state == EWL_FACT_UNKNOWN ? (unsigned)EWL_DEPENDS_SIGNER : 0u);
    unsigned missing = 0;
    const ewl_stage_t *rule = NULL;
    int action = EWL_ACTION_DENY;
    t.have_path = t.have_hash = t.have_signer = 0;
    out->next = EWL_NEXT_NONE;
    out->depends = blob->uses & ~unknown;
    out->reason = EWL_REASON_RULE;
    ewl_settle(blob, eval, &t, EWL_ACTION_DENY, unknown, &deny);
    if (deny.wanted == 0 && deny.rule != NULL) {
        rule = deny.rule;
    } else if (deny.wanted == 0) {
        ewl_settle(blob, eval, &t, EWL_ACTION_ALLOW, unknown, &allow);
        if (allow.wanted != 0) {
            deny.wanted = allow.wanted;
        } else if (allow.rule != NULL) {
            missing = deny.missing;
            rule = missing == 0 ? allow.rule : NULL;
            action = EWL_ACTION_ALLOW;
        } else {
            missing = allow.missing;
        }
    }
    if (deny.wanted != 0) {
        /* Ask for the earliest input the blob uses that is not known yet. */
        out->next = ewl_earliest((blob->uses | deny.wanted) & unknown);
        out->depends = 0;
        ewl_decision_for(blob, EWL_ACTION_DENY, NULL, &out->decision);
        return;
    }
    if (rule == NULL) {
        action = EWL_ACTION_DENY;
        if (missing != 0) {
            out->reason = ewl_earliest(missing);
        }
    }
    ewl_decision_for(blob, action, rule, &out->decision);
}

void ewl_decide(const ewl_blob_t *blob, const ewl_query_t *query, const ewl_vars_t *vars,
                ewl_decision_t *out)
{
    ewl_eval_t eval;
    ewl_verdict_t v;
    eval.path_state = eval.hash_state = eval.signer_state = EWL_FACT_KNOWN;
    eval.path = query->path;
    eval.path_len = query->path_len;
    eval.authenticode_sha256 = query->authenticode_sha256;
    eval.file_sha256 = query->file_sha256;
    eval.signers = query->signers;
    eval.vars = vars;
    ewl_stage(blob, &eval, &v);
    *out = v.decision;
}

int ewl_blob_needs_signers(const ewl_blob_t *blob)
{
    return blob->sections[EWL_SECTION_PUBLISHER_RULES].count != 0 ||
           blob->has_publisher_exceptions;
}

void ewl_decide_staged(const ewl_blob_t *blob, const ewl_facts_t *facts, const ewl_vars_t *vars,
                       ewl_verdict_t *out)
{
    ewl_eval_t eval;
    eval.path_state = facts->path_state;
    eval.path = facts->path_state == EWL_FACT_KNOWN ? facts->path : NULL;
    eval.path_len = facts->path_state == EWL_FACT_KNOWN ? facts->path_len : 0;
    eval.hash_state = facts->hash_state;
    eval.authenticode_sha256 =
        facts->hash_state == EWL_FACT_KNOWN ? facts->authenticode_sha256 : NULL;
    eval.file_sha256 = facts->hash_state == EWL_FACT_KNOWN ? facts->file_sha256 : NULL;
    eval.signer_state = facts->signer_state;
    eval.signers = facts->signer_state == EWL_FACT_KNOWN ? facts->signers : NULL;
    eval.vars = vars;
    ewl_stage(blob, &eval, out);
}
