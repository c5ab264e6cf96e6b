/* util.h — allocation that aborts on failure, small string and time helpers.
 *
 * Allocation failure is not recoverable in Agora's processes: every size a
 * client controls is bounded elsewhere, so running out of memory is a
 * machine fault.  x*alloc() print a line and abort() instead of returning
 * NULL, so callers do not check.
 */
#ifndef AGORA_UTIL_H
#define AGORA_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* printf into a fresh heap string; the caller frees it. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Wall-clock seconds since the epoch, and a monotonic clock in ns. */
int64_t agora_now(void);
uint64_t agora_mono_ns(void);

/* RFC 3339 UTC ("2026-11-25T10:34:16Z") into buf (>= 21 bytes). */
void agora_time_rfc3339(int64_t t, char buf[static 32]);

/* Parse an RFC 3339 date-time ("2026-01-01T00:00:00Z", fractional seconds
 * and ±hh:mm offsets allowed) into milliseconds since the epoch, UTC.
 * false when s is not one (or out of the years 1..9999). */
bool agora_time_parse_rfc3339(const char *s, int64_t *unix_ms);

/* Lowercase hex of len bytes into out (>= 2*len+1 bytes). */
void agora_hex(const uint8_t *in, size_t len, char *out);

/* A random UUID v4 as "urn:uuid:…" (46 bytes with NUL). */
void agora_urn_uuid(char out[static 46]);

/* s percent-encoded as one URL path segment (RFC 3986 pchar: unreserved,
 * sub-delims, ':' and '@' stay), so ids such as urn:uuid:… can go into
 * paths as they are and nothing else can add a segment.  Heap string. */
char *agora_path_segment(const char *s);

/* mkdir -p with mode 0700 for what it creates; -1 with errno on failure. */
int agora_mkdir_p(const char *dir);

/* Constant-time comparison of two equal-length buffers. */
bool agora_ct_equal(const void *a, const void *b, size_t len);

/* A growable byte buffer (storage owned by the caller: init/cleanup). */
struct agora_buf {
	char *data;
	size_t len;
	size_t cap;
};
void agora_buf_init(struct agora_buf *b);
void agora_buf_cleanup(struct agora_buf *b);
void agora_buf_append(struct agora_buf *b, const void *p, size_t n);
void agora_buf_puts(struct agora_buf *b, const char *s);
void agora_buf_printf(struct agora_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Hands the NUL-terminated data to the caller and empties the buffer. */
char *agora_buf_steal(struct agora_buf *b);

#endif
