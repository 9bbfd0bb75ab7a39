/* Every digest of each file named on the command line, through the core
 * (built with ASan and UBSan for tests/test_core_authenticode.py). One line
 * per file, tab-separated:
 *
 *   path status kind anomalies format machine subsystem characteristics
 *   sections signed certificate_entries page_size size sha256
 *   authenticode_sha256 authenticode_sha1 authenticode_sha256_unpadded
 *   page_sha256 page_sha1
 *
 * (numbers in decimal, digests in lowercase hex). Exits 1 when a file could
 * not be hashed. */
#include <stdio.h>

#include "harness.h"

static void print_hex(const uint8_t *p, size_t n)
{
    size_t i;
    putchar('\t');
    for (i = 0; i < n; i++) {
        printf("%02x", p[i]);
    }
}

int main(int argc, char **argv)
{
    int i, failed = 0;
    for (i = 1; i < argc; i++) {
        ewlh_digests_t d;
        ewlh_hash_file(argv[i], &d);
        failed |= d.status != 0;
        printf("%s\t%d\t%d\t%u\t%u\t%u\t%u\t%u\t%u\t%d\t%u\t%u\t%llu", argv[i], (int)d.status,
               (int)d.kind, (unsigned)d.anomalies, (unsigned)d.format, (unsigned)d.machine,
               (unsigned)d.subsystem, (unsigned)d.characteristics, (unsigned)d.sections,
               (int)d.is_signed, (unsigned)d.certificate_entries, (unsigned)d.page_size,
               (unsigned long long)d.size);
        print_hex(d.sha256, sizeof d.sha256);
        print_hex(d.authenticode_sha256, sizeof d.authenticode_sha256);
        print_hex(d.authenticode_sha1, sizeof d.authenticode_sha1);
        print_hex(d.authenticode_sha256_unpadded, sizeof d.authenticode_sha256_unpadded);
        print_hex(d.page_sha256, sizeof d.page_sha256);
        print_hex(d.page_sha1, sizeof d.page_sha1);
        putchar('\n');
    }
    return failed;
}
