/* libFuzzer target: the input as a file for ewl_version_read.
 *
 * Read back in odd pieces (the short-read loop), into a scratch of exactly
 * the minimum (ASan sees any use past it), then checked against invariants
 * (abort() on violation): facts only with FOUND, which has at least one;
 * every string a non-empty view inside the scratch, not starting or ending
 * with a space; reads within versioninfo.MAX_READ_BYTES beyond the headers
 * (the section table, searched at most twice, and 242 bytes of headers). */
#include <stdlib.h>
#include <string.h>

#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int condition)
{
    if (!condition) {
        abort();
    }
}

static uint16_t unit(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t *scratch;
    ewl_version_result_t r;
    uint64_t bytes_read = 0;
    size_t k, u;
    int status, any = 0;
    if (scratch == NULL) {
        scratch = malloc(EWL_VERSION_SCRATCH_MIN);
        check(scratch != NULL);
    }
    status = ewlh_version_memory(data, size, size, 1021, scratch, &r, &bytes_read);
    check(status >= EWL_VERSION_FOUND && status <= EWL_VERSION_MALFORMED);
    /* A file of this size cannot have more section headers than it holds. */
    check(bytes_read <= 242u + 2u * (uint64_t)size + EWL_VERSION_MAX_READ_BYTES);
    for (k = 0; k < EWL_VERSION_STRING_COUNT; k++) {
        const ewl_version_string_t *s = &r.strings[k];
        if (s->present) {
            check(status == EWL_VERSION_FOUND && s->len > 0);
            check(s->units >= scratch && s->units + 2 * s->len <= scratch + EWL_VERSION_MAX_BLOCK);
            check(unit(s->units) != ' ' && unit(s->units + 2 * (s->len - 1)) != ' ');
            for (u = 0; u < s->len; u++) {
                check(unit(s->units + 2 * u) != 0);
            }
            any = 1;
        } else {
            check(s->units == NULL && s->len == 0);
        }
    }
    check(r.has_file_version || r.file_version == 0);
    check(status == EWL_VERSION_FOUND ? any || r.has_file_version : !any && !r.has_file_version);
    return 0;
}
