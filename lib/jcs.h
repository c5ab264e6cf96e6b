/* jcs.h — RFC 8785 JSON Canonicalization Scheme.
 *
 * Serialises a Jansson value canonically: object members sorted by their
 * UTF-16 code units, no whitespace, strings escaped per RFC 8785 §3.2.2.2,
 * numbers formatted as ECMAScript Number.prototype.toString (§3.2.2.3).
 * Jansson integers are converted to IEEE 754 doubles first, as the RFC
 * requires (so 2^53+1 is not exactly representable, like in I-JSON).
 */
#ifndef AGORA_JCS_H
#define AGORA_JCS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Canonical form of v as a heap string (NUL-terminated, *len set if not
 * NULL), or NULL when v holds a value JCS cannot represent (NaN/Infinity,
 * invalid UTF-8 — only possible through Jansson's _nocheck API) or nests
 * deeper than 2048 levels.  v is borrowed. */
char *agora_jcs(const json_t *v, size_t *len);

/* Lowercase hex SHA-256 of the canonical form of v into out; false when v
 * cannot be canonicalised.  What "the same JSON document" means across
 * Agora: identical messages, signed agreements, ledger entries. */
bool agora_jcs_sha256_hex(const json_t *v, char out[65]);

/* ECMAScript Number::toString of d into buf (>= 32 bytes); false for
 * NaN/Infinity. */
int agora_jcs_number(double d, char buf[32]);

#endif
