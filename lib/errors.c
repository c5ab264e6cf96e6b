/* errors.c — see errors.h. */
#include "errors.h"

#include <stdlib.h>
#include <string.h>

static const struct agora_error_info table[] = {
#define AGORA_ERR_ROW(sym, str, code, http, hint) { str, code, http, hint },
	AGORA_ERROR_TABLE(AGORA_ERR_ROW)
#undef AGORA_ERR_ROW
};

const struct agora_error_info *
agora_error_info(enum agora_error e)
{
	return &table[e];
}

/* Length of the valid UTF-8 sequence at p (1–4), 0 when it is not one. */
static size_t
utf8_seq(const unsigned char *p)
{
	unsigned c = p[0];
	size_t n = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
	if (n <= 1)
		return n;
	unsigned v = c & (0x7f >> n);
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;	/* also stops at the terminating NUL */
		v = v << 6 | (p[i] & 0x3f);
	}
	static const unsigned min[] = { 0, 0, 0x80, 0x800, 0x10000 };
	if (v < min[n] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;	/* overlong, too large, or a surrogate */
	return n;
}

json_t *
agora_error_json(enum agora_error e, const char *detail)
{
	/* Details quote what the client sent (ids, parameters) and may be cut
	 * inside a character: Jansson refuses invalid UTF-8, so replace each
	 * bad byte with '?' rather than have no body at all. */
	const char *d = detail ? detail : table[e].hint;
	char *clean = malloc(strlen(d) + 1);
	if (!clean)
		abort();
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)d; *p;) {
		size_t n = utf8_seq(p);
		if (n == 0) {
			clean[o++] = '?';
			p++;
		} else {
			memcpy(clean + o, p, n);
			o += n;
			p += n;
		}
	}
	clean[o] = '\0';
	json_t *j = json_pack("{s:i, s:s, s:s}", "code", table[e].code, "error", table[e].symbol,
			      "detail", clean);
	free(clean);
	return j;
}
