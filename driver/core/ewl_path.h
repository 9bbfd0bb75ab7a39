/* Decoding PATH_RULES entries: shared by validation (ewl_blob.c) and the
 * lookups (ewl_lookup.c), inline because a path decision decodes dozens of
 * entries and needs only a few fields of each. Internal to the core. */
#ifndef EWL_PATH_H
#define EWL_PATH_H

#include "ewl_blob.h"
#include "ewl_endian.h"

/* The fields of entry i's 24-byte record (§5.1). The string offsets are
 * returned apart: pattern and id point at the start of STRINGS until the
 * offsets are known to be inside it. */
static inline void ewl_path_entry_fields(const ewl_blob_t *blob, uint32_t i, ewl_path_entry_t *out,
                                         uint32_t *pattern_at, uint32_t *id_at,
                                         uint32_t *reserved)
{
    const uint8_t *rec = blob->data + blob->sections[EWL_SECTION_PATH_RULES].offset +
                         (size_t)i * EWL_PATH_RULE_SIZE;
    const uint8_t *strings = blob->data + blob->sections[EWL_SECTION_STRINGS].offset;
    *pattern_at = ewl_load_u32le(rec + EWL_PATH_RULE_PATTERN_AT_OFFSET);
    out->units = ewl_load_u16le(rec + EWL_PATH_RULE_PATTERN_UNITS_OFFSET);
    out->key_units = ewl_load_u16le(rec + EWL_PATH_RULE_KEY_UNITS_OFFSET);
    out->action = rec[EWL_PATH_RULE_ACTION_OFFSET];
    out->group = rec[EWL_PATH_RULE_GROUP_OFFSET];
    *reserved = ewl_load_u16le(rec + EWL_PATH_RULE_RESERVED_OFFSET);
    out->parent = ewl_load_u32le(rec + EWL_PATH_RULE_PARENT_OFFSET);
    *id_at = ewl_load_u32le(rec + EWL_PATH_RULE_ID_AT_OFFSET);
    out->id_len = ewl_load_u32le(rec + EWL_PATH_RULE_ID_BYTES_OFFSET);
    out->pattern = strings;
    out->id = strings;
}

/* Entry i of a validated blob. */
static inline void ewl_path_entry_at(const ewl_blob_t *blob, uint32_t i, ewl_path_entry_t *out)
{
    uint32_t pattern_at, id_at, reserved;
    ewl_path_entry_fields(blob, i, out, &pattern_at, &id_at, &reserved);
    out->pattern += pattern_at;
    out->id += id_at;
}

#endif /* EWL_PATH_H */
