/* The version resource, mirroring src/exewhitelist/versioninfo.py
 * (find_version_info, parse_version_block) check for check, and the part of
 * pe.parse_layout that decides whether a file has a layout at all.
 *
 * File offsets are uint64_t; offsets into the block are size_t (the block is
 * under 64 KiB, so sums of a few of them cannot wrap even with a 32-bit
 * size_t). Every walk of the block advances by at least 8 bytes a step and
 * looks only inside the block it walks, three levels deep at most. */
#include "ewl_versioninfo.h"
#include "ewl_endian.h"

/* No failure yet: the intermediate steps' status (FOUND's number, so that a
 * walk that gets through ends in the block's own FOUND or NONE). */
#define EWL_VR_OK EWL_VERSION_FOUND
#define EWL_VR_DOS_HEADER_SIZE 64u
#define EWL_VR_COFF_HEADER_SIZE 20u
#define EWL_VR_SECTION_HEADER_SIZE 40u
#define EWL_VR_MAX_IMAGE_SIZE 0xffffffffu /* larger: nonconformant (FILE_OVER_4GIB) */
#define EWL_VR_SECURITY_DIRECTORY 4u
#define EWL_VR_RESOURCE_DIRECTORY 2u
/* The optional header read: PE32+ data directories up to the certificate entry. */
#define EWL_VR_OPT_READ_MAX (112u + 8u * EWL_VR_SECURITY_DIRECTORY + 8u)
#define EWL_VR_DIRECTORY_SIZE 16u
#define EWL_VR_ENTRY_SIZE 8u
#define EWL_VR_DATA_ENTRY_SIZE 16u
#define EWL_VR_HIGH_BIT 0x80000000u
#define EWL_VR_RT_VERSION 16u
#define EWL_VR_VS_VERSION_INFO_ID 1u
#define EWL_VR_BLOCK_HEADER_SIZE 6u
#define EWL_VR_FIXED_SIGNATURE 0xfeef04bdu
#define EWL_VR_FIXED_SIZE 52u
/* Scratch layout while walking directories: the head, then one directory's
 * entries (or a data entry) read from beyond it. */
#define EWL_VR_AREA_OFFSET EWL_VERSION_HEAD_SIZE
#define EWL_VR_AREA_SIZE (EWL_VR_ENTRY_SIZE * EWL_VERSION_MAX_DIRECTORY_ENTRIES)
/* Section headers searched at a time for an RVA: one read for any real image. */
#define EWL_VR_SECTION_BATCH (EWL_VERSION_SCRATCH_MIN / EWL_VR_SECTION_HEADER_SIZE)

typedef char ewl_vr_area_fits[EWL_VR_AREA_OFFSET + EWL_VR_AREA_SIZE <= EWL_VERSION_SCRATCH_MIN &&
                                      EWL_VERSION_MAX_BLOCK <= EWL_VERSION_SCRATCH_MIN
                                  ? 1
                                  : -1];

typedef struct ewl_vr_file {
    ewl_read_fn read;
    void *ctx;
    uint64_t size;
} ewl_vr_file_t;

/* What the headers say: the resource table's directory entry and the
 * section table. */
typedef struct ewl_vr_pe {
    uint32_t resource_rva;
    uint32_t resource_size;
    uint64_t section_table;
    uint32_t sections;
} ewl_vr_pe_t;

/* The resource section as versioninfo._Directories reads it. */
typedef struct ewl_vr_dirs {
    const ewl_vr_file_t *f;
    uint64_t base;
    uint64_t size; /* raw data from base to the end of the section, within the file */
    const uint8_t *head;
    size_t head_len;
    uint8_t *area;
} ewl_vr_dirs_t;

/* One block of VS_VERSIONINFO (versioninfo._Block). */
typedef struct ewl_vr_block {
    size_t end;          /* its wLength, cut to its parent's end */
    size_t key;          /* offset of its key's first code unit */
    size_t key_len;      /* code units before the key's NUL */
    size_t value;        /* offset of its value: after the key's NUL, aligned to 4 */
    size_t value_length; /* wValueLength */
    size_t children;     /* offset of its first child: after its value, aligned to 4 */
} ewl_vr_block_t;

/* The walk of sibling blocks in [pos, end) (versioninfo._children). */
typedef struct ewl_vr_walk {
    size_t pos;
    size_t end;
} ewl_vr_walk_t;

static const char *const ewl_vr_names[EWL_VERSION_STRING_COUNT] = {
    "OriginalFilename", "ProductName", "CompanyName", "FileVersion", "FileDescription",
    "InternalName"};

const char *ewl_version_status_name(int s)
{
    static const char *const names[EWL_VERSION_STATUS_COUNT] = EWL_VERSION_STATUS_NAMES;
    return s >= 0 && s < EWL_VERSION_STATUS_COUNT ? names[s] : NULL;
}

/* Read exactly len bytes at offset, which the caller knows lie inside the
 * file: a read that comes up short means the file changed. */
static int ewl_vr_read(const ewl_vr_file_t *f, uint64_t offset, uint8_t *buf, size_t len)
{
    int status = EWL_VR_OK;
    size_t done = 0;
    while (status == EWL_VR_OK && done < len) {
        size_t got = 0;
        if (f->read(f->ctx, offset + done, buf + done, len - done, &got) != 0 ||
            got > len - done) {
            status = EWL_VERSION_READ_FAILED;
        } else if (got == 0) {
            status = EWL_VERSION_FILE_CHANGED;
        } else {
            done += got;
        }
    }
    return status;
}

static int ewl_vr_inside(const ewl_vr_file_t *f, uint64_t offset, uint64_t len)
{
    return offset <= f->size && len <= f->size - offset;
}

/* Read [offset, offset + len) when it lies inside the file; else NOT_PE
 * (pe._read_exact's TruncatedPEError: the file has no layout). */
static int ewl_vr_read_header(const ewl_vr_file_t *f, uint64_t offset, uint8_t *buf, size_t len)
{
    return ewl_vr_inside(f, offset, len) ? ewl_vr_read(f, offset, buf, len) : EWL_VERSION_NOT_PE;
}

/* hashing._digest_fd's classification and pe.parse_layout's checks, in
 * their order: EWL_VR_OK when the file has a layout (its anomalies
 * do not matter here), else EWL_VERSION_NOT_PE (or a read status).
 * ewl_pe_digest makes the same checks; the differential tests hold both to
 * Python. */
static int ewl_vr_headers(const ewl_vr_file_t *f, ewl_vr_pe_t *pe)
{
    uint8_t dos[EWL_VR_DOS_HEADER_SIZE], coff[EWL_VR_COFF_HEADER_SIZE], opt[EWL_VR_OPT_READ_MAX];
    uint64_t e_lfanew = 0, opt_offset = 0;
    uint32_t directories = 0, rva_count_field = 0;
    uint16_t size_of_optional_header = 0;
    int status = f->size < EWL_VR_DOS_HEADER_SIZE || f->size > EWL_VR_MAX_IMAGE_SIZE
                     ? EWL_VERSION_NOT_PE
                     : ewl_vr_read(f, 0, dos, sizeof dos);
    if (status == EWL_VR_OK && (dos[0] != 'M' || dos[1] != 'Z')) {
        status = EWL_VERSION_NOT_PE;
    }
    if (status == EWL_VR_OK) {
        e_lfanew = ewl_load_u32le(dos + 0x3c);
        status = ewl_vr_read_header(f, e_lfanew, coff, 4);
    }
    if (status == EWL_VR_OK &&
        (coff[0] != 'P' || coff[1] != 'E' || coff[2] != 0 || coff[3] != 0)) {
        status = EWL_VERSION_NOT_PE;
    }
    if (status == EWL_VR_OK) {
        status = ewl_vr_read_header(f, e_lfanew + 4, coff, sizeof coff);
    }
    if (status == EWL_VR_OK) {
        pe->sections = ewl_load_u16le(coff + 2);
        size_of_optional_header = ewl_load_u16le(coff + 16);
        opt_offset = e_lfanew + 4 + EWL_VR_COFF_HEADER_SIZE;
        status = size_of_optional_header < 2 ? EWL_VERSION_NOT_PE
                                             : ewl_vr_read_header(f, opt_offset, opt, 2);
    }
    if (status == EWL_VR_OK) {
        uint16_t magic = ewl_load_u16le(opt);
        rva_count_field = magic == 0x10b ? 92u : 108u;
        directories = magic == 0x10b ? 96u : 112u;
        status = magic != 0x10b && magic != 0x20b ? EWL_VERSION_NOT_PE : status;
    }
    if (status == EWL_VR_OK) {
        uint32_t need = directories + 8u * EWL_VR_SECURITY_DIRECTORY + 8u;
        status = size_of_optional_header < need ? EWL_VERSION_NOT_PE
                                                : ewl_vr_read_header(f, opt_offset, opt, need);
    }
    if (status == EWL_VR_OK) {
        const uint8_t *resource = opt + directories + 8u * EWL_VR_RESOURCE_DIRECTORY;
        pe->resource_rva = ewl_load_u32le(resource);
        pe->resource_size = ewl_load_u32le(resource + 4);
        pe->section_table = opt_offset + size_of_optional_header;
        if (ewl_load_u32le(opt + rva_count_field) <= EWL_VR_SECURITY_DIRECTORY ||
            !ewl_vr_inside(f, pe->section_table,
                           (uint64_t)pe->sections * EWL_VR_SECTION_HEADER_SIZE)) {
            status = EWL_VERSION_NOT_PE;
        }
    }
    return status;
}

/* versioninfo._locate: the file offset of an RVA and the raw data from there
 * to the end of its section (within the file), from the first section whose
 * virtual extent holds it. The section table is read in batches into the
 * scratch. */
static int ewl_vr_locate(const ewl_vr_file_t *f, const ewl_vr_pe_t *pe, uint32_t rva,
                         uint8_t *scratch, uint64_t *offset, uint64_t *available)
{
    int status = EWL_VR_OK, found = 0;
    uint32_t i = 0, k;
    while (status == EWL_VR_OK && !found && i < pe->sections) {
        uint32_t n = pe->sections - i < EWL_VR_SECTION_BATCH ? pe->sections - i
                                                             : EWL_VR_SECTION_BATCH;
        status = ewl_vr_read(f, pe->section_table + (uint64_t)i * EWL_VR_SECTION_HEADER_SIZE,
                             scratch, (size_t)n * EWL_VR_SECTION_HEADER_SIZE);
        for (k = 0; status == EWL_VR_OK && !found && k < n; k++) {
            const uint8_t *h = scratch + (size_t)k * EWL_VR_SECTION_HEADER_SIZE;
            uint32_t virtual_size = ewl_load_u32le(h + 8), va = ewl_load_u32le(h + 12);
            uint32_t raw = ewl_load_u32le(h + 16), pointer = ewl_load_u32le(h + 20);
            uint64_t extent = virtual_size != 0 ? virtual_size : raw;
            if (va <= rva && rva < va + extent) {
                uint64_t into = rva - va, limit = raw < extent ? raw : extent;
                found = 1;
                *offset = pointer + into;
                if (into >= limit || *offset >= f->size) {
                    status = EWL_VERSION_MALFORMED; /* past its raw data or the file */
                } else {
                    *available = limit - into < f->size - *offset ? limit - into
                                                                   : f->size - *offset;
                }
            }
        }
        i += n;
    }
    return status == EWL_VR_OK && !found ? EWL_VERSION_MALFORMED : status;
}

/* _Directories.read: len bytes at offset from the start of the resource
 * table, inside the section; from the head when it holds them. */
static int ewl_vr_dir_read(const ewl_vr_dirs_t *d, uint64_t offset, size_t len,
                           const uint8_t **out)
{
    int status = EWL_VR_OK;
    if (offset + len > d->size) {
        status = EWL_VERSION_MALFORMED;
    } else if (offset + len <= d->head_len) {
        *out = d->head + offset;
    } else {
        status = ewl_vr_read(d->f, d->base + offset, d->area, len);
        *out = d->area;
    }
    return status;
}

/* _Directories.entries: the entries of the directory at offset (*entries
 * points at count of them, 8 bytes each: Name, OffsetToData). */
static int ewl_vr_entries(const ewl_vr_dirs_t *d, uint32_t offset, const uint8_t **entries,
                          uint32_t *count)
{
    const uint8_t *header = 0;
    int status = ewl_vr_dir_read(d, offset, EWL_VR_DIRECTORY_SIZE, &header);
    if (status == EWL_VR_OK) {
        *count = (uint32_t)ewl_load_u16le(header + 12) + ewl_load_u16le(header + 14);
        status = *count > EWL_VERSION_MAX_DIRECTORY_ENTRIES
                     ? EWL_VERSION_MALFORMED
                     : ewl_vr_dir_read(d, (uint64_t)offset + EWL_VR_DIRECTORY_SIZE,
                                       (size_t)*count * EWL_VR_ENTRY_SIZE, entries);
    }
    return status;
}

/* The directory an entry points to (_subdirectory): its high bit must be set. */
static int ewl_vr_subdirectory(uint32_t offset_to_data, uint32_t *offset)
{
    *offset = offset_to_data & ~EWL_VR_HIGH_BIT;
    return offset_to_data & EWL_VR_HIGH_BIT ? EWL_VR_OK : EWL_VERSION_MALFORMED;
}

/* The OffsetToData of the first entry named id, else (use_first) of the
 * first entry; *found = 0 when there is none. */
static uint32_t ewl_vr_pick(const uint8_t *entries, uint32_t count, uint32_t id, int use_first,
                            int *found)
{
    uint32_t i, pick = count;
    for (i = count; i-- > 0;) {
        pick = ewl_load_u32le(entries + EWL_VR_ENTRY_SIZE * i) == id ? i : pick;
    }
    pick = pick == count && use_first ? 0 : pick;
    *found = pick < count;
    return *found ? ewl_load_u32le(entries + EWL_VR_ENTRY_SIZE * pick + 4) : 0;
}

static size_t ewl_vr_align(size_t offset)
{
    return (offset + 3u) & ~(size_t)3u;
}

/* versioninfo._block: the block at start (its 6-byte header lies before
 * end); 0 when its key has no NUL (an even number of bytes after the
 * header) before the block's end. */
static int ewl_vr_block(const uint8_t *data, size_t start, size_t end, ewl_vr_block_t *b)
{
    size_t length = ewl_load_u16le(data + start), nul = start + EWL_VR_BLOCK_HEADER_SIZE;
    int found = 0;
    b->value_length = ewl_load_u16le(data + start + 2);
    b->end = start + length < end ? start + length : end;
    b->key = nul;
    while (!found && nul + 2 <= b->end) {
        found = data[nul] == 0 && data[nul + 1] == 0;
        nul += found ? 0 : 2;
    }
    if (found) {
        b->key_len = (nul - b->key) / 2;
        b->value = ewl_vr_align(nul + 2);
        /* wType: a text value's length counts UTF-16 code units. */
        b->children = ewl_vr_align(
            b->value + b->value_length * (ewl_load_u16le(data + start + 4) != 0 ? 2u : 1u));
    }
    return found;
}

/* The next block of a walk whose key fits (one that does not is skipped);
 * 0 at the end. A length below the header ends the walk, as VerQueryValue
 * stops at a zero length; every step advances by at least 8 bytes. */
static int ewl_vr_next(const uint8_t *data, ewl_vr_walk_t *w, ewl_vr_block_t *b)
{
    int found = 0;
    while (!found && w->pos + EWL_VR_BLOCK_HEADER_SIZE <= w->end) {
        size_t length = ewl_load_u16le(data + w->pos);
        if (length < EWL_VR_BLOCK_HEADER_SIZE) {
            w->pos = w->end;
        } else {
            found = ewl_vr_block(data, w->pos, w->end, b);
            w->pos = ewl_vr_align(w->pos + length);
        }
    }
    return found;
}

static uint8_t ewl_vr_ascii_lower(uint16_t unit)
{
    return (uint8_t)(unit >= 'A' && unit <= 'Z' ? unit + ('a' - 'A') : unit);
}

/* Whether the block's key is name: exactly, or with ASCII letters in either
 * case (fold_case). */
static int ewl_vr_key_is(const uint8_t *data, const ewl_vr_block_t *b, const char *name,
                         int fold_case)
{
    size_t i;
    int same = 1;
    for (i = 0; same && i < b->key_len; i++) {
        uint16_t unit = ewl_load_u16le(data + b->key + 2 * i);
        uint8_t c = (uint8_t)name[i];
        same = c != 0 && unit < 0x80 &&
               (fold_case ? ewl_vr_ascii_lower(unit) == ewl_vr_ascii_lower(c) : unit == c);
    }
    return same && name[b->key_len] == 0;
}

/* versioninfo._text, stripped of spaces (and NULs, which the cut leaves
 * none of) at both ends: a String block's value up to its first NUL, within
 * wValueLength code units and the block. */
static void ewl_vr_text(const uint8_t *data, const ewl_vr_block_t *b, ewl_version_string_t *s)
{
    size_t end = b->value + 2 * b->value_length, first, last;
    int cut = 0;
    end = end < b->end ? end : b->end;
    first = b->value;
    last = first;
    while (!cut && last + 2 <= end) {
        cut = data[last] == 0 && data[last + 1] == 0;
        last += cut ? 0 : 2;
    }
    while (first < last && ewl_load_u16le(data + first) == ' ') {
        first += 2;
    }
    while (last > first && ewl_load_u16le(data + last - 2) == ' ') {
        last -= 2;
    }
    s->present = last > first;
    s->units = s->present ? data + first : 0;
    s->len = (last - first) / 2;
}

/* versioninfo.parse_version_block over data[0, len). */
static int ewl_vr_parse(const uint8_t *data, size_t len, ewl_version_result_t *out)
{
    ewl_vr_block_t root, info, table, str;
    ewl_vr_walk_t infos, tables, strings;
    size_t k;
    int status = EWL_VERSION_NONE;
    if (len < EWL_VR_BLOCK_HEADER_SIZE || ewl_load_u16le(data) < EWL_VR_BLOCK_HEADER_SIZE ||
        !ewl_vr_block(data, 0, len, &root) || !ewl_vr_key_is(data, &root, "VS_VERSION_INFO", 0)) {
        return EWL_VERSION_MALFORMED;
    }
    if (root.value_length >= EWL_VR_FIXED_SIZE && root.value + EWL_VR_FIXED_SIZE <= root.end &&
        ewl_load_u32le(data + root.value) == EWL_VR_FIXED_SIGNATURE) {
        out->has_file_version = 1;
        out->file_version = (uint64_t)ewl_load_u32le(data + root.value + 8) << 32 |
                            ewl_load_u32le(data + root.value + 12);
        status = EWL_VERSION_FOUND;
    }
    infos.pos = root.children;
    infos.end = root.end;
    while (ewl_vr_next(data, &infos, &info)) {
        /* VarFileInfo is skipped; StringFileInfo in any ASCII case. */
        if (!ewl_vr_key_is(data, &info, "StringFileInfo", 1)) {
            continue;
        }
        tables.pos = info.children;
        tables.end = info.end;
        while (ewl_vr_next(data, &tables, &table)) {
            strings.pos = table.children;
            strings.end = table.end;
            while (ewl_vr_next(data, &strings, &str)) {
                /* Each string from the first table that has it non-blank. */
                for (k = 0; k < EWL_VERSION_STRING_COUNT; k++) {
                    if (!out->strings[k].present && ewl_vr_key_is(data, &str, ewl_vr_names[k], 0)) {
                        ewl_vr_text(data, &str, &out->strings[k]);
                        status = out->strings[k].present ? EWL_VERSION_FOUND : status;
                    }
                }
            }
        }
    }
    return status;
}

/* find_version_info after the headers: the directories, the data entry, the
 * block. */
static int ewl_vr_find(const ewl_vr_file_t *f, const ewl_vr_pe_t *pe, uint8_t *scratch,
                       ewl_version_result_t *out)
{
    ewl_vr_dirs_t d;
    const uint8_t *entries = 0, *entry = 0;
    uint64_t data_offset = 0, available = 0;
    uint32_t count = 0, offset = 0, data_size = 0, data_rva = 0;
    size_t want = 0;
    int found = 0;
    int status = ewl_vr_locate(f, pe, pe->resource_rva, scratch, &d.base, &d.size);
    d.f = f;
    d.head = scratch;
    d.area = scratch + EWL_VR_AREA_OFFSET;
    if (status == EWL_VR_OK) {
        d.head_len = d.size < EWL_VERSION_HEAD_SIZE ? (size_t)d.size : EWL_VERSION_HEAD_SIZE;
        /* Python goes on with a short head and fails later, if at all: a
         * file that changes is refused here at once. */
        status = ewl_vr_read(f, d.base, scratch, d.head_len);
    }
    if (status == EWL_VR_OK) {
        status = ewl_vr_entries(&d, 0, &entries, &count);
    }
    if (status == EWL_VR_OK) {
        offset = ewl_vr_pick(entries, count, EWL_VR_RT_VERSION, 0, &found);
        status = found ? ewl_vr_subdirectory(offset, &offset) : EWL_VERSION_NONE;
    }
    if (status == EWL_VR_OK) {
        status = ewl_vr_entries(&d, offset, &entries, &count);
    }
    if (status == EWL_VR_OK) {
        offset = ewl_vr_pick(entries, count, EWL_VR_VS_VERSION_INFO_ID, 1, &found);
        status = found ? ewl_vr_subdirectory(offset, &offset) : EWL_VERSION_NONE;
    }
    if (status == EWL_VR_OK) {
        status = ewl_vr_entries(&d, offset, &entries, &count);
    }
    if (status == EWL_VR_OK) {
        /* The first language: a data entry, not a directory. */
        status = count == 0 ? EWL_VERSION_NONE
                 : ewl_load_u32le(entries + 4) & EWL_VR_HIGH_BIT
                     ? EWL_VERSION_MALFORMED
                     : ewl_vr_dir_read(&d, ewl_load_u32le(entries + 4), EWL_VR_DATA_ENTRY_SIZE,
                                       &entry);
    }
    if (status == EWL_VR_OK) {
        data_rva = ewl_load_u32le(entry);
        data_size = ewl_load_u32le(entry + 4);
        status = data_size == 0 ? EWL_VERSION_MALFORMED
                                : ewl_vr_locate(f, pe, data_rva, scratch, &data_offset, &available);
    }
    if (status == EWL_VR_OK) {
        want = data_size < available ? data_size : (size_t)available;
        want = want < EWL_VERSION_MAX_BLOCK ? want : EWL_VERSION_MAX_BLOCK;
        status = ewl_vr_read(f, data_offset, scratch, want);
    }
    return status == EWL_VR_OK ? ewl_vr_parse(scratch, want, out) : status;
}

int ewl_version_read(ewl_read_fn read, void *read_ctx, uint64_t file_size, uint8_t *scratch,
                     size_t scratch_len, ewl_version_result_t *out)
{
    ewl_vr_file_t f;
    ewl_vr_pe_t pe = {0, 0, 0, 0};
    size_t k;
    int status;
    f.read = read;
    f.ctx = read_ctx;
    f.size = file_size;
    out->has_file_version = 0;
    out->file_version = 0;
    for (k = 0; k < EWL_VERSION_STRING_COUNT; k++) {
        out->strings[k].present = 0;
        out->strings[k].units = 0;
        out->strings[k].len = 0;
    }
    status = scratch_len < EWL_VERSION_SCRATCH_MIN ? EWL_VERSION_BAD_ARGUMENT
                                                    : ewl_vr_headers(&f, &pe);
    if (status == EWL_VR_OK && (pe.resource_rva == 0 || pe.resource_size == 0)) {
        status = EWL_VERSION_NONE;
    } else if (status == EWL_VR_OK && file_size > EWL_VERSION_MAX_FILE_SIZE) {
        status = EWL_VERSION_TOO_LARGE;
    } else if (status == EWL_VR_OK) {
        status = ewl_vr_find(&f, &pe, scratch, out);
    }
    return status;
}
