/* The version resource (VS_VERSIONINFO) of a PE image, read as
 * src/exewhitelist/versioninfo.py reads it (docs/scan.md §3), for publisher
 * conditions (FilePublisher: OriginalFilename, InternalName, FileDescription,
 * ProductName, the fixed file version): the same resource (RT_VERSION, name
 * ID 1 or the first name, the first language), the same strings from the
 * same string tables, the same fixed version, and None / error in the same
 * cases (tests/test_core_versioninfo.py holds both to each other).
 *
 * Portable C99 (<stdint.h>/<stddef.h> only, no libc, no allocation, no
 * globals, no recursion). The caller supplies the file (ewl_read_fn, as for
 * ewl_pe_digest) and the scratch memory the strings are left in. */
#ifndef EWL_VERSIONINFO_H
#define EWL_VERSIONINFO_H

#include <stddef.h>
#include <stdint.h>

#include "ewl_authenticode.h"

/* ewl_version_read's status. */
#define EWL_VERSION_FOUND 0       /* a fixed file version or a non-blank string */
#define EWL_VERSION_NONE 1        /* Python's None: no resource table, no RT_VERSION, an
                                     empty directory on the way, or a resource with
                                     nothing of the above */
#define EWL_VERSION_NOT_PE 2      /* no layout: not a PE, or nonconformant (scan.py reads
                                     no version resource then) */
#define EWL_VERSION_TOO_LARGE 3   /* a file over EWL_VERSION_MAX_FILE_SIZE with a
                                     resource table: not read (scan.VERSION_INFO_MAX_SIZE) */
#define EWL_VERSION_MALFORMED 4   /* VersionResourceError: the path to the resource or the
                                     resource is malformed or out of bounds */
#define EWL_VERSION_READ_FAILED 5 /* the read callback failed */
#define EWL_VERSION_FILE_CHANGED 6 /* the file ended before file_size */
#define EWL_VERSION_BAD_ARGUMENT 7 /* scratch smaller than EWL_VERSION_SCRATCH_MIN */
#define EWL_VERSION_STATUS_COUNT 8
#define EWL_VERSION_STATUS_NAMES                                                               \
    {"found", "none", "not_pe", "too_large", "malformed", "read_failed", "file_changed",      \
     "bad_argument"}

/* The strings read, indexes into ewl_version_result_t.strings, in the order
 * of versioninfo.VERSION_STRINGS (the four FileAttributes and two more that
 * scan records carry and that decide FOUND against NONE as in Python). */
#define EWL_VERSION_ORIGINAL_FILENAME 0
#define EWL_VERSION_PRODUCT_NAME 1
#define EWL_VERSION_COMPANY_NAME 2
#define EWL_VERSION_FILE_VERSION 3
#define EWL_VERSION_FILE_DESCRIPTION 4
#define EWL_VERSION_INTERNAL_NAME 5
#define EWL_VERSION_STRING_COUNT 6

/* versioninfo.py's limits. */
#define EWL_VERSION_MAX_DIRECTORY_ENTRIES 4096u /* _MAX_DIRECTORY_ENTRIES */
#define EWL_VERSION_MAX_BLOCK 0xffffu           /* _MAX_VERSION_SIZE: wLength is 16-bit */
#define EWL_VERSION_HEAD_SIZE 4096u             /* _HEAD_SIZE: the first read of the section */
/* MAX_READ_BYTES: the most versioninfo.py reads of one file after its
 * headers (the head, three directories, a data entry, the block). This
 * reader reads the same ranges, plus the headers (at most 242 bytes) and the
 * section table once for each of the two RVAs it locates. */
#define EWL_VERSION_MAX_READ_BYTES                                                             \
    (EWL_VERSION_HEAD_SIZE + 3u * (16u + 8u * EWL_VERSION_MAX_DIRECTORY_ENTRIES) + 16u +      \
     EWL_VERSION_MAX_BLOCK)
#define EWL_VERSION_MAX_FILE_SIZE ((uint64_t)256 << 20) /* scan.VERSION_INFO_MAX_SIZE */

/* The scratch holds the head of the resource section and one directory's
 * entries while the directories are walked (4 KiB + 32 KiB), the section
 * headers being searched, then the version block (at most 64 KiB - 1), which
 * the strings point into. */
#define EWL_VERSION_SCRATCH_MIN 0x10000u

/* One string's value: UTF-16LE code units, as stored (not folded, lone
 * surrogates kept), cut at its first NUL and within its wValueLength and
 * its block, spaces trimmed at both ends. */
typedef struct ewl_version_string {
    int present;          /* 1 when a string table has it non-blank: units/len are set */
    const uint8_t *units; /* 2 * len bytes, into the scratch (2-byte aligned from it) */
    size_t len;           /* code units, > 0 when present */
} ewl_version_string_t;

typedef struct ewl_version_result {
    int has_file_version; /* VS_FIXEDFILEINFO with the right signature and room */
    uint64_t file_version; /* dwFileVersionMS << 32 | dwFileVersionLS: a.b.c.d as
                              a << 48 | b << 32 | c << 16 | d, the blob's form */
    ewl_version_string_t strings[EWL_VERSION_STRING_COUNT];
} ewl_version_result_t;

/* Read the version resource of the file (file_size bytes, the size at open):
 * its headers, the resource directory, the block. *out is cleared first and
 * filled only for EWL_VERSION_FOUND; its views stay valid while scratch
 * (scratch_len >= EWL_VERSION_SCRATCH_MIN) is untouched. */
int ewl_version_read(ewl_read_fn read, void *read_ctx, uint64_t file_size, uint8_t *scratch,
                     size_t scratch_len, ewl_version_result_t *out);

/* The name of status s ("found"...), or NULL when out of range. */
const char *ewl_version_status_name(int s);

#endif /* EWL_VERSIONINFO_H */
