/* Blob validation: docs/blob-format.md §7, step by step, in the order of
 * src/exewhitelist/blob/read.py, so that the first violation gives the same
 * pinned code in both.
 *
 * Every offset check is written so that it cannot wrap: "n > len - off" after
 * "off <= len", never "off + n > len". Fields are u32 and the blob is at most
 * 64 MiB, but size_t may be 32 bits in the kernel, and the checks must not
 * depend on that. */
#include "ewl_blob.h"
#include "ewl_endian.h"
#include "ewl_path.h"
#include "ewl_signer.h"

/* CRC-32 ISO-HDLC, reflected polynomial 0xEDB88320: crc_table[n] is the CRC
 * of the byte n. A table computed once would be a global; this one is const. */
static const uint32_t crc_table[256] = {
    0x00000000u, 0x77073096u, 0xee0e612cu, 0x990951bau, 0x076dc419u, 0x706af48fu,
    0xe963a535u, 0x9e6495a3u, 0x0edb8832u, 0x79dcb8a4u, 0xe0d5e91eu, 0x97d2d988u,
    0x09b64c2bu, 0x7eb17cbdu, 0xe7b82d07u, 0x90bf1d91u, 0x1db71064u, 0x6ab020f2u,
    0xf3b97148u, 0x84be41deu, 0x1adad47du, 0x6ddde4ebu, 0xf4d4b551u, 0x83d385c7u,
    0x136c9856u, 0x646ba8c0u, 0xfd62f97au, 0x8a65c9ecu, 0x14015c4fu, 0x63066cd9u,
    0xfa0f3d63u, 0x8d080df5u, 0x3b6e20c8u, 0x4c69105eu, 0xd56041e4u, 0xa2677172u,
    0x3c03e4d1u, 0x4b04d447u, 0xd20d85fdu, 0xa50ab56bu, 0x35b5a8fau, 0x42b2986cu,
    0xdbbbc9d6u, 0xacbcf940u, 0x32d86ce3u, 0x45df5c75u, 0xdcd60dcfu, 0xabd13d59u,
    0x26d930acu, 0x51de003au, 0xc8d75180u, 0xbfd06116u, 0x21b4f4b5u, 0x56b3c423u,
    0xcfba9599u, 0xb8bda50fu, 0x2802b89eu, 0x5f058808u, 0xc60cd9b2u, 0xb10be924u,
    0x2f6f7c87u, 0x58684c11u, 0xc1611dabu, 0xb6662d3du, 0x76dc4190u, 0x01db7106u,
    0x98d220bcu, 0xefd5102au, 0x71b18589u, 0x06b6b51fu, 0x9fbfe4a5u, 0xe8b8d433u,
    0x7807c9a2u, 0x0f00f934u, 0x9609a88eu, 0xe10e9818u, 0x7f6a0dbbu, 0x086d3d2du,
    0x91646c97u, 0xe6635c01u, 0x6b6b51f4u, 0x1c6c6162u, 0x856530d8u, 0xf262004eu,
    0x6c0695edu, 0x1b01a57bu, 0x8208f4c1u, 0xf50fc457u, 0x65b0d9c6u, 0x12b7e950u,
    0x8bbeb8eau, 0xfcb9887cu, 0x62dd1ddfu, 0x15da2d49u, 0x8cd37cf3u, 0xfbd44c65u,
    0x4db26158u, 0x3ab551ceu, 0xa3bc0074u, 0xd4bb30e2u, 0x4adfa541u, 0x3dd895d7u,
    0xa4d1c46du, 0xd3d6f4fbu, 0x4369e96au, 0x346ed9fcu, 0xad678846u, 0xda60b8d0u,
    0x44042d73u, 0x33031de5u, 0xaa0a4c5fu, 0xdd0d7cc9u, 0x5005713cu, 0x270241aau,
    0xbe0b1010u, 0xc90c2086u, 0x5768b525u, 0x206f85b3u, 0xb966d409u, 0xce61e49fu,
    0x5edef90eu, 0x29d9c998u, 0xb0d09822u, 0xc7d7a8b4u, 0x59b33d17u, 0x2eb40d81u,
    0xb7bd5c3bu, 0xc0ba6cadu, 0xedb88320u, 0x9abfb3b6u, 0x03b6e20cu, 0x74b1d29au,
    0xead54739u, 0x9dd277afu, 0x04db2615u, 0x73dc1683u, 0xe3630b12u, 0x94643b84u,
    0x0d6d6a3eu, 0x7a6a5aa8u, 0xe40ecf0bu, 0x9309ff9du, 0x0a00ae27u, 0x7d079eb1u,
    0xf00f9344u, 0x8708a3d2u, 0x1e01f268u, 0x6906c2feu, 0xf762575du, 0x806567cbu,
    0x196c3671u, 0x6e6b06e7u, 0xfed41b76u, 0x89d32be0u, 0x10da7a5au, 0x67dd4accu,
    0xf9b9df6fu, 0x8ebeeff9u, 0x17b7be43u, 0x60b08ed5u, 0xd6d6a3e8u, 0xa1d1937eu,
    0x38d8c2c4u, 0x4fdff252u, 0xd1bb67f1u, 0xa6bc5767u, 0x3fb506ddu, 0x48b2364bu,
    0xd80d2bdau, 0xaf0a1b4cu, 0x36034af6u, 0x41047a60u, 0xdf60efc3u, 0xa867df55u,
    0x316e8eefu, 0x4669be79u, 0xcb61b38cu, 0xbc66831au, 0x256fd2a0u, 0x5268e236u,
    0xcc0c7795u, 0xbb0b4703u, 0x220216b9u, 0x5505262fu, 0xc5ba3bbeu, 0xb2bd0b28u,
    0x2bb45a92u, 0x5cb36a04u, 0xc2d7ffa7u, 0xb5d0cf31u, 0x2cd99e8bu, 0x5bdeae1du,
    0x9b64c2b0u, 0xec63f226u, 0x756aa39cu, 0x026d930au, 0x9c0906a9u, 0xeb0e363fu,
    0x72076785u, 0x05005713u, 0x95bf4a82u, 0xe2b87a14u, 0x7bb12baeu, 0x0cb61b38u,
    0x92d28e9bu, 0xe5d5be0du, 0x7cdcefb7u, 0x0bdbdf21u, 0x86d3d2d4u, 0xf1d4e242u,
    0x68ddb3f8u, 0x1fda836eu, 0x81be16cdu, 0xf6b9265bu, 0x6fb077e1u, 0x18b74777u,
    0x88085ae6u, 0xff0f6a70u, 0x66063bcau, 0x11010b5cu, 0x8f659effu, 0xf862ae69u,
    0x616bffd3u, 0x166ccf45u, 0xa00ae278u, 0xd70dd2eeu, 0x4e048354u, 0x3903b3c2u,
    0xa7672661u, 0xd06016f7u, 0x4969474du, 0x3e6e77dbu, 0xaed16a4au, 0xd9d65adcu,
    0x40df0b66u, 0x37d83bf0u, 0xa9bcae53u, 0xdebb9ec5u, 0x47b2cf7fu, 0x30b5ffe9u,
    0xbdbdf21cu, 0xcabac28au, 0x53b39330u, 0x24b4a3a6u, 0xbad03605u, 0xcdd70693u,
    0x54de5729u, 0x23d967bfu, 0xb3667a2eu, 0xc4614ab8u, 0x5d681b02u, 0x2a6f2b94u,
    0xb40bbe37u, 0xc30c8ea1u, 0x5a05df1bu, 0x2d02ef8du
};

uint32_t ewl_crc32(uint32_t crc, const uint8_t *p, size_t n)
{
    size_t i;
    crc = ~crc;
    for (i = 0; i < n; i++) {
        crc = crc_table[(crc ^ p[i]) & 0xffu] ^ (crc >> 8);
    }
    return ~crc;
}

int ewl_utf8_valid(const uint8_t *p, size_t n)
{
    size_t i = 0;
    int ok = 1;
    while (ok && i < n) {
        uint8_t b = p[i];
        size_t extra = 0;
        uint8_t lo = 0x80, hi = 0xbf; /* range of the first continuation byte */
        if (b < 0x80) {
            extra = 0;
        } else if (b >= 0xc2 && b <= 0xdf) {
            extra = 1;
        } else if (b >= 0xe0 && b <= 0xef) {
            extra = 2;
            if (b == 0xe0) {
                lo = 0xa0; /* below: overlong */
            } else if (b == 0xed) {
                hi = 0x9f; /* above: surrogates */
            }
        } else if (b >= 0xf0 && b <= 0xf4) {
            extra = 3;
            if (b == 0xf0) {
                lo = 0x90; /* below: overlong */
            } else if (b == 0xf4) {
                hi = 0x8f; /* above: past U+10FFFF */
            }
        } else {
            ok = 0; /* 0x80-0xc1 (continuation, overlong lead) and 0xf5-0xff */
        }
        if (ok && extra > n - i - 1) {
            ok = 0; /* truncated sequence */
        }
        if (ok && extra > 0) {
            size_t k;
            ok = p[i + 1] >= lo && p[i + 1] <= hi;
            for (k = 2; ok && k <= extra; k++) {
                ok = p[i + k] >= 0x80 && p[i + k] <= 0xbf;
            }
        }
        i += extra + 1;
    }
    return ok;
}

static int ewl_bytes_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
    size_t i;
    int equal = 1;
    for (i = 0; equal && i < n; i++) {
        equal = a[i] == b[i];
    }
    return equal;
}

static int ewl_all_zero(const uint8_t *p, size_t n)
{
    size_t i;
    int zero = 1;
    for (i = 0; zero && i < n; i++) {
        zero = p[i] == 0;
    }
    return zero;
}

/* Zero bytes that round n up to a multiple of EWL_ALIGNMENT. */
static uint32_t ewl_padding(uint32_t n)
{
    return (EWL_ALIGNMENT - n % EWL_ALIGNMENT) % EWL_ALIGNMENT;
}

uint32_t ewl_blob_checksum(const uint8_t *buf, size_t len)
{
    const size_t after = EWL_HEADER_CHECKSUM_OFFSET + sizeof(uint32_t);
    return ewl_crc32(ewl_crc32(0, buf, EWL_HEADER_CHECKSUM_OFFSET), buf + after, len - after);
}

/* Steps 1-7: the header. */
static ewl_status_t ewl_check_header(const uint8_t *buf, size_t len)
{
    static const uint8_t magic[EWL_MAGIC_SIZE] = EWL_MAGIC_BYTES;
    ewl_status_t status = EWL_STATUS_OK;
    if (len < EWL_HEADER_SIZE) {
        status = EWL_STATUS_TRUNCATED;
    } else if (!ewl_bytes_equal(buf + EWL_HEADER_MAGIC_OFFSET, magic, EWL_MAGIC_SIZE)) {
        status = EWL_STATUS_BAD_MAGIC;
    } else if (ewl_load_u16le(buf + EWL_HEADER_VERSION_MAJOR_OFFSET) != EWL_VERSION_MAJOR) {
        status = EWL_STATUS_VERSION;
    } else if (ewl_load_u32le(buf + EWL_HEADER_HEADER_SIZE_OFFSET) != EWL_HEADER_SIZE) {
        status = EWL_STATUS_HEADER_SIZE;
    } else if ((size_t)ewl_load_u32le(buf + EWL_HEADER_BLOB_SIZE_OFFSET) != len ||
               len > EWL_MAX_BLOB_SIZE) {
        status = EWL_STATUS_SIZE_MISMATCH;
    } else if (ewl_load_u32le(buf + EWL_HEADER_CHECKSUM_OFFSET) != ewl_blob_checksum(buf, len)) {
        status = EWL_STATUS_CHECKSUM;
    } else if ((ewl_load_u32le(buf + EWL_HEADER_FLAGS_OFFSET) & ~EWL_KNOWN_FLAGS) != 0 ||
               !ewl_all_zero(buf + EWL_HEADER_RESERVED_OFFSET,
                             EWL_HEADER_SIZE - EWL_HEADER_RESERVED_OFFSET)) {
        status = EWL_STATUS_RESERVED;
    }
    return status;
}

/* Steps 8-9: the directory's size, then its ids. */
static ewl_status_t ewl_check_directory(const uint8_t *buf, size_t len, uint32_t count)
{
    ewl_status_t status = EWL_STATUS_OK;
    uint32_t i, previous = 0, known = 0, signer = 0;
    /* count <= 64 first, so the product cannot wrap. */
    if (count > EWL_MAX_SECTIONS ||
        (size_t)EWL_HEADER_SIZE + (size_t)EWL_SECTION_ENTRY_SIZE * count > len) {
        status = EWL_STATUS_SECTION_DIRECTORY;
    }
    for (i = 0; status == EWL_STATUS_OK && i < count; i++) {
        uint32_t id = ewl_load_u32le(buf + EWL_HEADER_SIZE + EWL_SECTION_ENTRY_SIZE * i +
                                     EWL_SECTION_ENTRY_ID_OFFSET);
        int is_known = id >= 1 && id <= EWL_KNOWN_SECTIONS;
        int is_signer = id >= EWL_SIGNER_SECTION_FIRST && id <= EWL_SIGNER_SECTION_LAST;
        if (id <= previous || !(is_known || is_signer || id >= EWL_FIRST_OPTIONAL_SECTION)) {
            status = EWL_STATUS_SECTION_ORDER;
        }
        known += is_known ? 1u : 0u;
        signer += is_signer ? 1u : 0u;
        previous = id;
    }
    /* Ids are strictly increasing, so all are present when all are counted;
     * the signer sections (1.1) all or none (step 16). */
    if (status == EWL_STATUS_OK &&
        (known != EWL_KNOWN_SECTIONS || (signer != 0 && signer != EWL_SIGNER_SECTIONS))) {
        status = EWL_STATUS_SECTION_ORDER;
    }
    return status;
}

/* Whether the (checked) directory lists the signer sections. */
static int ewl_signer_sections_present(const uint8_t *buf, uint32_t count)
{
    uint32_t i;
    int present = 0;
    for (i = 0; i < count; i++) {
        present |= ewl_load_u32le(buf + EWL_HEADER_SIZE + EWL_SECTION_ENTRY_SIZE * i +
                                  EWL_SECTION_ENTRY_ID_OFFSET) == EWL_SIGNER_SECTION_FIRST;
    }
    return present;
}

/* Step 10: the canonical layout, then the zero padding; records the known
 * sections in out. */
static ewl_status_t ewl_check_layout(const uint8_t *buf, size_t len, uint32_t count,
                                     ewl_blob_t *out)
{
    ewl_status_t status = EWL_STATUS_OK;
    const uint8_t *dir = buf + EWL_HEADER_SIZE;
    size_t directory_end = EWL_HEADER_SIZE + (size_t)EWL_SECTION_ENTRY_SIZE * count;
    /* size_t: the running end can pass len by up to 7 before it is compared. */
    size_t expected = directory_end + ewl_padding((uint32_t)directory_end);
    size_t padding_start = directory_end;
    uint32_t i;
    for (i = 0; status == EWL_STATUS_OK && i < count; i++) {
        const uint8_t *entry = dir + EWL_SECTION_ENTRY_SIZE * i;
        uint32_t id = ewl_load_u32le(entry + EWL_SECTION_ENTRY_ID_OFFSET);
        uint32_t offset = ewl_load_u32le(entry + EWL_SECTION_ENTRY_AT_OFFSET);
        uint32_t size = ewl_load_u32le(entry + EWL_SECTION_ENTRY_SIZE_OFFSET);
        if ((size_t)offset != expected || offset > len || size > len - offset) {
            status = EWL_STATUS_SECTION_LAYOUT;
        } else {
            expected = (size_t)offset + size + ewl_padding(size);
            if (id <= EWL_SIGNER_SECTION_LAST) {
                out->sections[id].offset = offset;
                out->sections[id].size = size;
                out->sections[id].count = ewl_load_u32le(entry + EWL_SECTION_ENTRY_COUNT_OFFSET);
            }
        }
    }
    if (status == EWL_STATUS_OK && expected != len) {
        status = EWL_STATUS_SECTION_LAYOUT;
    }
    /* With the layout canonical, each gap lies between two sections, in order. */
    for (i = 0; status == EWL_STATUS_OK && i < count; i++) {
        const uint8_t *entry = dir + EWL_SECTION_ENTRY_SIZE * i;
        uint32_t offset = ewl_load_u32le(entry + EWL_SECTION_ENTRY_AT_OFFSET);
        if (!ewl_all_zero(buf + padding_start, offset - padding_start)) {
            status = EWL_STATUS_SECTION_LAYOUT;
        }
        padding_start = (size_t)offset + ewl_load_u32le(entry + EWL_SECTION_ENTRY_SIZE_OFFSET);
    }
    if (status == EWL_STATUS_OK && !ewl_all_zero(buf + padding_start, len - padding_start)) {
        status = EWL_STATUS_SECTION_LAYOUT;
    }
    return status;
}

/* Step 11: sizes against counts, for the known sections in id order. */
static ewl_status_t ewl_check_section_sizes(const ewl_blob_t *blob)
{
    ewl_status_t status = EWL_STATUS_OK;
    uint32_t id;
    for (id = 1; status == EWL_STATUS_OK && id <= EWL_KNOWN_SECTIONS; id++) {
        const ewl_section_t *s = &blob->sections[id];
        uint64_t entry_size = 0;
        if (id >= EWL_HASH_SECTION_FIRST && id <= EWL_HASH_SECTION_LAST) {
            entry_size = EWL_HASH_SIZE;
        } else if (id == EWL_SECTION_PATH_RULES) {
            entry_size = EWL_PATH_RULE_SIZE;
        } else if (id == EWL_SECTION_HASH_RULE_IDS) {
            entry_size = EWL_RULE_ID_ENTRY_SIZE;
        }
        /* METADATA and STRINGS are not arrays: their count must be 0. */
        if (entry_size == 0 ? s->count != 0 : (uint64_t)s->count * entry_size != s->size) {
            status = EWL_STATUS_SECTION_SIZE;
        }
    }
    return status;
}

/* Step 13: each hash section strictly ascending. */
static ewl_status_t ewl_check_hash_order(const ewl_blob_t *blob)
{
    ewl_status_t status = EWL_STATUS_OK;
    uint32_t id, i;
    for (id = EWL_HASH_SECTION_FIRST; id <= EWL_HASH_SECTION_LAST; id++) {
        const uint8_t *hashes = blob->data + blob->sections[id].offset;
        for (i = 1; status == EWL_STATUS_OK && i < blob->sections[id].count; i++) {
            const uint8_t *a = hashes + (size_t)(i - 1) * EWL_HASH_SIZE;
            const uint8_t *b = a + EWL_HASH_SIZE;
            size_t k = 0;
            while (k < EWL_HASH_SIZE && a[k] == b[k]) {
                k++;
            }
            if (k == EWL_HASH_SIZE || a[k] > b[k]) {
                status = EWL_STATUS_HASH_ORDER;
            }
        }
    }
    return status;
}

/* Unit k of an entry's pattern. */
static uint16_t ewl_unit(const ewl_path_entry_t *e, uint32_t k)
{
    return ewl_load_u16le(e->pattern + 2 * (size_t)k);
}

/* Unit k of an entry's index key (§5.2): group 2 keys read backwards. */
static uint16_t ewl_key_unit(const ewl_path_entry_t *e, uint32_t k)
{
    return ewl_unit(e, e->group == EWL_PATH_GROUP_SUFFIX ? e->units - 1 - k : k);
}

static int ewl_is_wildcard(uint16_t unit)
{
    return unit == 0x2a || unit == 0x3f; /* '*' and '?' */
}

/* Compare two entries' keys: <0, 0 or >0, a proper prefix first. */
static int ewl_key_compare(const ewl_path_entry_t *a, const ewl_path_entry_t *b)
{
    uint32_t n = a->key_units < b->key_units ? a->key_units : b->key_units;
    uint32_t k = 0;
    int result;
    while (k < n && ewl_key_unit(a, k) == ewl_key_unit(b, k)) {
        k++;
    }
    if (k < n) {
        result = ewl_key_unit(a, k) < ewl_key_unit(b, k) ? -1 : 1;
    } else {
        result = a->key_units < b->key_units ? -1 : (a->key_units > b->key_units ? 1 : 0);
    }
    return result;
}

/* True when prefix's key is a prefix of (or equal to) e's key. */
static int ewl_key_is_prefix(const ewl_path_entry_t *prefix, const ewl_path_entry_t *e)
{
    uint32_t k;
    int is_prefix = prefix->key_units <= e->key_units;
    for (k = 0; is_prefix && k < prefix->key_units; k++) {
        is_prefix = ewl_key_unit(prefix, k) == ewl_key_unit(e, k);
    }
    return is_prefix;
}

/* Step 14b (except the string references, checked before): PATH_RULE. */
static int ewl_path_entry_ok(const ewl_path_entry_t *e, uint32_t reserved)
{
    int ok = (e->action == EWL_PATH_ACTION_ALLOW || e->action == EWL_PATH_ACTION_DENY) &&
             e->group >= EWL_PATH_GROUP_PREFIX && e->group <= EWL_PATH_GROUP_SCAN &&
             reserved == 0;
    uint32_t k, n = e->units, key = e->key_units;
    for (k = 0; ok && k < n; k++) {
        uint16_t unit = ewl_unit(e, k);
        if (unit < 0x20) {
            ok = 0;
        } else if (unit >= EWL_VARIABLE_TOKEN_BASE && unit <= EWL_VARIABLE_TOKEN_LAST) {
            /* A variable only as the first unit, and only a defined one. */
            ok = k == 0 && unit != EWL_VARIABLE_TOKEN_BASE &&
                 unit <= EWL_VARIABLE_TOKEN_BASE + EWL_VARIABLE_COUNT;
        }
    }
    if (ok && e->group == EWL_PATH_GROUP_PREFIX) {
        /* The key: the units before the first wildcard. */
        ok = key >= 1 && key <= n && (key == n || ewl_is_wildcard(ewl_unit(e, key)));
        for (k = 0; ok && k < key; k++) {
            ok = !ewl_is_wildcard(ewl_unit(e, k));
        }
    } else if (ok && e->group == EWL_PATH_GROUP_SUFFIX) {
        /* The key: the units after the last wildcard; the pattern starts with one. */
        ok = key >= 1 && key < n && ewl_is_wildcard(ewl_unit(e, 0)) &&
             ewl_is_wildcard(ewl_unit(e, n - key - 1));
        for (k = n - key; ok && k < n; k++) {
            ok = !ewl_is_wildcard(ewl_unit(e, k));
        }
    } else if (ok) {
        ok = key == 0 && ewl_is_wildcard(ewl_unit(e, 0)) && ewl_is_wildcard(ewl_unit(e, n - 1));
    }
    return ok;
}

/* Step 14e: the last earlier entry of the same group whose key is a prefix of
 * e's, found on the previous entry's parent chain (every candidate is on it,
 * since the earlier entries are sorted); EWL_NO_PARENT when there is none. */
static uint32_t ewl_expected_parent(const ewl_blob_t *blob, uint32_t i, const ewl_path_entry_t *e)
{
    uint32_t parent = EWL_NO_PARENT;
    uint32_t j = i - 1; /* wraps to EWL_NO_PARENT for i == 0 */
    int searching = e->group != EWL_PATH_GROUP_SCAN;
    while (searching && j != EWL_NO_PARENT) {
        ewl_path_entry_t candidate;
        ewl_path_entry_at(blob, j, &candidate);
        if (candidate.group != e->group) {
            searching = 0;
        } else if (ewl_key_is_prefix(&candidate, e)) {
            parent = j;
            searching = 0;
        } else {
            /* Validated already: the parent is EWL_NO_PARENT or below j. */
            j = candidate.parent;
        }
    }
    return parent;
}

void ewl_path_entry(const ewl_blob_t *blob, uint32_t i, ewl_path_entry_t *out)
{
    ewl_path_entry_at(blob, i, out);
}

/* A reference [at, at + n) with min <= n <= max inside a pool of pool bytes. */
static int ewl_ref_ok(uint32_t at, uint32_t n, uint32_t min, uint32_t max, uint32_t pool)
{
    return n >= min && n <= max && at <= pool && n <= pool - at;
}

/* A rule id: valid UTF-8 without control characters (U+0000-U+001F,
 * U+007F-U+009F), so that every id a blob carries can be printed in an event
 * and written back to a policy file. In valid UTF-8, C1 controls are 0xc2
 * followed by 0x80-0x9f, and 0xc2 is never a continuation byte. */
static int ewl_rule_id_valid(const uint8_t *p, size_t n)
{
    size_t i;
    int ok = ewl_utf8_valid(p, n);
    for (i = 0; ok && i < n; i++) {
        ok = p[i] >= 0x20 && p[i] != 0x7f && !(p[i] == 0xc2 && i + 1 < n && p[i + 1] <= 0x9f);
    }
    return ok;
}

/* Step 14d: e sorts before the (validated) entry `previous`: a lower group,
 * or in group 1 or 2 a smaller key. */
static int ewl_sorts_before(const ewl_blob_t *blob, const ewl_path_entry_t *e, uint32_t previous)
{
    ewl_path_entry_t last;
    ewl_path_entry_at(blob, previous, &last);
    return e->group < last.group || (e->group == last.group && e->group != EWL_PATH_GROUP_SCAN &&
                                     ewl_key_compare(e, &last) < 0);
}

/* Step 14: each path rule, all of 14a-14e before the next one. */
static ewl_status_t ewl_check_path_rules(ewl_blob_t *blob)
{
    ewl_status_t status = EWL_STATUS_OK;
    uint32_t pool = blob->sections[EWL_SECTION_STRINGS].size;
    uint32_t n = blob->sections[EWL_SECTION_PATH_RULES].count;
    uint32_t i, g, strings_end = 0;
    ewl_path_entry_t e;
    for (i = 0; status == EWL_STATUS_OK && i < n; i++) {
        uint32_t pattern_at, id_at, reserved;
        ewl_path_entry_fields(blob, i, &e, &pattern_at, &id_at, &reserved);
        /* 2 * units <= 65534: no wrap. References in order and not
         * overlapping keep validation linear in the blob's size. */
        if (pattern_at % 2 != 0 || pattern_at < strings_end ||
            !ewl_ref_ok(pattern_at, 2 * e.units, 2, 2 * EWL_MAX_PATTERN_UNITS, pool) ||
            id_at < pattern_at || id_at - pattern_at < 2 * e.units ||
            !ewl_ref_ok(id_at, e.id_len, 1, EWL_MAX_ID_BYTES, pool)) {
            status = EWL_STATUS_STRING_REF;
        } else {
            strings_end = id_at + e.id_len;
            e.pattern += pattern_at;
            e.id += id_at;
            if (!ewl_path_entry_ok(&e, reserved)) {
                status = EWL_STATUS_PATH_RULE;
            } else if (!ewl_rule_id_valid(e.id, e.id_len)) {
                status = EWL_STATUS_RULE_ID;
            } else if (i > 0 && ewl_sorts_before(blob, &e, i - 1)) {
                status = EWL_STATUS_PATH_ORDER;
            } else if (e.parent != ewl_expected_parent(blob, i, &e)) {
                status = EWL_STATUS_PATH_PARENT;
            }
        }
    }
    /* Groups are in order now: count each one's entries. */
    for (g = 0; g <= EWL_PATH_GROUP_SCAN; g++) {
        blob->group_end[g] = 0;
    }
    blob->path_deny_count = 0;
    for (i = 0; status == EWL_STATUS_OK && i < n; i++) {
        const uint8_t *entry = blob->data + blob->sections[EWL_SECTION_PATH_RULES].offset +
                               (size_t)i * EWL_PATH_RULE_SIZE;
        for (g = entry[EWL_PATH_RULE_GROUP_OFFSET]; g <= EWL_PATH_GROUP_SCAN; g++) {
            blob->group_end[g]++;
        }
        blob->path_deny_count += entry[EWL_PATH_RULE_ACTION_OFFSET] == EWL_PATH_ACTION_DENY;
    }
    return status;
}

/* Where the last path rule's strings end (0 without path rules): hash rule
 * ids come after them in the pool. Called once step 14 has passed. */
static uint32_t ewl_path_strings_end(const ewl_blob_t *blob)
{
    uint32_t n = blob->sections[EWL_SECTION_PATH_RULES].count;
    const uint8_t *last;
    if (n == 0) {
        return 0;
    }
    last = blob->data + blob->sections[EWL_SECTION_PATH_RULES].offset +
           (size_t)(n - 1) * EWL_PATH_RULE_SIZE;
    return ewl_load_u32le(last + EWL_PATH_RULE_ID_AT_OFFSET) +
           ewl_load_u32le(last + EWL_PATH_RULE_ID_BYTES_OFFSET);
}

/* Step 15: HASH_RULE_IDS. */
static ewl_status_t ewl_check_rule_ids(const ewl_blob_t *blob, uint32_t *end)
{
    ewl_status_t status = EWL_STATUS_OK;
    const uint8_t *base = blob->data + blob->sections[EWL_SECTION_HASH_RULE_IDS].offset;
    const uint8_t *strings = blob->data + blob->sections[EWL_SECTION_STRINGS].offset;
    uint32_t pool = blob->sections[EWL_SECTION_STRINGS].size;
    uint32_t n = blob->sections[EWL_SECTION_HASH_RULE_IDS].count;
    uint32_t i, previous_section = 0, previous_index = 0;
    uint32_t strings_end = ewl_path_strings_end(blob);
    for (i = 0; status == EWL_STATUS_OK && i < n; i++) {
        const uint8_t *rec = base + (size_t)i * EWL_RULE_ID_ENTRY_SIZE;
        uint32_t section = ewl_load_u32le(rec + EWL_RULE_ID_ENTRY_SECTION_OFFSET);
        uint32_t index = ewl_load_u32le(rec + EWL_RULE_ID_ENTRY_INDEX_OFFSET);
        uint32_t at = ewl_load_u32le(rec + EWL_RULE_ID_ENTRY_ID_AT_OFFSET);
        uint32_t len = ewl_load_u32le(rec + EWL_RULE_ID_ENTRY_ID_BYTES_OFFSET);
        if (section < EWL_HASH_SECTION_FIRST || section > EWL_HASH_SECTION_LAST ||
            index >= blob->sections[section].count) {
            status = EWL_STATUS_RULE_ID;
        } else if (i > 0 && (section < previous_section ||
                             (section == previous_section && index <= previous_index))) {
            status = EWL_STATUS_RULE_ID;
        } else if (at < strings_end || !ewl_ref_ok(at, len, 1, EWL_MAX_ID_BYTES, pool)) {
            status = EWL_STATUS_STRING_REF;
        } else if (!ewl_rule_id_valid(strings + at, len)) {
            status = EWL_STATUS_RULE_ID;
        } else {
            strings_end = at + len;
        }
        previous_section = section;
        previous_index = index;
    }
    *end = strings_end;
    return status;
}


/* The signer sections (1.1), steps 17-23. */

/* Step 17: sizes against counts for sections 9-16. */
static ewl_status_t ewl_check_signer_sizes(const ewl_blob_t *blob)
{
    static const uint32_t entry_sizes[EWL_SIGNER_SECTIONS] = {
        EWL_PUBLISHER_RULE_SIZE, EWL_PUBLISHER_SIZE,   EWL_CERTIFICATE_SIZE,
        EWL_TEXT_ENTRY_SIZE,     0,                    EWL_EXCEPTION_LIST_SIZE,
        EWL_EXCEPTION_SIZE,      EWL_HASH_SIZE};
    ewl_status_t status = EWL_STATUS_OK;
    uint32_t id;
    for (id = EWL_SIGNER_SECTION_FIRST; status == EWL_STATUS_OK && id <= EWL_SIGNER_SECTION_LAST;
         id++) {
        const ewl_section_t *s = &blob->sections[id];
        uint64_t entry_size = entry_sizes[id - EWL_SIGNER_SECTION_FIRST];
        /* TEXT_DATA is not an array: count 0, an even size (code units). */
        if (entry_size == 0 ? s->count != 0 || s->size % 2 != 0
                            : (uint64_t)s->count * entry_size != s->size) {
            status = EWL_STATUS_SECTION_SIZE;
        }
    }
    return status;
}

/* Compare n bytes: <0, 0 or >0. */
static int ewl_bytes_compare(const uint8_t *a, const uint8_t *b, size_t n)
{
    size_t k = 0;
    while (k < n && a[k] == b[k]) {
        k++;
    }
    return k == n ? 0 : (a[k] < b[k] ? -1 : 1);
}

/* Step 18: CERTIFICATES. With the bytes beyond each digest zero, (algorithm,
 * digest) order is the order of the whole 72-byte records. */
static ewl_status_t ewl_check_certificates(const ewl_blob_t *blob)
{
    ewl_status_t status = EWL_STATUS_OK;
    uint32_t n = blob->sections[EWL_SECTION_CERTIFICATES].count, i;
    for (i = 0; status == EWL_STATUS_OK && i < n; i++) {
        const uint8_t *rec = ewl_record(blob, EWL_SECTION_CERTIFICATES, i, EWL_CERTIFICATE_SIZE);
        uint32_t size = ewl_tbs_size(rec[EWL_CERTIFICATE_ALGORITHM_OFFSET]);
        if (size == 0 ||
            !ewl_all_zero(rec + EWL_CERTIFICATE_RESERVED_OFFSET,
                          EWL_CERTIFICATE_DIGEST_OFFSET - EWL_CERTIFICATE_RESERVED_OFFSET) ||
            !ewl_all_zero(rec + EWL_CERTIFICATE_DIGEST_OFFSET + size,
                          EWL_TBS_DIGEST_BYTES - size) ||
            (i > 0 && ewl_bytes_compare(rec - EWL_CERTIFICATE_SIZE, rec, EWL_CERTIFICATE_SIZE) >= 0)) {
            status = EWL_STATUS_CERTIFICATE;
        }
    }
    return status;
}

/* Compare two runs of little-endian code units: <0, 0 or >0, a proper
 * prefix first. */
static int ewl_units_compare(const uint8_t *a, uint32_t a_len, const uint8_t *b, uint32_t b_len)
{
    uint32_t n = a_len < b_len ? a_len : b_len, k = 0;
    int result;
    while (k < n && ewl_load_u16le(a + 2 * (size_t)k) == ewl_load_u16le(b + 2 * (size_t)k)) {
        k++;
    }
    if (k < n) {
        result = ewl_load_u16le(a + 2 * (size_t)k) < ewl_load_u16le(b + 2 * (size_t)k) ? -1 : 1;
    } else {
        result = a_len < b_len ? -1 : (a_len > b_len ? 1 : 0);
    }
    return result;
}

/* Step 19: TEXTS, contiguous in TEXT_DATA, in code-unit order. */
static ewl_status_t ewl_check_texts(const ewl_blob_t *blob)
{
    ewl_status_t status = EWL_STATUS_OK;
    const uint8_t *data = blob->data + blob->sections[EWL_SECTION_TEXT_DATA].offset;
    uint32_t pool = blob->sections[EWL_SECTION_TEXT_DATA].size;
    uint32_t n = blob->sections[EWL_SECTION_TEXTS].count, i, k, end = 0;
    uint32_t previous_at = 0, previous_units = 0;
    for (i = 0; status == EWL_STATUS_OK && i < n; i++) {
        const uint8_t *rec = ewl_record(blob, EWL_SECTION_TEXTS, i, EWL_TEXT_ENTRY_SIZE);
        uint32_t at = ewl_load_u32le(rec + EWL_TEXT_ENTRY_AT_OFFSET);
        uint32_t units = ewl_load_u32le(rec + EWL_TEXT_ENTRY_UNITS_OFFSET);
        /* units <= 1024 first: 2 * units cannot wrap. */
        if (at != end || units < 1 || units > EWL_MAX_TEXT_UNITS || 2 * units > pool - at) {
            status = EWL_STATUS_TEXT;
        }
        for (k = 0; status == EWL_STATUS_OK && k < units; k++) {
            if (ewl_load_u16le(data + at + 2 * (size_t)k) < 0x20) {
                status = EWL_STATUS_TEXT;
            }
        }
        if (status == EWL_STATUS_OK && i > 0 &&
            ewl_units_compare(data + previous_at, previous_units, data + at, units) >= 0) {
            status = EWL_STATUS_TEXT;
        }
        end = at + 2 * units;
        previous_at = at;
        previous_units = units;
    }
    if (status == EWL_STATUS_OK && end != pool) {
        status = EWL_STATUS_TEXT;
    }
    return status;
}

/* The sort key of an index that may be NONE (first). */
static uint64_t ewl_none_first(uint32_t index)
{
    return index == EWL_NONE_INDEX ? 0 : (uint64_t)index + 1;
}

/* Compare two entries by (certificate, pin, cn, attribute, value, has_min,
 * min, has_max, max): Publisher.sort_key's order. */
static int ewl_publisher_compare(const ewl_publisher_t *a, const ewl_publisher_t *b)
{
    uint64_t ka[9], kb[9];
    size_t k = 0;
    ka[0] = a->certificate;
    kb[0] = b->certificate;
    ka[1] = a->pin;
    kb[1] = b->pin;
    ka[2] = ewl_none_first(a->common_name);
    kb[2] = ewl_none_first(b->common_name);
    ka[3] = a->attribute;
    kb[3] = b->attribute;
    ka[4] = ewl_none_first(a->value);
    kb[4] = ewl_none_first(b->value);
    ka[5] = a->flags & EWL_VERSION_HAS_MIN;
    kb[5] = b->flags & EWL_VERSION_HAS_MIN;
    ka[6] = a->min_version;
    kb[6] = b->min_version;
    ka[7] = a->flags & EWL_VERSION_HAS_MAX;
    kb[7] = b->flags & EWL_VERSION_HAS_MAX;
    ka[8] = a->max_version;
    kb[8] = b->max_version;
    while (k < 9 && ka[k] == kb[k]) {
        k++;
    }
    return k == 9 ? 0 : (ka[k] < kb[k] ? -1 : 1);
}

/* Step 20: PUBLISHERS. */
static ewl_status_t ewl_check_publishers(const ewl_blob_t *blob)
{
    ewl_status_t status = EWL_STATUS_OK;
    uint32_t n = blob->sections[EWL_SECTION_PUBLISHERS].count, i;
    uint32_t certificates = blob->sections[EWL_SECTION_CERTIFICATES].count;
    uint32_t texts = blob->sections[EWL_SECTION_TEXTS].count;
    ewl_publisher_t p, previous;
    for (i = 0; status == EWL_STATUS_OK && i < n; i++) {
        ewl_publisher_at(blob, i, &p);
        ewl_publisher_at(blob, i > 0 ? i - 1 : 0, &previous);
        if (p.certificate >= certificates || p.pin < EWL_PIN_ISSUER || p.pin > EWL_PIN_ANY ||
            p.attribute > EWL_ATTRIBUTE_COUNT || (p.flags & ~EWL_KNOWN_VERSION_FLAGS) != 0 ||
            p.reserved != 0 || (p.common_name != EWL_NONE_INDEX && p.common_name >= texts) ||
            (p.attribute == EWL_ATTRIBUTE_NONE ? p.value != EWL_NONE_INDEX : p.value >= texts) ||
            ((p.flags & EWL_VERSION_HAS_MIN) == 0 && p.min_version != 0) ||
            ((p.flags & EWL_VERSION_HAS_MAX) == 0 && p.max_version != 0) ||
            ((p.flags & EWL_KNOWN_VERSION_FLAGS) == EWL_KNOWN_VERSION_FLAGS &&
             p.min_version > p.max_version) ||
            (i > 0 && ewl_publisher_compare(&previous, &p) >= 0)) {
            status = EWL_STATUS_PUBLISHER;
        }
    }
    return status;
}

/* Step 21: PUBLISHER_RULES; their ids follow the strings before them in the
 * pool (strings_end). */
static ewl_status_t ewl_check_publisher_rules(ewl_blob_t *blob, uint32_t strings_end)
{
    ewl_status_t status = EWL_STATUS_OK;
    const uint8_t *strings = blob->data + blob->sections[EWL_SECTION_STRINGS].offset;
    uint32_t pool = blob->sections[EWL_SECTION_STRINGS].size;
    uint32_t n = blob->sections[EWL_SECTION_PUBLISHER_RULES].count, i, previous = 0;
    uint32_t publishers = blob->sections[EWL_SECTION_PUBLISHERS].count;
    blob->publisher_deny_count = 0;
    for (i = 0; status == EWL_STATUS_OK && i < n; i++) {
        const uint8_t *rec =
            ewl_record(blob, EWL_SECTION_PUBLISHER_RULES, i, EWL_PUBLISHER_RULE_SIZE);
        uint32_t publisher = ewl_load_u32le(rec + EWL_PUBLISHER_RULE_PUBLISHER_OFFSET);
        uint8_t action = rec[EWL_PUBLISHER_RULE_ACTION_OFFSET];
        uint32_t at = ewl_load_u32le(rec + EWL_PUBLISHER_RULE_ID_AT_OFFSET);
        uint32_t len = ewl_load_u32le(rec + EWL_PUBLISHER_RULE_ID_BYTES_OFFSET);
        if (publisher >= publishers ||
            (action != EWL_PATH_ACTION_ALLOW && action != EWL_PATH_ACTION_DENY) ||
            !ewl_all_zero(rec + EWL_PUBLISHER_RULE_RESERVED_OFFSET,
                          EWL_PUBLISHER_RULE_ID_AT_OFFSET - EWL_PUBLISHER_RULE_RESERVED_OFFSET) ||
            (i > 0 && publisher < previous)) {
            status = EWL_STATUS_PUBLISHER_RULE;
        } else if (at < strings_end || !ewl_ref_ok(at, len, 1, EWL_MAX_ID_BYTES, pool)) {
            status = EWL_STATUS_STRING_REF;
        } else if (!ewl_rule_id_valid(strings + at, len)) {
            status = EWL_STATUS_RULE_ID;
        } else {
            strings_end = at + len;
            blob->publisher_deny_count += action == EWL_PATH_ACTION_DENY;
        }
        previous = publisher;
    }
    return status;
}

/* Step 22: EXCEPTION_HASHES strictly ascending. */
static ewl_status_t ewl_check_exception_hashes(const ewl_blob_t *blob)
{
    ewl_status_t status = EWL_STATUS_OK;
    uint32_t n = blob->sections[EWL_SECTION_EXCEPTION_HASHES].count, i;
    for (i = 1; status == EWL_STATUS_OK && i < n; i++) {
        const uint8_t *b = ewl_record(blob, EWL_SECTION_EXCEPTION_HASHES, i, EWL_HASH_SIZE);
        if (ewl_bytes_compare(b - EWL_HASH_SIZE, b, EWL_HASH_SIZE) >= 0) {
            status = EWL_STATUS_EXCEPTION;
        }
    }
    return status;
}

/* A PATH exception's text is a valid pattern (step 14b's units): no unit
 * below 0x20 (TEXTS checked it), a variable unit only first and only a
 * defined one. */
static int ewl_text_pattern_ok(const ewl_blob_t *blob, uint32_t text)
{
    const uint8_t *units;
    uint32_t n = ewl_text_at(blob, text, &units), k;
    int ok = 1;
    for (k = 0; ok && k < n; k++) {
        uint16_t unit = ewl_load_u16le(units + 2 * (size_t)k);
        if (unit >= EWL_VARIABLE_TOKEN_BASE && unit <= EWL_VARIABLE_TOKEN_LAST) {
            ok = k == 0 && unit != EWL_VARIABLE_TOKEN_BASE &&
                 unit <= EWL_VARIABLE_TOKEN_BASE + EWL_VARIABLE_COUNT;
        }
    }
    return ok;
}

/* Step 23: EXCEPTION_LISTS, then the EXCEPTIONS of each list. */
static ewl_status_t ewl_check_exceptions(ewl_blob_t *blob)
{
    ewl_status_t status = EWL_STATUS_OK;
    uint32_t lists = blob->sections[EWL_SECTION_EXCEPTION_LISTS].count;
    uint32_t total = blob->sections[EWL_SECTION_EXCEPTIONS].count;
    uint32_t i, k, next = 0, previous_section = 0, previous_index = 0;
    blob->path_lists = 0;
    for (i = 0; status == EWL_STATUS_OK && i < lists; i++) {
        const uint8_t *rec =
            ewl_record(blob, EWL_SECTION_EXCEPTION_LISTS, i, EWL_EXCEPTION_LIST_SIZE);
        uint32_t section = ewl_load_u32le(rec + EWL_EXCEPTION_LIST_SECTION_OFFSET);
        uint32_t index = ewl_load_u32le(rec + EWL_EXCEPTION_LIST_INDEX_OFFSET);
        uint32_t first = ewl_load_u32le(rec + EWL_EXCEPTION_LIST_FIRST_OFFSET);
        uint32_t count = ewl_load_u32le(rec + EWL_EXCEPTION_LIST_COUNT_OFFSET);
        if ((section != EWL_SECTION_PATH_RULES && section != EWL_SECTION_PUBLISHER_RULES) ||
            index >= blob->sections[section].count ||
            (i > 0 && (section < previous_section ||
                       (section == previous_section && index <= previous_index))) ||
            first != next || count < 1 || count > EWL_MAX_RULE_EXCEPTIONS ||
            count > total - first) {
            status = EWL_STATUS_EXCEPTION;
        }
        next = first + count;
        blob->path_lists += section == EWL_SECTION_PATH_RULES;
        previous_section = section;
        previous_index = index;
    }
    if (status == EWL_STATUS_OK && next != total) {
        status = EWL_STATUS_EXCEPTION;
    }
    blob->uses = 0;
    blob->has_publisher_exceptions = 0;
    blob->exception_kinds = 0;
    for (i = 0; status == EWL_STATUS_OK && i < lists; i++) {
        const uint8_t *list =
            ewl_record(blob, EWL_SECTION_EXCEPTION_LISTS, i, EWL_EXCEPTION_LIST_SIZE);
        uint32_t first = ewl_load_u32le(list + EWL_EXCEPTION_LIST_FIRST_OFFSET);
        uint32_t count = ewl_load_u32le(list + EWL_EXCEPTION_LIST_COUNT_OFFSET);
        uint32_t previous_kind = 0;
        previous_index = 0;
        for (k = first; status == EWL_STATUS_OK && k < first + count; k++) {
            const uint8_t *rec = ewl_record(blob, EWL_SECTION_EXCEPTIONS, k, EWL_EXCEPTION_SIZE);
            uint32_t kind = rec[EWL_EXCEPTION_KIND_OFFSET];
            uint32_t index = ewl_load_u32le(rec + EWL_EXCEPTION_INDEX_OFFSET);
            uint32_t bound = 0;
            unsigned need = 0;
            if (kind == EWL_EXCEPTION_KIND_PATH) {
                bound = blob->sections[EWL_SECTION_TEXTS].count;
                need = EWL_DEPENDS_PATH;
            } else if (kind == EWL_EXCEPTION_KIND_AUTHENTICODE ||
                       kind == EWL_EXCEPTION_KIND_FILE) {
                bound = blob->sections[EWL_SECTION_EXCEPTION_HASHES].count;
                need = EWL_DEPENDS_HASH;
            } else if (kind == EWL_EXCEPTION_KIND_PUBLISHER) {
                bound = blob->sections[EWL_SECTION_PUBLISHERS].count;
                need = EWL_DEPENDS_SIGNER;
            }
            if (need == 0 ||
                !ewl_all_zero(rec + EWL_EXCEPTION_RESERVED_OFFSET,
                              EWL_EXCEPTION_INDEX_OFFSET - EWL_EXCEPTION_RESERVED_OFFSET) ||
                index >= bound ||
                (kind == EWL_EXCEPTION_KIND_PATH && !ewl_text_pattern_ok(blob, index)) ||
                (k > first && (kind < previous_kind ||
                               (kind == previous_kind && index <= previous_index)))) {
                status = EWL_STATUS_EXCEPTION;
            }
            blob->uses |= need;
            blob->has_publisher_exceptions |= kind == EWL_EXCEPTION_KIND_PUBLISHER;
            blob->exception_kinds |= need != 0 ? 1u << kind : 0u;
            previous_kind = kind;
            previous_index = index;
        }
    }
    return status;
}

/* Steps 17-23, for a blob with the signer sections. */
static ewl_status_t ewl_check_signer_sections(ewl_blob_t *blob, uint32_t strings_end)
{
    ewl_status_t status = ewl_check_signer_sizes(blob);
    if (status == EWL_STATUS_OK) {
        status = ewl_check_certificates(blob);
    }
    if (status == EWL_STATUS_OK) {
        status = ewl_check_texts(blob);
    }
    if (status == EWL_STATUS_OK) {
        status = ewl_check_publishers(blob);
    }
    if (status == EWL_STATUS_OK) {
        status = ewl_check_publisher_rules(blob, strings_end);
    }
    if (status == EWL_STATUS_OK) {
        status = ewl_check_exception_hashes(blob);
    }
    if (status == EWL_STATUS_OK) {
        status = ewl_check_exceptions(blob);
    }
    return status;
}

ewl_status_t ewl_blob_validate(const uint8_t *buf, size_t len, ewl_blob_t *out)
{
    ewl_status_t status = ewl_check_header(buf, len);
    uint32_t count = 0, id, strings_end = 0;
    out->data = buf;
    out->size = len;
    out->has_signer_sections = 0;
    out->publisher_deny_count = 0;
    out->path_deny_count = 0;
    out->uses = 0;
    out->has_publisher_exceptions = 0;
    out->exception_kinds = 0;
    out->path_lists = 0;
    for (id = 0; id <= EWL_SIGNER_SECTION_LAST; id++) {
        out->sections[id].offset = 0;
        out->sections[id].size = 0;
        out->sections[id].count = 0;
    }
    for (id = 0; id < EWL_HASH_SECTIONS; id++) {
        out->hash_index[id].start = NULL;
        out->hash_index[id].bits = 0;
    }
    if (status == EWL_STATUS_OK) {
        out->flags = ewl_load_u32le(buf + EWL_HEADER_FLAGS_OFFSET);
        out->policy_version = ewl_load_u32le(buf + EWL_HEADER_POLICY_VERSION_OFFSET);
        out->version_minor = ewl_load_u16le(buf + EWL_HEADER_VERSION_MINOR_OFFSET);
        count = ewl_load_u32le(buf + EWL_HEADER_SECTION_COUNT_OFFSET);
        status = ewl_check_directory(buf, len, count);
    }
    if (status == EWL_STATUS_OK) {
        status = ewl_check_layout(buf, len, count, out);
    }
    if (status == EWL_STATUS_OK) {
        status = ewl_check_section_sizes(out);
    }
    if (status == EWL_STATUS_OK) {
        const ewl_section_t *name = &out->sections[EWL_SECTION_METADATA];
        if (name->size < 1 || name->size > EWL_MAX_NAME_BYTES ||
            !ewl_utf8_valid(buf + name->offset, name->size)) {
            status = EWL_STATUS_METADATA;
        }
    }
    if (status == EWL_STATUS_OK) {
        status = ewl_check_hash_order(out);
    }
    if (status == EWL_STATUS_OK) {
        status = ewl_check_path_rules(out);
    }
    if (status == EWL_STATUS_OK) {
        status = ewl_check_rule_ids(out, &strings_end);
    }
    if (status == EWL_STATUS_OK) {
        /* All present or all absent (step 16, checked with the directory). */
        out->has_signer_sections = ewl_signer_sections_present(buf, count);
    }
    if (status == EWL_STATUS_OK && out->has_signer_sections) {
        status = ewl_check_signer_sections(out, strings_end);
    }
    if (status == EWL_STATUS_OK) {
        /* The inputs the rules test (the exceptions' were added above). */
        uint32_t paths = out->sections[EWL_SECTION_PATH_RULES].count;
        uint32_t hashes = 0;
        for (id = EWL_HASH_SECTION_FIRST; id <= EWL_HASH_SECTION_LAST; id++) {
            hashes |= out->sections[id].count;
        }
        out->uses |= (paths != 0 ? (unsigned)EWL_DEPENDS_PATH : 0u) |
                     (hashes != 0 ? (unsigned)EWL_DEPENDS_HASH : 0u) |
                     (out->sections[EWL_SECTION_PUBLISHER_RULES].count != 0
                          ? (unsigned)EWL_DEPENDS_SIGNER
                          : 0u);
    }
    return status;
}
