/* jsonv.c — see jsonv.h. */
#include "jsonv.h"

#include <stdio.h>
#include <string.h>

static const char *const type_names[] = { "a string", "an object", "an array",
					   "an array of strings", "an integer", "a boolean" };

static bool
string_ok(const json_t *v, size_t max)
{
	size_t len = json_string_length(v);
	/* Jansson accepts \u0000 in strings; ids and names must not hold it. */
	return len > 0 && len <= max && strlen(json_string_value(v)) == len;
}

bool
agora_json_check(const json_t *obj, const struct agora_jfield *fields, size_t n, bool strict,
		 const char *where, enum agora_error *err, char *detail, size_t dlen)
{
	const char *w = where ? where : "";
	if (!json_is_object(obj)) {
		*err = AGORA_E_INVALID_REQUEST;
		snprintf(detail, dlen, "%s must be a JSON object", *w ? w : "the body");
		return false;
	}
	if (strict) {
		const char *key;
		json_t *val;
		json_object_foreach((json_t *)obj, key, val) {
			size_t i;
			for (i = 0; i < n && strcmp(fields[i].name, key); i++)
				;
			if (i == n) {
				*err = AGORA_E_UNKNOWN_FIELD;
				snprintf(detail, dlen, "unknown field '%s%.64s'", w, key);
				return false;
			}
		}
	}
	for (size_t i = 0; i < n; i++) {
		const struct agora_jfield *f = &fields[i];
		const json_t *v = json_object_get(obj, f->name);
		if (f->out)
			*f->out = NULL;
		if (!v || json_is_null(v)) {
			if (f->required) {
				*err = AGORA_E_INVALID_REQUEST;
				snprintf(detail, dlen, "field '%s%s' is required", w, f->name);
				return false;
			}
			continue;
		}
		bool ok = false;
		const char *why = NULL;
		switch (f->type) {
		case AGORA_J_STRING:
			ok = json_is_string(v) && string_ok(v, f->max);
			if (json_is_string(v) && !ok)
				why = "must be a non-empty string without NUL";
			break;
		case AGORA_J_OBJECT:
			ok = json_is_object(v) && (!f->max || json_object_size(v) <= f->max);
			break;
		case AGORA_J_ARRAY:
			ok = json_is_array(v) && (!f->max || json_array_size(v) <= f->max);
			break;
		case AGORA_J_STRINGS:
			ok = json_is_array(v) && (!f->max || json_array_size(v) <= f->max);
			for (size_t k = 0; ok && k < json_array_size(v); k++)
				ok = json_is_string(json_array_get(v, k)) &&
				     string_ok(json_array_get(v, k), 256);
			break;
		case AGORA_J_INTEGER:
			ok = json_is_integer(v);
			break;
		case AGORA_J_BOOLEAN:
			ok = json_is_boolean(v);
			break;
		}
		if (!ok) {
			*err = AGORA_E_INVALID_REQUEST;
			if (why)
				snprintf(detail, dlen, "field '%s%s' %s of at most %zu bytes", w, f->name,
					 why, f->max);
			else if (f->max && f->type != AGORA_J_STRING && f->type != AGORA_J_INTEGER &&
				 f->type != AGORA_J_BOOLEAN)
				snprintf(detail, dlen, "field '%s%s' must be %s of at most %zu %s", w,
					 f->name, type_names[f->type], f->max,
					 f->type == AGORA_J_OBJECT ? "members" : "items");
			else
				snprintf(detail, dlen, "field '%s%s' must be %s", w, f->name,
					 type_names[f->type]);
			return false;
		}
		if (f->out)
			*f->out = v;
	}
	return true;
}

bool
agora_req_fields(struct agora_req *r, const json_t *obj, const struct agora_jfield *fields,
		 size_t n, bool strict, const char *where)
{
	enum agora_error e;
	char detail[256];
	if (agora_json_check(obj, fields, n, strict, where, &e, detail, sizeof detail))
		return true;
	agora_reply_error(r, e, "%s", detail);
	return false;
}
