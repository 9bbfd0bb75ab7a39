/* Replays fuzz inputs without libFuzzer (after zstd's
 * tests/fuzz/regression_driver.c): each argument is a file or a directory of
 * files, each fed once to LLVMFuzzerTestOneInput. Built with gcc and the
 * sanitizers, so the corpus is checked by a second compiler too. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *data;
    long size;
    int ok = 0;
    if (f == NULL) {
        return 0;
    }
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        /* Exactly the input's size, so that ASan sees any read past its end. */
        data = malloc(size > 0 ? (size_t)size : 1);
        if (data != NULL && fread(data, 1, (size_t)size, f) == (size_t)size) {
            LLVMFuzzerTestOneInput(data, (size_t)size);
            ok = 1;
        }
        free(data);
    }
    fclose(f);
    return ok;
}

int main(int argc, char **argv)
{
    unsigned runs = 0, unreadable = 0;
    int i;
    for (i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            DIR *dir = opendir(argv[i]);
            struct dirent *entry;
            while (dir != NULL && (entry = readdir(dir)) != NULL) {
                char path[4096];
                struct stat est;
                snprintf(path, sizeof path, "%s/%s", argv[i], entry->d_name);
                if (stat(path, &est) == 0 && S_ISREG(est.st_mode)) {
                    if (run_file(path)) {
                        runs++;
                    } else {
                        unreadable++;
                    }
                }
            }
            if (dir != NULL) {
                closedir(dir);
            }
        } else if (run_file(argv[i])) {
            runs++;
        } else {
            unreadable++;
        }
    }
    printf("regression: %u inputs replayed, %u unreadable\n", runs, unreadable);
    return unreadable == 0 && runs > 0 ? 0 : 1;
}
