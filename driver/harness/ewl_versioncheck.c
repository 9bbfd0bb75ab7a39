/* The version resource of each file on the command line, read by the core,
 * one JSON object a line:
 *
 *   ewl_versioncheck FILE...
 *
 * {"status": NAME, "file_version": "a.b.c.d" or null, "strings": {NAME: HEX,
 * ...}, "bytes_read": N}: status as ewl_version_status_name gives it, each
 * present string (versioninfo.VERSION_STRINGS names) as the hex of its
 * UTF-16LE code units, bytes_read what the core read of the file (headers
 * included). The file is read back in pieces of 1021 bytes, so the core's
 * short-read loop runs. Used by tests/test_core_versioninfo.py; built with
 * ASan and UBSan. */
#include <stdio.h>
#include <stdlib.h>

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
