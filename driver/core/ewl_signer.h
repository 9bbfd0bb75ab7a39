/* Decoding the signer sections of a 1.1 blob (PUBLISHERS, TEXTS, records):
 * shared by validation (ewl_blob.c) and the lookups (ewl_lookup.c). Internal
 * to the core. */
#ifndef EWL_SIGNER_H
#define EWL_SIGNER_H

#include "ewl_blob.h"
#include "ewl_endian.h"

/* Record i of `size` bytes of a section. */
static inline const uint8_t *ewl_record(const ewl_blob_t *blob, uint32_t section, uint32_t i,
                                        uint32_t size)
{
    return blob->data + blob->sections[section].offset + (size_t)i * size;
}

static inline uint64_t ewl_load_u64le(const uint8_t *p)
{
    return (uint64_t)ewl_load_u32le(p) | (uint64_t)ewl_load_u32le(p + 4) << 32;
}

/* A TBS algorithm's digest size in bytes, 0 for an unknown one. */
static inline uint32_t ewl_tbs_size(uint32_t algorithm)
{
    static const uint8_t sizes[] = {0, EWL_TBS_SIZE_SHA1, EWL_TBS_SIZE_SHA256, EWL_TBS_SIZE_SHA384,
                                    EWL_TBS_SIZE_SHA512};
    return algorithm < sizeof sizes ? sizes[algorithm] : 0;
}

/* A PUBLISHERS entry, decoded. */
typedef struct ewl_publisher {
    uint32_t certificate;
    uint8_t pin;
    uint8_t attribute;
    uint8_t flags;
    uint8_t reserved;
    uint32_t common_name;
    uint32_t value;
    uint64_t min_version;
    uint64_t max_version;
} ewl_publisher_t;

static inline void ewl_publisher_at(const ewl_blob_t *blob, uint32_t i, ewl_publisher_t *p)
{
    const uint8_t *rec = ewl_record(blob, EWL_SECTION_PUBLISHERS, i, EWL_PUBLISHER_SIZE);
    p->certificate = ewl_load_u32le(rec + EWL_PUBLISHER_CERTIFICATE_OFFSET);
    p->pin = rec[EWL_PUBLISHER_PIN_OFFSET];
    p->attribute = rec[EWL_PUBLISHER_ATTRIBUTE_OFFSET];
    p->flags = rec[EWL_PUBLISHER_VERSION_FLAGS_OFFSET];
    p->reserved = rec[EWL_PUBLISHER_RESERVED_OFFSET];
    p->common_name = ewl_load_u32le(rec + EWL_PUBLISHER_COMMON_NAME_OFFSET);
    p->value = ewl_load_u32le(rec + EWL_PUBLISHER_ATTRIBUTE_VALUE_OFFSET);
    p->min_version = ewl_load_u64le(rec + EWL_PUBLISHER_MIN_VERSION_OFFSET);
    p->max_version = ewl_load_u64le(rec + EWL_PUBLISHER_MAX_VERSION_OFFSET);
}

/* TEXTS entry i of a validated blob: its code units (little-endian) in *units. */
static inline uint32_t ewl_text_at(const ewl_blob_t *blob, uint32_t i, const uint8_t **units)
{
    const uint8_t *rec = ewl_record(blob, EWL_SECTION_TEXTS, i, EWL_TEXT_ENTRY_SIZE);
    *units = blob->data + blob->sections[EWL_SECTION_TEXT_DATA].offset +
             ewl_load_u32le(rec + EWL_TEXT_ENTRY_AT_OFFSET);
    return ewl_load_u32le(rec + EWL_TEXT_ENTRY_UNITS_OFFSET);
}

#endif /* EWL_SIGNER_H */
