/* jsonv.h — declarative checking of JSON request bodies.
 *
 * A handler describes the members it takes in a table; agora_json_check()
 * checks presence, types and bounds, refuses members the table does not
 * name (when strict), borrows each member into *out, and on failure fills
 * an error and a detail that names the field.  agora_req_fields() does the
 * same and replies the error, Redis-style: the handler just returns.
 */
#ifndef AGORA_JSONV_H
#define AGORA_JSONV_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "errors.h"
#include "http.h"

enum agora_jtype {
	AGORA_J_STRING,		/* non-empty, ≤ max (bytes), valid UTF-8 without NUL */
	AGORA_J_OBJECT,		/* ≤ max members (0: unbounded) */
	AGORA_J_ARRAY,		/* ≤ max items (0: unbounded) */
	AGORA_J_STRINGS,	/* array of ≤ max strings, each non-empty ≤ 256 bytes */
	AGORA_J_INTEGER,
	AGORA_J_BOOLEAN,
};

struct agora_jfield {
	const char *name;
	enum agora_jtype type;
	bool required;
	size_t max;
	const json_t **out;	/* borrowed member, NULL when absent */
};

/* Check obj (may be NULL: a missing body) against the table of n fields.
 * `where` prefixes field names in messages ("attributes." …). */
bool agora_json_check(const json_t *obj, const struct agora_jfield *fields, size_t n, bool strict,
		      const char *where, enum agora_error *err, char *detail, size_t dlen);

/* agora_json_check on r's body, replying the error when it fails. */
bool agora_req_fields(struct agora_req *r, const json_t *obj, const struct agora_jfield *fields,
		      size_t n, bool strict, const char *where);

#endif
