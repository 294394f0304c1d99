/*
 * nsmkit common: the pieces every component shares.
 *
 *  - nsmkit_error:  a one-line, human-readable error message carried out of a call;
 *  - nsmkit_reader: the one bounded reader for untrusted bytes (sticky error, slices
 *                   into the input, "leftover bytes" is an error at finish);
 *  - nsmkit_buf:    a growable output buffer with a hard size limit (sticky error);
 *  - CBOR heads:    reading and writing the major-type/argument head of a CBOR item;
 *  - nsmkit_cbor_check / nsmkit_cbor_load: a well-formedness pre-pass that bounds every
 *                   declared length and the nesting depth before libcbor allocates
 *                   anything (libcbor 0.8 preallocates declared sizes), then the load;
 *  - hex and file helpers for the command-line tools.
 *
 * Nothing here trusts its input: every function that reads outside data returns an
 * error instead of asserting.
 */
#ifndef NSMKIT_COMMON_H
#define NSMKIT_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cbor.h>

#define NSMKIT_WARN_UNUSED __attribute__((warn_unused_result))
#define NSMKIT_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))

/* ---- errors ------------------------------------------------------------------------ */

/* A message for the user: one line, no trailing newline. */
typedef struct {
    char msg[512];
} nsmkit_error;

/* Sets the message (when e is not NULL) and returns -1, so that callers can write
 * `return nsmkit_fail(e, "...")`. */
int nsmkit_fail(nsmkit_error *e, const char *fmt, ...) NSMKIT_PRINTF(2, 3);

/* ---- bounded reader ------------------------------------------------------------------ */

typedef struct {
    const uint8_t *buf;
    size_t len;
    size_t pos;
    bool err; /* sticky: once set, every read fails and returns nothing */
} nsmkit_reader;

void nsmkit_reader_init(nsmkit_reader *r, const uint8_t *buf, size_t len);
size_t nsmkit_reader_remaining(const nsmkit_reader *r);
/* Each read either succeeds completely or sets the sticky error and returns false. */
bool nsmkit_reader_u8(nsmkit_reader *r, uint8_t *out) NSMKIT_WARN_UNUSED;
bool nsmkit_reader_peek_u8(const nsmkit_reader *r, uint8_t *out) NSMKIT_WARN_UNUSED;
/* Big-endian unsigned integer of 1, 2, 4 or 8 bytes. */
bool nsmkit_reader_be(nsmkit_reader *r, size_t width, uint64_t *out) NSMKIT_WARN_UNUSED;
/* A slice of n bytes pointing into the input. */
bool nsmkit_reader_bytes(nsmkit_reader *r, size_t n, const uint8_t **out) NSMKIT_WARN_UNUSED;
/* True when no error happened and every byte was consumed. */
bool nsmkit_reader_finish(const nsmkit_reader *r) NSMKIT_WARN_UNUSED;

/* ---- growable output buffer ---------------------------------------------------------- */

typedef struct {
    uint8_t *data;
    size_t len;
    size_t cap;
    size_t limit; /* never grows beyond this many bytes */
    bool err;     /* sticky: allocation failure or limit exceeded */
} nsmkit_buf;

void nsmkit_buf_init(nsmkit_buf *b, size_t limit);
void nsmkit_buf_free(nsmkit_buf *b);
void nsmkit_buf_reset(nsmkit_buf *b); /* keeps the allocation, forgets the content */
void nsmkit_buf_append(nsmkit_buf *b, const void *data, size_t n);
void nsmkit_buf_u8(nsmkit_buf *b, uint8_t byte);

/* ---- CBOR heads ---------------------------------------------------------------------- */

enum {
    NSMKIT_CBOR_UINT = 0,
    NSMKIT_CBOR_NEGINT = 1,
    NSMKIT_CBOR_BYTES = 2,
    NSMKIT_CBOR_TEXT = 3,
    NSMKIT_CBOR_ARRAY = 4,
    NSMKIT_CBOR_MAP = 5,
    NSMKIT_CBOR_TAG = 6,
    NSMKIT_CBOR_SIMPLE = 7,
};

typedef struct {
    uint8_t major;      /* 0..7 */
    uint8_t info;       /* the low five bits of the initial byte */
    bool indefinite;    /* info == 31 */
    uint64_t argument;  /* length, count, value or tag number (0 when indefinite) */
    size_t offset;      /* where the head starts in the input */
} nsmkit_cbor_head;

/* Reads one head. Fails (sticky) on truncation and on the reserved infos 28..30. */
bool nsmkit_cbor_read_head(nsmkit_reader *r, nsmkit_cbor_head *head) NSMKIT_WARN_UNUSED;

/* Writes a head with the shortest argument encoding (as serde_cbor and the NSM do). */
void nsmkit_cbor_put_head(nsmkit_buf *b, uint8_t major, uint64_t argument);
void nsmkit_cbor_put_uint(nsmkit_buf *b, uint64_t value);
void nsmkit_cbor_put_bytes(nsmkit_buf *b, const uint8_t *data, size_t n);
void nsmkit_cbor_put_text(nsmkit_buf *b, const char *text);
void nsmkit_cbor_put_text_n(nsmkit_buf *b, const char *text, size_t n);
void nsmkit_cbor_put_null(nsmkit_buf *b);
void nsmkit_cbor_put_bool(nsmkit_buf *b, bool value);

/* ---- bounded CBOR decoding ----------------------------------------------------------- */

typedef enum {
    NSMKIT_CBOR_OK = 0,
    NSMKIT_CBOR_EMPTY,              /* no bytes at all */
    NSMKIT_CBOR_TRUNCATED,          /* a head, string or container runs past the end */
    NSMKIT_CBOR_RESERVED_INFO,      /* additional information 28..30 */
    NSMKIT_CBOR_BAD_INDEFINITE,     /* indefinite length on an integer, tag or simple value */
    NSMKIT_CBOR_BAD_CHUNK,          /* a chunk of an indefinite string of the wrong type */
    NSMKIT_CBOR_STRAY_BREAK,        /* 0xff outside an indefinite container */
    NSMKIT_CBOR_MAP_MISSING_VALUE,  /* an indefinite map closed after a key */
    NSMKIT_CBOR_BAD_SIMPLE,         /* two-byte simple value below 32 */
    NSMKIT_CBOR_TOO_DEEP,           /* nesting beyond the limit */
    NSMKIT_CBOR_TOO_MANY_ITEMS,     /* more data items than the limit */
    NSMKIT_CBOR_LENGTH_TOO_LARGE,   /* a declared length larger than the bytes left */
    NSMKIT_CBOR_INDEFINITE_STRING,  /* indefinite byte/text string, when not allowed */
    NSMKIT_CBOR_TAG_NOT_ALLOWED,    /* a tag, when not allowed */
    NSMKIT_CBOR_TRAILING_BYTES,     /* bytes after the first complete item */
    NSMKIT_CBOR_NO_MEMORY,          /* libcbor could not allocate */
    NSMKIT_CBOR_LIBRARY_ERROR,      /* libcbor refused what the pre-pass accepted */
} nsmkit_cbor_status;

typedef struct {
    size_t max_depth;           /* containers and tags nested deeper than this fail */
    size_t max_items;           /* total data items (0: no limit beyond the input size) */
    bool allow_indefinite_strings;
    bool allow_tags;
} nsmkit_cbor_limits;

typedef struct {
    nsmkit_cbor_status status;
    size_t offset;              /* where the problem was found */
    size_t items;               /* data items seen */
} nsmkit_cbor_report;

const char *nsmkit_cbor_status_name(nsmkit_cbor_status status);

/* Walks one complete item covering exactly buf[0..len) without allocating.
 * Every declared string length, array count and map count is checked against the bytes
 * that remain before it is believed. */
nsmkit_cbor_status nsmkit_cbor_check(const uint8_t *buf, size_t len,
                                     const nsmkit_cbor_limits *limits,
                                     nsmkit_cbor_report *report) NSMKIT_WARN_UNUSED;

/* nsmkit_cbor_check, then cbor_load. On success *item is an owned reference (release it
 * with cbor_decref); on failure *item is NULL and the status says why. */
nsmkit_cbor_status nsmkit_cbor_load(const uint8_t *buf, size_t len,
                                    const nsmkit_cbor_limits *limits, cbor_item_t **item,
                                    nsmkit_cbor_report *report) NSMKIT_WARN_UNUSED;

/* True when item is CBOR null. Debian's libcbor keeps its internal assertions, so
 * cbor_is_null() aborts the process on a float: this checks the width first. */
bool nsmkit_cbor_is_null(const cbor_item_t *item);

/* True when item is a definite text string equal to text. */
bool nsmkit_cbor_text_equals(const cbor_item_t *item, const char *text);

/* ---- hex ----------------------------------------------------------------------------- */

/* Decodes a hex string (upper or lower case, even length, no separators) into a new
 * allocation of at most max_len bytes. An empty string gives length 0 and a non-NULL
 * allocation. */
int nsmkit_hex_decode(const char *hex, size_t max_len, uint8_t **out, size_t *out_len,
                      nsmkit_error *e) NSMKIT_WARN_UNUSED;
/* Writes 2*len lower-case hex digits and a NUL into out (size 2*len+1). */
void nsmkit_hex_encode(const uint8_t *data, size_t len, char *out);

/* ---- JSON ---------------------------------------------------------------------------- */

/* Called for every string value met while walking a JSON text: keys holds the member
 * names from the top object down to the value (array elements add no key). Returning
 * non-zero stops the walk and makes nsmkit_json_walk return that value. */
typedef int (*nsmkit_json_string_fn)(void *ctx, const char *const *keys, size_t depth,
                                     const char *value, size_t value_len);

/* Validates a whole JSON text (RFC 8259; nesting at most 32 deep, strings at most 4 KiB)
 * and reports its string values. Returns 0, -1 with a message on malformed input, or the
 * callback's non-zero value. */
int nsmkit_json_walk(const char *text, size_t len, nsmkit_json_string_fn fn, void *ctx,
                     nsmkit_error *e) NSMKIT_WARN_UNUSED;

/* ---- files --------------------------------------------------------------------------- */

/* Reads a whole regular file of at most max_len bytes into a new allocation. */
int nsmkit_file_read(const char *path, size_t max_len, uint8_t **out, size_t *out_len,
                     nsmkit_error *e) NSMKIT_WARN_UNUSED;
/* Writes a file atomically (temporary file, fsync, rename) with the given mode. */
int nsmkit_file_write(const char *path, const uint8_t *data, size_t len, unsigned mode,
                      nsmkit_error *e) NSMKIT_WARN_UNUSED;
/* Creates a directory and its parents (like mkdir -p) with the given mode. */
int nsmkit_mkdir_p(const char *path, unsigned mode, nsmkit_error *e) NSMKIT_WARN_UNUSED;

/* Parses a decimal unsigned integer that must fill the whole string. */
bool nsmkit_parse_u64(const char *text, uint64_t *out) NSMKIT_WARN_UNUSED;

/* Overwrites memory in a way the compiler may not remove. */
void nsmkit_wipe(void *p, size_t n);

#endif /* NSMKIT_COMMON_H */
