/* libFuzzer target: CSV tables of numbers (clg_csv_read) with the reader's
 * options, and clg_csv_columns_float32 on what it accepts.
 *
 * Input: a delimiter byte (given as it is, so that the refused ones are tried
 * too; 0 means the default), a flags byte (bit 0 header, bit 1 empty_is_nan,
 * bits 2-4 a line cap, bits 5-6 a file cap, small enough to be reached), then
 * the file. */
#include <stdlib.h>
#include <string.h>

#include "clgrad/data.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    static const size_t line_caps[8] = {0, 1, 2, 3, 8, 16, 64, 1024};
    static const size_t file_caps[4] = {0, 8, 100, 2000};
    clg_csv_options o = clg_csv_options_default();
    o.delimiter = (char)data[0];
    o.header = data[1] & 1;
    o.empty_is_nan = (data[1] >> 1) & 1;
    o.max_line_bytes = line_caps[(data[1] >> 2) & 7];
    o.max_file_bytes = file_caps[(data[1] >> 5) & 3];
    const char *path = fuzz_path("input.csv");
    fuzz_write(path, data + 2, size - 2);

    clg_csv *csv = (clg_csv *)(uintptr_t)1; /* must be set to NULL on failure */
    clg_clear_error();
    clg_status st = clg_csv_read(path, &o, &csv);
    if (st != CLG_OK) {
        fuzz_check_failure(st, "clg_csv_read", path);
        FUZZ_CHECK(csv == NULL, "*out left %p on failure", (void *)csv);
        return 0;
    }
    /* a NUL byte is in no number and no name: strtod would stop at it */
    FUZZ_CHECK(!memchr(data + 2, 0, size - 2), "a file with a NUL byte was accepted");
    FUZZ_CHECK(csv->rows >= 1 && csv->cols >= 1, "%lld rows, %lld columns", (long long)csv->rows,
               (long long)csv->cols);
    /* every value came from at least one byte of the file (a field and its delimiter) */
    FUZZ_CHECK(csv->rows * csv->cols <= (int64_t)size, "%lld x %lld values from %zu bytes", (long long)csv->rows,
               (long long)csv->cols, size - 2);
    FUZZ_CHECK(csv->values != NULL, "values");
    FUZZ_CHECK((csv->names != NULL) == (o.header != 0), "names %p with header %d", (void *)csv->names, o.header);
    for (int64_t c = 0; csv->names && c < csv->cols; c++) FUZZ_CHECK(csv->names[c], "name %lld", (long long)c);
    int64_t n = csv->rows * csv->cols;
    float *out = malloc((size_t)n * sizeof *out);
    if (out) {
        FUZZ_CHECK(clg_csv_columns_float32(csv, 0, csv->cols, out, n) == CLG_OK, "all columns");
        FUZZ_CHECK(clg_csv_columns_float32(csv, csv->cols - 1, 1, out, csv->rows) == CLG_OK, "last column");
        clg_clear_error();
        fuzz_check_failure(clg_csv_columns_float32(csv, 0, csv->cols, out, n - 1), "clg_csv_columns_float32", NULL);
        clg_clear_error();
        fuzz_check_failure(clg_csv_columns_float32(csv, 1, csv->cols, out, n), "clg_csv_columns_float32", NULL);
    }
    free(out);
    clg_csv_free(csv);
    return 0;
}
