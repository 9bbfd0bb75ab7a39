/* Lookups in a validated blob and the decision of docs/blob-format.md §8.
 *
 * Mirrors Blob.find_hash, matching_path_rules, _indexed and decide of
 * src/exewhitelist/blob/read.py. Nothing here checks bounds: ewl_blob_validate
 * proved every offset, count, string reference and parent pointer, so every
 * loop below terminates and every read is inside the blob. */
#include "ewl_blob.h"
#include "ewl_endian.h"
#include "ewl_path.h"

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

/* The lowest matching path entry index per action (EWL_NO_INDEX: none). */
typedef struct ewl_path_matches {
    uint32_t lowest[EWL_ACTION_DENY + 1];
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

static void ewl_note_match(ewl_path_matches_t *m, const ewl_path_entry_t *e, uint32_t i)
{
    if (i < m->lowest[e->action]) {
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
        if (i < m->lowest[e.action] && e.key_units <= low_common) {
            int matches = e.group == EWL_PATH_GROUP_SUFFIX
                              ? ewl_glob_match(&e, 0, text, 0, len)
                              : ewl_glob_match(&e, e.key_units, text,
                                               e.key_units - (q->has_head ? 1u : 0u), len);
            if (matches) {
                ewl_note_match(m, &e, i);
            }
        }
        i = e.parent;
    }
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

/* Blob.matching_path_rules, keeping only the lowest index of each action
 * (the decision needs no more). */
static void ewl_match_paths(const ewl_blob_t *blob, const ewl_query_t *query,
                            const ewl_vars_t *vars, ewl_path_matches_t *m)
{
    const uint16_t *path = query->path;
    size_t len = query->path_len, v;
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
        if (i < m->lowest[e.action] && ewl_glob_match(&e, 0, path, 0, len)) {
            ewl_note_match(m, &e, i);
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

/* Decide by hash section `section` if digest is in it. */
static int ewl_decide_by_hash(const ewl_blob_t *blob, uint32_t section, const uint8_t *digest,
                              int action, ewl_decision_t *out)
{
    uint32_t index = digest != NULL ? ewl_find_hash(blob, section, digest) : EWL_NO_INDEX;
    if (index != EWL_NO_INDEX) {
        out->action = action;
        out->decided = (int)section;
        out->index = index;
        out->digest = blob->data + blob->sections[section].offset + (size_t)index * EWL_HASH_SIZE;
        ewl_hash_rule_id(blob, section, index, out);
    }
    return index != EWL_NO_INDEX;
}

void ewl_decide(const ewl_blob_t *blob, const ewl_query_t *query, const ewl_vars_t *vars,
                ewl_decision_t *out)
{
    /* The two actions in decision order, with their hash sections. */
    static const int actions[2] = {EWL_ACTION_DENY, EWL_ACTION_ALLOW};
    static const uint32_t authenticode[2] = {EWL_SECTION_AUTHENTICODE_DENY,
                                             EWL_SECTION_AUTHENTICODE_ALLOW};
    static const uint32_t file[2] = {EWL_SECTION_FILE_DENY, EWL_SECTION_FILE_ALLOW};
    ewl_path_matches_t m;
    int decided = 0, paths_matched = 0;
    size_t step;
    m.lowest[0] = m.lowest[EWL_ACTION_ALLOW] = m.lowest[EWL_ACTION_DENY] = EWL_NO_INDEX;
    out->action = EWL_ACTION_DENY;
    out->decided = EWL_DECIDED_DEFAULT_DENY;
    out->index = EWL_NO_INDEX;
    out->rule_id = NULL;
    out->rule_id_len = 0;
    out->default_id = 0;
    out->digest = NULL;
    out->enforced = (blob->flags & EWL_FLAG_AUDIT) == 0;
    for (step = 0; !decided && step < 2; step++) {
        int action = actions[step];
        decided = ewl_decide_by_hash(blob, authenticode[step], query->authenticode_sha256, action,
                                     out) ||
                  ewl_decide_by_hash(blob, file[step], query->file_sha256, action, out);
        if (!decided && query->path != NULL) {
            /* Path rules are matched once, when a decision first needs them. */
            if (!paths_matched) {
                ewl_match_paths(blob, query, vars, &m);
                paths_matched = 1;
            }
            if (m.lowest[action] != EWL_NO_INDEX) {
                ewl_path_entry_t e;
                ewl_path_entry_at(blob, m.lowest[action], &e);
                out->action = action;
                out->decided = EWL_DECIDED_PATH;
                out->index = m.lowest[action];
                out->rule_id = e.id;
                out->rule_id_len = e.id_len;
                decided = 1;
            }
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

static int ewl_section_empty(const ewl_blob_t *blob, uint32_t section)
{
    return blob->sections[section].count == 0;
}

/* A deny for want of an input: the default deny, with its reason. */
static void ewl_fail_closed(const ewl_blob_t *blob, int reason, ewl_verdict_t *out)
{
    static const ewl_query_t nothing = {NULL, NULL, NULL, 0};
    ewl_decide(blob, &nothing, NULL, &out->decision);
    out->reason = reason;
}

void ewl_decide_staged(const ewl_blob_t *blob, const ewl_facts_t *facts, const ewl_vars_t *vars,
                       ewl_verdict_t *out)
{
    int has_paths = !ewl_section_empty(blob, EWL_SECTION_PATH_RULES);
    int has_deny_hashes = !ewl_section_empty(blob, EWL_SECTION_AUTHENTICODE_DENY) ||
                          !ewl_section_empty(blob, EWL_SECTION_FILE_DENY);
    int has_hashes = has_deny_hashes || !ewl_section_empty(blob, EWL_SECTION_AUTHENTICODE_ALLOW) ||
                     !ewl_section_empty(blob, EWL_SECTION_FILE_ALLOW);
    ewl_query_t query = {NULL, NULL, NULL, 0};
    ewl_query_t digests = {NULL, NULL, NULL, 0};
    ewl_decision_t hashed;
    out->next = EWL_NEXT_NONE;
    out->depends = 0;
    out->reason = EWL_REASON_RULE;
    if (has_paths && facts->path_state == EWL_FACT_UNKNOWN) {
        out->next = EWL_NEXT_PATH;
        return;
    }
    if (has_paths && facts->path_state == EWL_FACT_KNOWN) {
        query.path = facts->path;
        query.path_len = facts->path_len;
        out->depends |= EWL_DEPENDS_PATH;
    }
    ewl_decide(blob, &query, vars, &out->decision);
    /* Nothing a digest can say overrides a matching deny path rule, nor a
     * matching allow path rule when no hash rule denies. */
    if (has_hashes && !(out->decision.decided == EWL_DECIDED_PATH &&
                        (out->decision.action == EWL_ACTION_DENY || !has_deny_hashes))) {
        if (facts->hash_state == EWL_FACT_UNKNOWN) {
            out->next = EWL_NEXT_HASH;
            return;
        }
        out->depends |= EWL_DEPENDS_HASH;
        if (facts->hash_state != EWL_FACT_KNOWN) {
            /* The digest could allow it or name a deny rule: without it, deny. */
            ewl_fail_closed(blob, EWL_REASON_NO_HASH, out);
            return;
        }
        /* The path rules were matched above and no deny path rule matched:
         * any hash rule now decides before an allow path rule (§8), so the
         * digests are decided alone and the path is not matched again. */
        digests.authenticode_sha256 = facts->authenticode_sha256;
        digests.file_sha256 = facts->file_sha256;
        ewl_decide(blob, &digests, vars, &hashed);
        if (hashed.decided != EWL_DECIDED_DEFAULT_DENY) {
            out->decision = hashed;
        }
    }
    if (out->decision.action == EWL_ACTION_ALLOW && has_paths &&
        facts->path_state != EWL_FACT_KNOWN && blob->path_deny_count != 0) {
        ewl_fail_closed(blob, EWL_REASON_NO_PATH, out);
    }
}
