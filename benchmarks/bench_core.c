/* Benchmark of the driver's C core (driver/core/): hash lookups, path
 * decisions and blob validation, on blobs compiled by the Python compiler.
 * benchmarks/bench_core.py makes the inputs, builds this file
 * (make -C driver/harness bench) and runs it:
 *
 *   bench_core HASH_BLOB DIGESTS PATH_BLOB PATHS SCAN_BLOB SCAN_PATHS
 *
 * DIGESTS holds 32-byte Authenticode digests, the first half present in
 * HASH_BLOB's AUTHENTICODE_ALLOW section and the second half absent, in
 * random order. PATHS has one query per line, "<category> <folded path as 4
 * hex digits per code unit>"; SCAN_BLOB and SCAN_PATHS are the same for a
 * blob of group 3 rules only. Prints one JSON object. Timings are medians
 * over repeated batches (clock_gettime(CLOCK_MONOTONIC), one batch = every
 * query of a kind once), so the clock's own cost is spread over the batch. */
#define _DEFAULT_SOURCE 1 /* syscall(2), for perf_event_open */
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define ROUNDS 15
#define MAX_CATEGORIES 16
#define LINE 64

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, compare_doubles);
    return v[n / 2];
}


static ewl_blob_t load_blob(const char *path, double *validate_ms)
{
    size_t len = 0;
    uint8_t *data = ewlh_read_file(path, &len, "bench_core");
    ewl_blob_t blob;
    double times[5];
    size_t r;
    for (r = 0; r < 5; r++) {
        double t0 = now_ns();
        int status = ewl_blob_validate(data, len, &blob);
        times[r] = (now_ns() - t0) / 1e6;
        if (status != EWL_STATUS_OK) {
            fprintf(stderr, "bench_core: %s does not validate: %d\n", path, status);
            exit(2);
        }
    }
    *validate_ms = median(times, 5);
    return blob;
}

/* Distinct cache lines whose bytes ewl_find_hash compares for one digest:
 * the same binary search, with each probe's bytes up to the first
 * difference (all 32 on a hit). */
static unsigned lines_touched(const ewl_blob_t *blob, const uint8_t *digest)
{
    const uint8_t *base = blob->data + blob->sections[EWL_SECTION_AUTHENTICODE_ALLOW].offset;
    uint32_t lo = 0, hi = blob->sections[EWL_SECTION_AUTHENTICODE_ALLOW].count;
    uintptr_t lines[128];
    unsigned n = 0, k;
    int found = 0;
    while (!found && lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        const uint8_t *probe = base + (size_t)mid * 32;
        size_t i = 0;
        uintptr_t line;
        while (i < 32 && probe[i] == digest[i]) {
            i++;
        }
        for (line = (uintptr_t)probe / LINE; line <= ((uintptr_t)probe + (i < 32 ? i : 31)) / LINE;
             line++) {
            for (k = 0; k < n && lines[k] != line; k++) {
            }
            if (k == n && n < 128) {
                lines[n++] = line;
            }
        }
        if (i == 32) {
            found = 1;
        } else if (probe[i] < digest[i]) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return n;
}

/* Median ns per lookup of hits (out[0]) and misses (out[1]), checking
 * that every hit is found and no miss is. */
static void time_lookups(const ewl_blob_t *blob, const uint8_t *digests, size_t half,
                         double out[2])
{
    size_t q, r, part;
    double per[ROUNDS];
    volatile uint32_t sink = 0;
    for (part = 0; part < 2; part++) {
        const uint8_t *set = digests + part * half * 32;
        for (r = 0; r < ROUNDS; r++) {
            double t0 = now_ns();
            for (q = 0; q < half; q++) {
                sink ^= ewl_find_hash(blob, EWL_SECTION_AUTHENTICODE_ALLOW, set + q * 32);
            }
            per[r] = (now_ns() - t0) / (double)half;
        }
        for (q = 0; q < half; q++) {
            uint32_t index = ewl_find_hash(blob, EWL_SECTION_AUTHENTICODE_ALLOW, set + q * 32);
            if ((index != EWL_NO_INDEX) != (part == 0)) {
                fprintf(stderr, "bench_core: digest %zu of part %zu misclassified\n", q, part);
                exit(2);
            }
        }
        out[part] = median(per, ROUNDS);
    }
    (void)sink;
}

/* The plain binary search, then the same lookups through the hash index the
 * driver builds at load (ewl_hash_index_build), timed in the same process. */
static void bench_hashes(const ewl_blob_t *blob, const uint8_t *digests, size_t count)
{
    size_t half = count / 2, q, part;
    uint32_t rules = blob->sections[EWL_SECTION_AUTHENTICODE_ALLOW].count;
    unsigned bits = ewl_hash_index_bits(rules);
    size_t entries = ewl_hash_index_entries(bits);
    double plain[2], indexed[2], lines[2] = {0, 0}, build_ms;
    ewl_blob_t with_index = *blob;
    uint32_t *memory = malloc(entries * sizeof(uint32_t));
    double t0;
    if (memory == NULL) {
        fprintf(stderr, "bench_core: out of memory\n");
        exit(2);
    }
    time_lookups(blob, digests, half, plain);
    for (part = 0; part < 2; part++) {
        for (q = 0; q < half; q++) {
            lines[part] += lines_touched(blob, digests + (part * half + q) * 32);
        }
    }
    t0 = now_ns();
    ewl_hash_index_build(&with_index, EWL_SECTION_AUTHENTICODE_ALLOW, bits, memory);
    build_ms = (now_ns() - t0) / 1e6;
    time_lookups(&with_index, digests, half, indexed);
    printf("  \"hash_lookup\": {\"rules\": %u, \"queries\": %zu, \"hit_ns\": %.1f, "
           "\"miss_ns\": %.1f, \"hit_cache_lines\": %.2f, \"miss_cache_lines\": %.2f},\n",
           rules, count, plain[0], plain[1], lines[0] / (double)half, lines[1] / (double)half);
    printf("  \"hash_lookup_indexed\": {\"bits\": %u, \"index_bytes\": %zu, \"build_ms\": %.2f, "
           "\"hit_ns\": %.1f, \"miss_ns\": %.1f, \"hit_speedup\": %.2f, \"miss_speedup\": %.2f},\n",
           bits, entries * sizeof(uint32_t), build_ms, indexed[0], indexed[1],
           plain[0] / indexed[0], plain[1] / indexed[1]);
    free(memory);
}

typedef struct path_query {
    char category[32];
    uint16_t *units;
    size_t len;
} path_query_t;

static void bench_paths(const char *label, const ewl_blob_t *blob, path_query_t *queries,
                        size_t count)
{
    const ewl_u16str_t *values;
    const size_t *counts;
    ewl_vars_t vars;
    char categories[MAX_CATEGORIES][32];
    size_t n_categories = 0, c, q, r, used = 0, k;
    double all[ROUNDS];
    volatile uint32_t sink = 0;
    ewlh_default_variables(&values, &counts);
    for (k = 0; k < EWL_VARIABLE_COUNT; k++) {
        vars.values[k] = values + used;
        vars.count[k] = counts[k];
        used += counts[k];
    }
    for (q = 0; q < count; q++) {
        for (c = 0; c < n_categories && strcmp(categories[c], queries[q].category) != 0; c++) {
        }
        if (c == n_categories && n_categories < MAX_CATEGORIES) {
            snprintf(categories[n_categories++], 32, "%s", queries[q].category);
        }
    }
    printf("  \"%s\": {\"rules\": %u, \"queries\": %zu, \"by_category\": {", label,
           blob->sections[EWL_SECTION_PATH_RULES].count, count);
    for (c = 0; c < n_categories; c++) {
        double per[ROUNDS];
        size_t n = 0, by_path = 0;
        for (r = 0; r < ROUNDS; r++) {
            double t0 = now_ns();
            n = 0;
            by_path = 0;
            for (q = 0; q < count; q++) {
                if (strcmp(queries[q].category, categories[c]) == 0) {
                    ewl_query_t query = {NULL, NULL, queries[q].units, queries[q].len, NULL};
                    ewl_decision_t d;
                    ewl_decide(blob, &query, &vars, &d);
                    sink ^= d.index;
                    by_path += d.decided == EWL_DECIDED_PATH;
                    n++;
                }
            }
            per[r] = (now_ns() - t0) / (double)n;
        }
        printf("%s\"%s\": {\"queries\": %zu, \"decided_by_path\": %zu, \"median_ns\": %.1f}",
               c ? ", " : "", categories[c], n, by_path, median(per, ROUNDS));
    }
    for (r = 0; r < ROUNDS; r++) {
        double t0 = now_ns();
        for (q = 0; q < count; q++) {
            ewl_query_t query = {NULL, NULL, queries[q].units, queries[q].len, NULL};
            ewl_decision_t d;
            ewl_decide(blob, &query, &vars, &d);
            sink ^= d.index;
        }
        all[r] = (now_ns() - t0) / (double)count;
    }
    (void)sink;
    printf("}, \"median_ns\": %.1f},\n", median(all, ROUNDS));
}

static path_query_t *read_paths(const char *path, size_t *count)
{
    size_t len = 0, cap = 1024, n = 0;
    char *text = (char *)ewlh_read_file(path, &len, "bench_core"), *line, *save = NULL;
    path_query_t *queries = malloc(cap * sizeof *queries);
    text = realloc(text, len + 1);
    text[len] = '\0';
    for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        char *hex = strchr(line, ' ');
        size_t units, k;
        if (hex == NULL) {
            continue;
        }
        *hex++ = '\0';
        units = strlen(hex) / 4;
        if (n == cap) {
            cap *= 2;
            queries = realloc(queries, cap * sizeof *queries);
        }
        snprintf(queries[n].category, sizeof queries[n].category, "%s", line);
        queries[n].units = malloc((units ? units : 1) * sizeof(uint16_t));
        queries[n].len = units;
        for (k = 0; k < units; k++) {
            char digits[5] = {hex[4 * k], hex[4 * k + 1], hex[4 * k + 2], hex[4 * k + 3], 0};
            queries[n].units[k] = (uint16_t)strtoul(digits, NULL, 16);
        }
        n++;
    }
    free(text);
    *count = n;
    return queries;
}

/* Blob 1.1 (bench_core --signers SIGNER_BLOB BASE_BLOB QUERIES): decisions
 * with publisher rules, exceptions and signer facts, against the 1.0 blob of
 * the same path rules without exceptions (BASE_BLOB) on the same paths
 * without signer facts. QUERIES has one query per line:
 *
 *   <category> <folded path units hex> <signer|-> [<signer> ...]
 *
 * where a signer is "<algorithm>:<TBS hex>,...;<common name units hex|->"
 * and the signers share "of=<folded OriginalFilename units hex>" and
 * "v=<packed version>" when given as extra words. Per category and overall:
 * median ns per decision (batches of every query of the category) and
 * instructions per decision (perf_event_open, user space; null when the
 * kernel refuses it). */

typedef struct signer_query {
    char category[32];
    uint16_t *path;
    size_t path_len;
    ewl_signer_facts_t *facts; /* NULL: none */
} signer_query_t;

static uint16_t *units_of(const char *hex, size_t *len)
{
    size_t n = strlen(hex) / 4, k;
    uint16_t *out = malloc((n ? n : 1) * sizeof(uint16_t));
    for (k = 0; k < n; k++) {
        char digits[5] = {hex[4 * k], hex[4 * k + 1], hex[4 * k + 2], hex[4 * k + 3], 0};
        out[k] = (uint16_t)strtoul(digits, NULL, 16);
    }
    *len = n;
    return out;
}

static uint8_t *bytes_of(const char *hex, size_t n)
{
    uint8_t *out = calloc(64, 1);
    size_t k;
    for (k = 0; k < n && k < 64; k++) {
        char digits[3] = {hex[2 * k], hex[2 * k + 1], 0};
        out[k] = (uint8_t)strtoul(digits, NULL, 16);
    }
    return out;
}

static signer_query_t *read_signer_queries(const char *path, size_t *count)
{
    size_t len = 0, cap = 1024, n = 0;
    char *text = (char *)ewlh_read_file(path, &len, "bench_core"), *line, *save = NULL;
    signer_query_t *queries = malloc(cap * sizeof *queries);
    text = realloc(text, len + 1);
    text[len] = '\0';
    for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        char *word, *words = NULL;
        int field = 0;
        signer_query_t *q;
        if (n == cap) {
            cap *= 2;
            queries = realloc(queries, cap * sizeof *queries);
        }
        q = &queries[n++];
        q->facts = NULL;
        for (word = strtok_r(line, " ", &words); word != NULL;
             word = strtok_r(NULL, " ", &words), field++) {
            if (field == 0) {
                snprintf(q->category, sizeof q->category, "%s", word);
            } else if (field == 1) {
                q->path = units_of(word, &q->path_len);
            } else if (strcmp(word, "-") == 0) {
                continue;
            } else {
                if (q->facts == NULL) {
                    q->facts = calloc(1, sizeof *q->facts);
                }
                if (strncmp(word, "of=", 3) == 0) {
                    q->facts->attributes[EWL_ATTRIBUTE_ORIGINAL_FILENAME - 1].units =
                        units_of(word + 3, &q->facts->attributes[0].len);
                } else if (strncmp(word, "v=", 2) == 0) {
                    q->facts->has_version = 1;
                    q->facts->version = strtoull(word + 2, NULL, 10);
                } else if (q->facts->signer_count < EWL_MAX_SIGNERS) {
                    ewl_signer_t *signer = &q->facts->signers[q->facts->signer_count++];
                    char *cn = strchr(word, ';'), *cert, *certs = NULL;
                    if (cn != NULL) {
                        *cn++ = '\0';
                        if (strcmp(cn, "-") != 0) {
                            signer->common_name = units_of(cn, &signer->common_name_len);
                        }
                    }
                    for (cert = strtok_r(word, ",", &certs);
                         cert != NULL && signer->chain_len < EWL_MAX_CHAIN;
                         cert = strtok_r(NULL, ",", &certs)) {
                        char *hex = strchr(cert, ':');
                        if (hex != NULL) {
                            signer->chain[signer->chain_len].algorithm = atoi(cert);
                            signer->chain[signer->chain_len].digest =
                                bytes_of(hex + 1, strlen(hex + 1) / 2);
                            signer->chain_len++;
                        }
                    }
                }
            }
        }
    }
    *count = n;
    return queries;
}

/* A user-space instruction counter, or -1. */
static int instruction_counter(void)
{
    struct perf_event_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.type = PERF_TYPE_HARDWARE;
    attr.size = sizeof attr;
    attr.config = PERF_COUNT_HW_INSTRUCTIONS;
    attr.disabled = 1;
    attr.exclude_kernel = 1;
    attr.exclude_hv = 1;
    return (int)syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0);
}

static long long read_counter(int fd)
{
    long long value = 0;
    if (fd < 0 || read(fd, &value, sizeof value) != (ssize_t)sizeof value) {
        value = -1;
    }
    return value;
}

/* Median ns and instructions per decision over the queries of `category`
 * (NULL: all), with their signer facts or (plain) without. */
static void time_signer_queries(const ewl_blob_t *blob, const signer_query_t *queries,
                                size_t count, const char *category, int plain,
                                const ewl_vars_t *vars, int counter, double *ns,
                                double *instructions, size_t *decided_by_publisher, size_t *n_out)
{
    double per[ROUNDS], ins[ROUNDS];
    size_t q, r, n = 0, by_publisher = 0;
    volatile uint32_t sink = 0;
    for (r = 0; r < ROUNDS; r++) {
        double t0;
        long long before, after;
        n = 0;
        by_publisher = 0;
        if (counter >= 0) {
            ioctl(counter, PERF_EVENT_IOC_ENABLE, 0);
        }
        before = read_counter(counter);
        t0 = now_ns();
        for (q = 0; q < count; q++) {
            if (category == NULL || strcmp(queries[q].category, category) == 0) {
                ewl_query_t query = {NULL, NULL, queries[q].path, queries[q].path_len,
                                     plain ? NULL : queries[q].facts};
                ewl_decision_t d;
                ewl_decide(blob, &query, vars, &d);
                sink ^= d.index;
                by_publisher += d.decided == EWL_DECIDED_PUBLISHER;
                n++;
            }
        }
        per[r] = (now_ns() - t0) / (double)(n ? n : 1);
        after = read_counter(counter);
        if (counter >= 0) {
            ioctl(counter, PERF_EVENT_IOC_DISABLE, 0);
        }
        ins[r] = before < 0 || after < 0 ? -1 : (double)(after - before) / (double)(n ? n : 1);
    }
    (void)sink;
    *ns = median(per, ROUNDS);
    *instructions = median(ins, ROUNDS);
    *decided_by_publisher = by_publisher;
    *n_out = n;
}

static void print_measure(const char *label, double ns, double instructions)
{
    printf("\"%s_ns\": %.1f, \"%s_instructions\": ", label, ns, label);
    if (instructions < 0) {
        printf("null");
    } else {
        printf("%.0f", instructions);
    }
}

static int bench_signers(const char *signer_path, const char *base_path, const char *queries_path)
{
    double validate_signer_ms, validate_base_ms;
    ewl_blob_t signer_blob = load_blob(signer_path, &validate_signer_ms);
    ewl_blob_t base_blob = load_blob(base_path, &validate_base_ms);
    size_t count = 0, c, n_categories = 0, q, k, used = 0;
    signer_query_t *queries = read_signer_queries(queries_path, &count);
    char categories[MAX_CATEGORIES][32];
    const ewl_u16str_t *values;
    const size_t *counts;
    ewl_vars_t vars;
    int counter = instruction_counter();
    ewlh_default_variables(&values, &counts);
    for (k = 0; k < EWL_VARIABLE_COUNT; k++) {
        vars.values[k] = values + used;
        vars.count[k] = counts[k];
        used += counts[k];
    }
    for (q = 0; q < count; q++) {
        for (c = 0; c < n_categories && strcmp(categories[c], queries[q].category) != 0; c++) {
        }
        if (c == n_categories && n_categories < MAX_CATEGORIES) {
            snprintf(categories[n_categories++], 32, "%s", queries[q].category);
        }
    }
    printf("{\"publisher_rules\": %u, \"path_rules\": %u, \"exception_lists\": %u, "
           "\"exceptions\": %u, \"blob_bytes\": %zu, \"validate_ms\": %.3f, "
           "\"base_blob_bytes\": %zu, \"base_validate_ms\": %.3f, \"queries\": %zu, "
           "\"by_category\": {",
           signer_blob.sections[EWL_SECTION_PUBLISHER_RULES].count,
           signer_blob.sections[EWL_SECTION_PATH_RULES].count,
           signer_blob.sections[EWL_SECTION_EXCEPTION_LISTS].count,
           signer_blob.sections[EWL_SECTION_EXCEPTIONS].count, signer_blob.size,
           validate_signer_ms, base_blob.size, validate_base_ms, count);
    for (c = 0; c <= n_categories; c++) {
        const char *category = c < n_categories ? categories[c] : NULL;
        double ns, instructions, base_ns, base_instructions;
        size_t by_publisher, base_by_publisher, n;
        time_signer_queries(&signer_blob, queries, count, category, 0, &vars, counter, &ns,
                            &instructions, &by_publisher, &n);
        time_signer_queries(&base_blob, queries, count, category, 1, &vars, counter, &base_ns,
                            &base_instructions, &base_by_publisher, &n);
        if (category != NULL) {
            printf("%s\"%s\": {\"queries\": %zu, \"decided_by_publisher\": %zu, ", c ? ", " : "",
                   category, n, by_publisher);
        } else {
            printf("}, \"all\": {\"queries\": %zu, \"decided_by_publisher\": %zu, ", n,
                   by_publisher);
        }
        print_measure("median", ns, instructions);
        printf(", ");
        print_measure("base_median", base_ns, base_instructions);
        printf(", \"ratio\": %.2f}", ns / base_ns);
    }
    printf("}\n");
    if (counter >= 0) {
        close(counter);
    }
    return 0;
}

/* bench_core --signers-once BLOB QUERIES plain|signers: each query decided
 * once, for counting instructions under callgrind (--toggle-collect=ewl_decide). */
static int decide_once(const char *blob_path, const char *queries_path, int plain)
{
    double validate_ms;
    ewl_blob_t blob = load_blob(blob_path, &validate_ms);
    size_t count = 0, q, k, used = 0;
    signer_query_t *queries = read_signer_queries(queries_path, &count);
    const ewl_u16str_t *values;
    const size_t *counts;
    ewl_vars_t vars;
    volatile uint32_t sink = 0;
    ewlh_default_variables(&values, &counts);
    for (k = 0; k < EWL_VARIABLE_COUNT; k++) {
        vars.values[k] = values + used;
        vars.count[k] = counts[k];
        used += counts[k];
    }
    for (q = 0; q < count; q++) {
        ewl_query_t query = {NULL, NULL, queries[q].path, queries[q].path_len,
                             plain ? NULL : queries[q].facts};
        ewl_decision_t d;
        ewl_decide(&blob, &query, &vars, &d);
        sink ^= d.index;
    }
    (void)sink;
    printf("{\"decisions\": %zu}\n", count);
    return 0;
}

int main(int argc, char **argv)
{
    ewl_blob_t hash_blob, path_blob, scan_blob;
    double hash_validate_ms, path_validate_ms, scan_validate_ms, crc_ms[5];
    size_t digests_len = 0, n_paths = 0, n_scan = 0, r;
    uint8_t *digests;
    path_query_t *paths, *scan_paths;
    if (argc == 5 && strcmp(argv[1], "--signers-once") == 0) {
        return decide_once(argv[2], argv[3], strcmp(argv[4], "plain") == 0);
    }
    if (argc == 5 && strcmp(argv[1], "--signers") == 0) {
        return bench_signers(argv[2], argv[3], argv[4]);
    }
    if (argc != 7) {
        fprintf(stderr, "usage: bench_core HASH_BLOB DIGESTS PATH_BLOB PATHS SCAN_BLOB SCAN_PATHS\n");
        return 2;
    }
    hash_blob = load_blob(argv[1], &hash_validate_ms);
    digests = ewlh_read_file(argv[2], &digests_len, "bench_core");
    path_blob = load_blob(argv[3], &path_validate_ms);
    paths = read_paths(argv[4], &n_paths);
    scan_blob = load_blob(argv[5], &scan_validate_ms);
    scan_paths = read_paths(argv[6], &n_scan);
    for (r = 0; r < 5; r++) {
        double t0 = now_ns();
        volatile uint32_t crc = ewl_crc32(0, hash_blob.data, hash_blob.size);
        (void)crc;
        crc_ms[r] = (now_ns() - t0) / 1e6;
    }
    printf("{\n");
    bench_hashes(&hash_blob, digests, digests_len / 32);
    bench_paths("path_decision", &path_blob, paths, n_paths);
    bench_paths("scan_group", &scan_blob, scan_paths, n_scan);
    printf("  \"validation\": {\"hash_blob_bytes\": %zu, \"hash_blob_ms\": %.2f, "
           "\"crc32_only_ms\": %.2f, \"path_blob_bytes\": %zu, \"path_blob_ms\": %.3f}\n}\n",
           hash_blob.size, hash_validate_ms, median(crc_ms, 5), path_blob.size, path_validate_ms);
    return 0;
}
