/* The compiled policy blob (docs/blob-format.md): validation and decisions.
 *
 * Portable C99 shared by the kernel driver and the Linux test harness:
 * <stdint.h>/<stddef.h> only, no libc, no allocation, no globals. The blob is
 * validated once, completely (ewl_blob_validate, §7); after success every
 * lookup is in bounds and terminates without further checks, so ewl_decide
 * has no failure path. Both mirror src/exewhitelist/blob/read.py, the
 * reference reader: same code for every input, same decision and deciding
 * rule for every query. */
#ifndef EWL_BLOB_H
#define EWL_BLOB_H

#include <stddef.h>
#include <stdint.h>

#include "ewl_status.h"

/* Section ids 1..EWL_KNOWN_SECTIONS are the required ones (§4). */
#define EWL_KNOWN_SECTIONS EWL_SECTION_HASH_RULE_IDS
/* Ids EWL_SIGNER_SECTION_FIRST..LAST (1.1): all present or all absent. */
#define EWL_SIGNER_SECTION_FIRST EWL_SECTION_PUBLISHER_RULES
#define EWL_SIGNER_SECTION_LAST EWL_SECTION_EXCEPTION_HASHES
#define EWL_SIGNER_SECTIONS (EWL_SIGNER_SECTION_LAST - EWL_SIGNER_SECTION_FIRST + 1)
/* The most signers, and certificates per signer chain, a query carries:
 * more are ignored (ewl_signer_facts_t). */
#define EWL_MAX_SIGNERS 8
#define EWL_MAX_CHAIN 8
/* File attributes of a query: [EWL_ATTRIBUTE_* - 1]. */
#define EWL_ATTRIBUTE_COUNT EWL_ATTRIBUTE_PRODUCT_NAME
/* Variable ids are 1..EWL_VARIABLE_COUNT (EWL_VAR_WINDIR..EWL_VAR_OSDRIVE). */
#define EWL_VARIABLE_COUNT EWL_VAR_OSDRIVE
/* Actions of a decision: the blob's path-rule action numbers. */
#define EWL_ACTION_ALLOW EWL_PATH_ACTION_ALLOW
#define EWL_ACTION_DENY EWL_PATH_ACTION_DENY
/* ewl_decision_t.index of the default deny. */
#define EWL_NO_INDEX 0xffffffffu

typedef struct ewl_section {
    uint32_t offset;
    uint32_t size;
    uint32_t count;
} ewl_section_t;

#define EWL_HASH_INDEX_MAX_BITS 16u

/* An optional index of one hash section, in memory the caller owns
 * (ewl_hash_index_build): the digests whose first `bits` bits are b are
 * entries [start[b], start[b + 1]) of the sorted section. It narrows the
 * binary search to about 8 entries (a few neighbouring cache lines) instead
 * of log2(n) probes spread over the whole section. The blob format does not
 * change, and the answers do not either. */
typedef struct ewl_hash_index {
    const uint32_t *start; /* NULL: no index */
    unsigned bits;
} ewl_hash_index_t;

/* A validated blob: where its sections are. Filled by ewl_blob_validate and
 * meaningful only when it returned EWL_STATUS_OK; it points into the caller's
 * buffer, which must outlive it. */
typedef struct ewl_blob {
    const uint8_t *data;
    size_t size;
    uint32_t flags;
    uint32_t policy_version;
    uint16_t version_minor;
    /* Indexed by section id; [0] is unused. Sections 9-16 are all zero when
     * the blob has none (a 1.0 blob): every lookup in them then finds nothing. */
    ewl_section_t sections[EWL_SIGNER_SECTION_LAST + 1];
    int has_signer_sections;
    /* Path rules of group g are [group_end[g - 1], group_end[g]). */
    uint32_t group_end[EWL_PATH_GROUP_SCAN + 1];
    /* [section - EWL_HASH_SECTION_FIRST]; none after validation. */
    ewl_hash_index_t hash_index[EWL_HASH_SECTIONS];
    /* Path rules whose action is deny: the staged decision's fail-closed rule. */
    uint32_t path_deny_count;
    /* Publisher rules whose action is deny. */
    uint32_t publisher_deny_count;
    /* EWL_DEPENDS_* bits of the inputs any rule or exception tests
     * (staging.policy_uses). */
    unsigned uses;
    /* Some exception tests signer facts (kind PUBLISHER). */
    int has_publisher_exceptions;
    /* Bit k set: some exception is of kind k (EWL_EXCEPTION_KIND_*). */
    unsigned exception_kinds;
    /* EXCEPTION_LISTS entries of path rules (the first ones; the rest are
     * publisher rules'). */
    uint32_t path_lists;
} ewl_blob_t;

/* One decoded PATH_RULES entry of a validated blob (§5.1). */
typedef struct ewl_path_entry {
    const uint8_t *pattern; /* `units` code units, little-endian */
    uint32_t units;
    uint32_t key_units;
    uint32_t parent;
    const uint8_t *id; /* UTF-8, not terminated */
    uint32_t id_len;
    uint8_t action; /* EWL_PATH_ACTION_* */
    uint8_t group;  /* EWL_PATH_GROUP_* */
} ewl_path_entry_t;

/* A string of FOLDED UTF-16 code units (RtlUpcaseUnicodeString's output),
 * not terminated. */
typedef struct ewl_u16str {
    const uint16_t *units;
    size_t len;
} ewl_u16str_t;

/* One certificate of a signer's chain, as publisher conditions pin it: its
 * TBS hash (EWL_TBS_SHA1..EWL_TBS_SHA512; any other algorithm matches no
 * pin) and the digest, of the algorithm's size (EWL_TBS_SIZE_*). */
typedef struct ewl_certificate_ref {
    int algorithm;
    const uint8_t *digest;
} ewl_certificate_ref_t;

/* One valid signer: its certificate first, then each issuer the signature
 * carries (exewhitelist.rules.Signer). */
typedef struct ewl_signer {
    size_t chain_len; /* at most EWL_MAX_CHAIN are looked at */
    ewl_certificate_ref_t chain[EWL_MAX_CHAIN];
    /* The subject common name, UTF-16 code units as the certificate has them
     * (not folded: compared exactly); NULL: it has none. */
    const uint16_t *common_name;
    size_t common_name_len;
} ewl_signer_t;

/* What publisher conditions need of an image (exewhitelist.rules.SignerFacts):
 * its valid signers and version resource. */
typedef struct ewl_signer_facts {
    size_t signer_count; /* at most EWL_MAX_SIGNERS are looked at */
    ewl_signer_t signers[EWL_MAX_SIGNERS];
    /* [EWL_ATTRIBUTE_* - 1]: the version resource's strings, FOLDED by the
     * caller as paths are; units NULL: the file has none. */
    ewl_u16str_t attributes[EWL_ATTRIBUTE_COUNT];
    int has_version;
    uint64_t version; /* VS_FIXEDFILEINFO: a << 48 | b << 32 | c << 16 | d */
} ewl_signer_facts_t;

/* What is known about the image; a NULL member is missing. */
typedef struct ewl_query {
    const uint8_t *authenticode_sha256; /* EWL_HASH_SIZE bytes */
    const uint8_t *file_sha256;         /* EWL_HASH_SIZE bytes */
    const uint16_t *path;               /* folded; may be non-NULL with path_len 0 */
    size_t path_len;
    const ewl_signer_facts_t *signers; /* NULL: no signer facts (no publisher rule matches) */
} ewl_query_t;

/* The values of each path variable, folded, without a trailing backslash:
 * values[id - 1] holds count[id - 1] strings. */
typedef struct ewl_vars {
    const ewl_u16str_t *values[EWL_VARIABLE_COUNT];
    size_t count[EWL_VARIABLE_COUNT];
} ewl_vars_t;

typedef struct ewl_decision {
    int action;   /* EWL_ACTION_ALLOW or EWL_ACTION_DENY */
    int decided;  /* EWL_DECIDED_*: the section that decided (a hash section, PATH or
                     PUBLISHER), or DEFAULT_DENY */
    uint32_t index; /* the deciding entry in that section; EWL_NO_INDEX for the default */
    /* The deciding rule's id (UTF-8 inside the blob); NULL for the default
     * deny and for a hash rule with the default id (then default_id is 1). */
    const uint8_t *rule_id;
    size_t rule_id_len;
    /* 1 when the id is "<kind>:<hex digest>": format it with ewl_default_rule_id. */
    int default_id;
    /* The matching digest inside the blob, for hash decisions; else NULL. */
    const uint8_t *digest;
    int enforced; /* 0 in AUDIT mode: report, never block */
} ewl_decision_t;

/* Validate buf[0, len) completely (§7) and describe it in *out. Returns
 * EWL_STATUS_OK or the pinned code of the first violation. */
ewl_status_t ewl_blob_validate(const uint8_t *buf, size_t len, ewl_blob_t *out);

/* zlib's crc32(crc, p, n): ISO-HDLC, reflected, pre- and post-inverted. */
uint32_t ewl_crc32(uint32_t crc, const uint8_t *p, size_t n);

/* The blob's checksum (§6): the CRC-32 of buf[0, len) without the header's
 * checksum field. len must be at least EWL_HEADER_SIZE. */
uint32_t ewl_blob_checksum(const uint8_t *buf, size_t len);

/* True when p[0, n) is RFC 3629 UTF-8 (no overlong form, surrogate or
 * code point above U+10FFFF), as Python's strict decoder accepts it. */
int ewl_utf8_valid(const uint8_t *p, size_t n);

/* Entry i (< sections[EWL_SECTION_PATH_RULES].count) of a validated blob. */
void ewl_path_entry(const ewl_blob_t *blob, uint32_t i, ewl_path_entry_t *out);

/* Binary search in a hash section (EWL_HASH_SECTION_FIRST..LAST)
 * of a validated blob: the index of digest, or EWL_NO_INDEX. */
uint32_t ewl_find_hash(const ewl_blob_t *blob, uint32_t section, const uint8_t *digest);

/* The index bits worth spending on a section of `count` digests: about 8
 * digests a bucket, at most EWL_HASH_INDEX_MAX_BITS (0 below 16 digests). */
unsigned ewl_hash_index_bits(uint32_t count);

/* The uint32_t entries an index of `bits` bits needs: 2^bits + 1. */
size_t ewl_hash_index_entries(unsigned bits);

/* Build the index of hash section `section` of a validated blob into
 * memory[0, ewl_hash_index_entries(bits)) and attach it to *blob: lookups
 * use it from then on. memory must outlive the blob's use; bits above
 * EWL_HASH_INDEX_MAX_BITS are taken as EWL_HASH_INDEX_MAX_BITS. */
void ewl_hash_index_build(ewl_blob_t *blob, uint32_t section, unsigned bits, uint32_t *memory);

/* Decide (exewhitelist.policy.decide): for deny, then allow: the path rules
 * (lowest index whose pattern matches and none of whose exceptions does),
 * the Authenticode hash section, the file hash section, the publisher rules
 * (lowest index); else the default deny. vars may be NULL (no values). */
void ewl_decide(const ewl_blob_t *blob, const ewl_query_t *query, const ewl_vars_t *vars,
                ewl_decision_t *out);

/* What the caller of ewl_decide_staged knows so far: each input is
 * EWL_FACT_UNKNOWN (not asked for yet), EWL_FACT_KNOWN or EWL_FACT_MISSING
 * (asked for, could not be had). With hash_state KNOWN either digest may
 * still be NULL (a file that is not a PE image has no Authenticode digest). */
typedef struct ewl_facts {
    int path_state;
    const uint16_t *path; /* folded, as ewl_query_t.path */
    size_t path_len;
    int hash_state;
    const uint8_t *authenticode_sha256;
    const uint8_t *file_sha256;
    int signer_state;
    const ewl_signer_facts_t *signers; /* non-NULL when signer_state is KNOWN */
} ewl_facts_t;

typedef struct ewl_verdict {
    int next; /* EWL_NEXT_*: NONE when decided; else ask for that input and call again */
    /* Meaningful only when next is EWL_NEXT_NONE: */
    ewl_decision_t decision;
    unsigned depends; /* EWL_DEPENDS_* bits: the inputs the decision used */
    int reason;       /* EWL_REASON_*; a fail-closed deny is a default deny with its reason */
} ewl_verdict_t;

/* The decision as the driver makes it, one input at a time (docs/policy.md,
 * "The staged decision"; exewhitelist.staging.stage, ported exactly): for
 * each action (deny, then allow) and each input (path, digests, signers),
 * the first matching rule of that action whose own condition tests that
 * input, and the inputs its undecided rules need (a rule whose own input is
 * not KNOWN, or whose exceptions' inputs are not and none KNOWN matches).
 * An undecided rule needing an input not asked for yet asks for the earliest
 * input the blob uses that is UNKNOWN (next); one that could not be had
 * (MISSING) leaves its rules undecided for good: a deny still decides, an
 * allow does not when such a deny rule is left, and the default deny then
 * names the earliest such input (EWL_REASON_NO_PATH/HASH/SIGNER). depends:
 * the inputs the blob uses that are not UNKNOWN. The path rules are matched
 * at most once per call. */
void ewl_decide_staged(const ewl_blob_t *blob, const ewl_facts_t *facts, const ewl_vars_t *vars,
                       ewl_verdict_t *out);

/* Whether the blob has a publisher rule or a PUBLISHER exception: it cannot
 * decide without signer facts (a validated blob). */
int ewl_blob_needs_signers(const ewl_blob_t *blob);

/* Write the default id of a hash decision ("authenticode_sha256:<hex>" or
 * "file_sha256:<hex>", §5.3) to out[0, cap). Returns its length, or 0 when the
 * decision has no default id or cap < EWL_DEFAULT_ID_MAX. */
size_t ewl_default_rule_id(const ewl_decision_t *decision, char *out, size_t cap);

#endif /* EWL_BLOB_H */
