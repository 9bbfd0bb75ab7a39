/* One path decision, for measuring what it costs (tests/test_core_matching.py
 * counts its instructions under callgrind; benchmarks/bench_core.py times it):
 *
 *   decide_cost BLOB PATH [REPEAT]
 *
 * PATH is a file of folded UTF-16LE code units. The blob is validated once,
 * then ewl_decide runs REPEAT times (default 1) with only the path and the
 * default variables. Prints one JSON object: the decision and the mean
 * nanoseconds per decision (clock_gettime(CLOCK_MONOTONIC) around all of
 * them). Built by make -C driver/harness cost: gcc -O2 -g, no sanitizer, so
 * that the count is the one of the optimized core. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "harness.h"


int main(int argc, char **argv)
{
    size_t blob_len = 0, path_len = 0, k, used = 0;
    uint8_t *blob_data, *path_bytes;
    uint16_t *path;
    long repeat = argc > 3 ? strtol(argv[3], NULL, 10) : 1, r;
    const ewl_u16str_t *values;
    const size_t *counts;
    ewl_vars_t vars;
    ewl_blob_t blob;
    ewl_query_t query = {NULL, NULL, NULL, 0, NULL};
    ewl_decision_t d;
    struct timespec t0, t1;
    double ns;
    if (argc < 3 || repeat < 1) {
        fprintf(stderr, "usage: decide_cost BLOB PATH [REPEAT]\n");
        return 2;
    }
    blob_data = ewlh_read_file(argv[1], &blob_len, "decide_cost");
    path_bytes = ewlh_read_file(argv[2], &path_len, "decide_cost");
    path = malloc((path_len / 2 + 1) * sizeof *path);
    if (path == NULL) {
        return 2;
    }
    for (k = 0; k < path_len / 2; k++) {
        path[k] = (uint16_t)(path_bytes[2 * k] | path_bytes[2 * k + 1] << 8);
    }
    if (ewl_blob_validate(blob_data, blob_len, &blob) != EWL_STATUS_OK) {
        fprintf(stderr, "decide_cost: invalid blob\n");
        return 2;
    }
    ewlh_default_variables(&values, &counts);
    for (k = 0; k < EWL_VARIABLE_COUNT; k++) {
        vars.values[k] = values + used;
        vars.count[k] = counts[k];
        used += counts[k];
    }
    query.path = path;
    query.path_len = path_len / 2;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (r = 0; r < repeat; r++) {
        ewl_decide(&blob, &query, &vars, &d);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ns = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) /
         (double)repeat;
    printf("{\"action\": %d, \"decided\": %d, \"index\": %ld, \"ns_per_decision\": %.1f}\n",
           d.action, d.decided, d.index == EWL_NO_INDEX ? -1L : (long)d.index, ns);
    free(path);
    free(path_bytes);
    free(blob_data);
    return 0;
}
