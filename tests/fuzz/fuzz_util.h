/* fuzz_util.h — small helpers shared by the libFuzzer targets (header only:
 * each target is one translation unit linked against libagora-fuzz.a). */
#ifndef AGORA_FUZZ_UTIL_H
#define AGORA_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A failed property: say which, then abort so libFuzzer saves the input. */
#define FUZZ_CHECK(cond, ...)                                                   \
	do {                                                                    \
		if (!(cond)) {                                                  \
			fprintf(stderr, "property failed: %s: ", #cond);        \
			fprintf(stderr, __VA_ARGS__);                           \
			fputc('\n', stderr);                                    \
			abort();                                                \
		}                                                               \
	} while (0)

/* The input as a NUL-terminated heap string (embedded NULs stay: C
 * functions then see a prefix, as they would from a C caller). */
static inline char *
fuzz_strndup(const uint8_t *data, size_t size)
{
	char *s = xmalloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* FNV-1a over the input: a deterministic source of choices. */
static inline uint32_t
fuzz_hash(const uint8_t *data, size_t size)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < size; i++)
		h = (h ^ data[i]) * 16777619u;
	return h;
}

/* The RFC 8037 Appendix A key: every target that signs uses it. */
#define FUZZ_KEY_D "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
static inline struct agora_key *
fuzz_key(void)
{
	size_t n = 0;
	uint8_t *d = agora_b64url_decode(FUZZ_KEY_D, strlen(FUZZ_KEY_D), &n);
	if (!d || n != 32)
		abort();
	struct agora_key *k = agora_key_from_private_raw(d);
	free(d);
	if (!k)
		abort();
	return k;
}

/* header and payload bytes signed with k as a compact JWS (heap), so the
 * fuzzer reaches what follows a good signature. */
static inline char *
fuzz_forge(const struct agora_key *k, const char *header, size_t hlen, const char *payload,
	   size_t plen)
{
	char *h64 = agora_b64url_encode(header, hlen);
	char *p64 = agora_b64url_encode(payload, plen);
	char *input = xasprintf("%s.%s", h64, p64);
	uint8_t sig[64];
	if (!agora_ed25519_sign(k, input, strlen(input), sig))
		abort();
	char *s64 = agora_b64url_encode(sig, sizeof sig);
	char *jws = xasprintf("%s.%s", input, s64);
	free(h64);
	free(p64);
	free(input);
	free(s64);
	return jws;
}

/* Split data at the first '\n' (or at the end). */
static inline void
fuzz_split(const uint8_t *data, size_t size, const uint8_t **a, size_t *alen, const uint8_t **b,
	   size_t *blen)
{
	const uint8_t *nl = memchr(data, '\n', size);
	*a = data;
	*alen = nl ? (size_t)(nl - data) : size;
	*b = nl ? nl + 1 : data + size;
	*blen = nl ? size - *alen - 1 : 0;
}

#endif
