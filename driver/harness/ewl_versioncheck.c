/* The version resource of each file on the command line, read by the core,
 * one JSON object a line:
 *
 *   ewl_versioncheck FILE...
 *   ewl_versioncheck --limits
 *
 * {"status": NAME, "file_version": "a.b.c.d" or null, "strings": {NAME: HEX,
 * ...}, "bytes_read": N}: status as ewl_version_status_name gives it, each
 * present string (versioninfo.VERSION_STRINGS names) as the hex of its
 * UTF-16LE code units, bytes_read what the core read of the file (headers
 * included). The file is read back in pieces of 1021 bytes, so the core's
 * short-read loop runs. --limits prints the header's limits as the compiler
 * evaluates them, for the comparison with versioninfo.py's. Used by tests/test_core_versioninfo.py; built with
 * ASan and UBSan. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static const char *const string_names[EWL_VERSION_STRING_COUNT] = {
    "OriginalFilename", "ProductName", "CompanyName", "FileVersion", "FileDescription",
    "InternalName"};

int main(int argc, char **argv)
{
    /* Exactly the minimum, so that ASan sees any use past it. */
    uint8_t *scratch = malloc(EWL_VERSION_SCRATCH_MIN);
    int i;
    if (scratch == NULL) {
        fprintf(stderr, "ewl_versioncheck: out of memory\n");
        return 2;
    }
    if (argc == 2 && strcmp(argv[1], "--limits") == 0) {
        printf("{\"max_directory_entries\": %u, \"max_block\": %u, \"head_size\": %u, "
               "\"max_read_bytes\": %u, \"max_file_size\": %llu, \"scratch_min\": %u}\n",
               EWL_VERSION_MAX_DIRECTORY_ENTRIES, EWL_VERSION_MAX_BLOCK, EWL_VERSION_HEAD_SIZE,
               EWL_VERSION_MAX_READ_BYTES, (unsigned long long)EWL_VERSION_MAX_FILE_SIZE,
               EWL_VERSION_SCRATCH_MIN);
        argc = 1;
    }
    for (i = 1; i < argc; i++) {
        ewl_version_result_t r;
        uint64_t bytes_read = 0, v;
        size_t len, k, u;
        const char *sep = "";
        uint8_t *data = ewlh_read_file(argv[i], &len, "ewl_versioncheck");
        int status = ewlh_version_memory(data, len, len, 1021, scratch, &r, &bytes_read);
        printf("{\"status\": \"%s\", \"file_version\": ", ewl_version_status_name(status));
        v = r.file_version;
        if (r.has_file_version) {
            printf("\"%u.%u.%u.%u\"", (unsigned)(v >> 48), (unsigned)(v >> 32 & 0xffff),
                   (unsigned)(v >> 16 & 0xffff), (unsigned)(v & 0xffff));
        } else {
            printf("null");
        }
        printf(", \"strings\": {");
        for (k = 0; k < EWL_VERSION_STRING_COUNT; k++) {
            if (r.strings[k].present) {
                printf("%s\"%s\": \"", sep, string_names[k]);
                for (u = 0; u < 2 * r.strings[k].len; u++) {
                    printf("%02x", r.strings[k].units[u]);
                }
                printf("\"");
                sep = ", ";
            }
        }
        printf("}, \"bytes_read\": %llu}\n", (unsigned long long)bytes_read);
        free(data);
    }
    free(scratch);
    return 0;
}
