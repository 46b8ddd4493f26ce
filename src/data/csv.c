/* CSV reader for numeric tables: RFC 4180 quotes, LF or CRLF, optional header.
 * The file is read whole (under a size cap) and parsed in one pass; every error
 * names the path, the line and the column. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clgrad/data.h"
#include "common/error.h"
#include "common/file.h"

clg_csv_options clg_csv_options_default(void) {
    clg_csv_options o;
    o.delimiter = ',';
    o.header = 0;
    o.empty_is_nan = 0;
    o.max_line_bytes = (size_t)1 << 20;
    o.max_file_bytes = (size_t)1 << 30;
    return o;
}

void clg_csv_free(clg_csv *csv) {
    if (!csv) return;
    if (csv->names)
        for (int64_t i = 0; i < csv->cols; i++) free(csv->names[i]);
    free(csv->names);
    free(csv->values);
    free(csv);
}

typedef struct csv_parser {
    const char *path;
    const char *buf;
    size_t len, pos;
    long long line;       /* 1-based line of pos */
    char delim;
    char *field;          /* the current field, unquoted, NUL-terminated */
    size_t field_len, field_cap;
} csv_parser;

enum { END_DELIM, END_LINE, END_FILE };

static int is_blank(const csv_parser *p, char c) {
    return (c == ' ' || c == '\t') && c != p->delim;
}

static clg_status field_push(csv_parser *p, char c, long long line, long long col) {
    /* strtod would stop at a NUL and take "1<NUL>junk" for 1; a name would be cut */
    if (c == '\0')
        return clg_fail(CLG_STATUS_CORRUPT_DATA,
                        "clg_csv_read: '%s' line %lld column %lld: NUL byte in a field (not a text file?)",
                        p->path, line, col);
    if (p->field_len + 1 >= p->field_cap)
        return clg_fail(CLG_STATUS_CORRUPT_DATA,
                        "clg_csv_read: '%s' line %lld column %lld: field longer than %zu bytes",
                        p->path, line, col, p->field_cap - 1);
    p->field[p->field_len++] = c;
    return CLG_OK;
}

/* Consumes a line end at pos if there is one ("\n", "\r\n", or "\r" at EOF). */
static int take_line_end(csv_parser *p) {
    if (p->pos < p->len && p->buf[p->pos] == '\n') {
        p->pos++;
        p->line++;
        return 1;
    }
    if (p->pos < p->len && p->buf[p->pos] == '\r' &&
        (p->pos + 1 == p->len || p->buf[p->pos + 1] == '\n')) {
        p->pos += p->pos + 1 < p->len ? 2 : 1;
        p->line++;
        return 1;
    }
    return 0;
}

/* Parses one field starting at pos into p->field; *end says what ended it. */
static clg_status parse_field(csv_parser *p, long long col, int *end) {
    long long line = p->line;
    p->field_len = 0;
    while (p->pos < p->len && is_blank(p, p->buf[p->pos])) p->pos++;
    if (p->pos < p->len && p->buf[p->pos] == '"') {
        long long open_line = p->line;
        p->pos++;
        for (;;) {
            if (p->pos >= p->len)
                return clg_fail(CLG_STATUS_CORRUPT_DATA,
                                "clg_csv_read: '%s' line %lld column %lld: unterminated quote",
                                p->path, open_line, col);
            char c = p->buf[p->pos];
            if (c == '"') {
                if (p->pos + 1 < p->len && p->buf[p->pos + 1] == '"') {
                    clg_status st = field_push(p, '"', line, col);
                    if (st != CLG_OK) return st;
                    p->pos += 2;
                    continue;
                }
                p->pos++;
                break;
            }
            if (c == '\n') p->line++;
            clg_status st = field_push(p, c, line, col);
            if (st != CLG_OK) return st;
            p->pos++;
        }
        while (p->pos < p->len && is_blank(p, p->buf[p->pos])) p->pos++;
        if (p->pos >= p->len) {
            *end = END_FILE;
        } else if (p->buf[p->pos] == p->delim) {
            p->pos++;
            *end = END_DELIM;
        } else if (take_line_end(p)) {
            *end = END_LINE;
        } else {
            return clg_fail(CLG_STATUS_CORRUPT_DATA,
                            "clg_csv_read: '%s' line %lld column %lld: unexpected character '%c' "
                            "after a closing quote", p->path, p->line, col, p->buf[p->pos]);
        }
    } else {
        for (;;) {
            if (p->pos >= p->len) {
                *end = END_FILE;
                break;
            }
            char c = p->buf[p->pos];
            if (c == p->delim) {
                p->pos++;
                *end = END_DELIM;
                break;
            }
            if (take_line_end(p)) {
                *end = END_LINE;
                break;
            }
            if (c == '"')
                return clg_fail(CLG_STATUS_CORRUPT_DATA,
                                "clg_csv_read: '%s' line %lld column %lld: quote inside an "
                                "unquoted field", p->path, line, col);
            clg_status st = field_push(p, c, line, col);
            if (st != CLG_OK) return st;
            p->pos++;
        }
        while (p->field_len > 0 && is_blank(p, p->field[p->field_len - 1])) p->field_len--;
    }
    p->field[p->field_len] = '\0';
    return CLG_OK;
}

static clg_status parse_number(csv_parser *p, const clg_csv_options *o, long long line,
                               long long col, double *v) {
    char *s = p->field;
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) s[--n] = '\0';
    if (n == 0) {
        if (o->empty_is_nan) {
            *v = NAN;
            return CLG_OK;
        }
        return clg_fail(CLG_STATUS_CORRUPT_DATA,
                        "clg_csv_read: '%s' line %lld column %lld: empty field (set empty_is_nan "
                        "to read it as NaN)", p->path, line, col);
    }
    char *end = NULL;
    errno = 0;
    double d = strtod(s, &end);
    if (end == s || *end != '\0')
        return clg_fail(CLG_STATUS_CORRUPT_DATA,
                        "clg_csv_read: '%s' line %lld column %lld: '%.40s' is not a number",
                        p->path, line, col, s);
    if (errno == ERANGE && isinf(d))
        return clg_fail(CLG_STATUS_CORRUPT_DATA,
                        "clg_csv_read: '%s' line %lld column %lld: '%.40s' is out of double range",
                        p->path, line, col, s);
    *v = d;
    return CLG_OK;
}

static clg_status check_line_lengths(const char *path, const char *buf, size_t len, size_t cap) {
    size_t start = 0;
    long long line = 1;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && buf[i] != '\n') continue;
        size_t n = i - start;
        if (n > 0 && buf[i - 1] == '\r') n--;
        if (n > cap)
            return clg_fail(CLG_STATUS_CORRUPT_DATA,
                            "clg_csv_read: '%s' line %lld is %zu bytes, over the %zu-byte line cap",
                            path, line, n, cap);
        start = i + 1;
        line++;
    }
    return CLG_OK;
}

typedef struct csv_build {
    double *values;
    size_t count, cap;
    char **names;
    int64_t names_count, names_cap;
} csv_build;

static clg_status push_value(csv_build *b, double v, const char *path) {
    if (b->count == b->cap) {
        size_t ncap = b->cap ? b->cap * 2 : 256;
        double *nv = ncap > SIZE_MAX / sizeof(double) ? NULL : realloc(b->values, ncap * sizeof(double));
        if (!nv)
            return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "clg_csv_read: '%s': no memory for %zu values",
                            path, ncap);
        b->values = nv;
        b->cap = ncap;
    }
    b->values[b->count++] = v;
    return CLG_OK;
}

static clg_status push_name(csv_build *b, const char *name, const char *path) {
    if (b->names_count == b->names_cap) {
        int64_t ncap = b->names_cap ? b->names_cap * 2 : 16;
        char **nn = realloc(b->names, (size_t)ncap * sizeof(char *));
        if (!nn)
            return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "clg_csv_read: '%s': no memory for names", path);
        b->names = nn;
        b->names_cap = ncap;
    }
    char *copy = strdup(name);
    if (!copy)
        return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "clg_csv_read: '%s': no memory for names", path);
    b->names[b->names_count++] = copy;
    return CLG_OK;
}

static clg_status parse_all(csv_parser *p, const clg_csv_options *o, csv_build *b, int64_t *rows_out,
                            int64_t *cols_out) {
    int64_t cols = -1, rows = 0;
    long long cols_line = 0;
    int header_pending = o->header;
    while (p->pos < p->len) {
        if (take_line_end(p)) continue; /* blank line */
        long long row_line = p->line;
        long long col = 0;
        int end = END_DELIM;
        while (end == END_DELIM) {
            col++;
            long long field_line = p->line;
            clg_status st = parse_field(p, col, &end);
            if (st != CLG_OK) return st;
            if (cols >= 0 && col > cols)
                return clg_fail(CLG_STATUS_CORRUPT_DATA,
                                "clg_csv_read: '%s' line %lld column %lld: row has more than %lld "
                                "fields (line %lld has %lld)", p->path, row_line, col,
                                (long long)cols, cols_line, (long long)cols);
            if (header_pending) {
                st = push_name(b, p->field, p->path);
            } else {
                double v = 0;
                st = parse_number(p, o, field_line, col, &v);
                if (st == CLG_OK) st = push_value(b, v, p->path);
            }
            if (st != CLG_OK) return st;
        }
        if (cols < 0) {
            cols = col;
            cols_line = row_line;
        } else if (col != cols) {
            return clg_fail(CLG_STATUS_CORRUPT_DATA,
                            "clg_csv_read: '%s' line %lld column %lld: row has %lld fields, expected "
                            "%lld (as line %lld)", p->path, row_line, col + 1, col, (long long)cols,
                            cols_line);
        }
        if (header_pending)
            header_pending = 0;
        else
            rows++;
    }
    if (rows == 0)
        return clg_fail(CLG_STATUS_CORRUPT_DATA, "clg_csv_read: '%s' has no data rows%s", p->path,
                        o->header ? " after the header" : "");
    *rows_out = rows;
    *cols_out = cols;
    return CLG_OK;
}

clg_status clg_csv_read(const char *path, const clg_csv_options *options, clg_csv **out) {
    if (out) *out = NULL;
    if (!path || !out)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_csv_read: path or out is NULL");
    clg_csv_options o = options ? *options : clg_csv_options_default();
    if (o.delimiter == '\0') o.delimiter = ',';
    if (o.max_line_bytes == 0) o.max_line_bytes = clg_csv_options_default().max_line_bytes;
    if (o.max_file_bytes == 0) o.max_file_bytes = clg_csv_options_default().max_file_bytes;
    if (o.delimiter == '"' || o.delimiter == '\n' || o.delimiter == '\r')
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                        "clg_csv_read: '%s': delimiter 0x%02x cannot be a quote or line end", path,
                        (unsigned char)o.delimiter);
    char *data = NULL;
    size_t len = 0;
    clg_status st = clg_read_file(path, o.max_file_bytes, &data, &len);
    if (st != CLG_OK) return clg_fail_wrap(st, "clg_csv_read");
    st = check_line_lengths(path, data, len, o.max_line_bytes);
    if (st != CLG_OK) {
        free(data);
        return st;
    }
    csv_parser p = {path, data, len, 0, 1, o.delimiter, NULL, 0, 0};
    /* A field fits a line, or (quoted across lines) the file. */
    p.field_cap = (len < o.max_line_bytes ? len : o.max_line_bytes) + 2;
    p.field = malloc(p.field_cap);
    csv_build b = {0};
    int64_t rows = 0, cols = 0;
    clg_csv *csv = NULL;
    if (!p.field)
        st = clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "clg_csv_read: '%s': out of host memory", path);
    else
        st = parse_all(&p, &o, &b, &rows, &cols);
    if (st == CLG_OK) {
        csv = calloc(1, sizeof *csv);
        if (!csv) st = clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "clg_csv_read: '%s': out of host memory", path);
    }
    free(p.field);
    free(data);
    if (st != CLG_OK) {
        for (int64_t i = 0; i < b.names_count; i++) free(b.names[i]);
        free(b.names);
        free(b.values);
        return st;
    }
    csv->rows = rows;
    csv->cols = cols;
    csv->values = b.values;
    csv->names = o.header ? b.names : NULL;
    if (!o.header) free(b.names);
    *out = csv;
    return CLG_OK;
}

clg_status clg_csv_columns_float32(const clg_csv *csv, int64_t first_col, int64_t ncols, float *out,
                                   int64_t capacity) {
    if (!csv || !out || !csv->values || csv->rows < 0) /* (a clg_csv may be filled in by the caller) */
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_csv_columns_float32: csv, its values or out is NULL%s",
                        csv && csv->rows < 0 ? ", or its row count is negative" : "");
    if (first_col < 0 || ncols < 1 || first_col > csv->cols - ncols)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                        "clg_csv_columns_float32: %lld columns from column %lld are outside the table's %lld",
                        (long long)ncols, (long long)first_col, (long long)csv->cols); /* (the end may overflow) */
    if (capacity / ncols < csv->rows)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                        "clg_csv_columns_float32: output holds %lld floats, needs %lld x %lld",
                        (long long)capacity, (long long)csv->rows, (long long)ncols);
    for (int64_t r = 0; r < csv->rows; r++)
        for (int64_t c = 0; c < ncols; c++)
            out[r * ncols + c] = (float)csv->values[r * csv->cols + first_col + c];
    return CLG_OK;
}
