/* yamljson.h — YAML text to Jansson, for the OpenAPI documents we write by
 * hand in YAML (schemas/openapi/) and serve as JSON at /openapi.json.
 *
 * The subset is JSON's data model: mappings (keys are scalars, taken as
 * strings, no duplicates), sequences and scalars.  Plain scalars resolve as
 * YAML 1.2's core schema does: null, ~ and nothing are null; true/false
 * (also True, TRUE, …) booleans; decimal integers integers; decimal
 * fractions and exponents reals; anything else a string.  Quoted and block
 * scalars are always strings, as is any scalar tagged !!str.  Anchors,
 * aliases, other tags and more than one document are refused: nothing we
 * serve needs them, and refusing aliases rules out exponential expansion.
 */
#ifndef AGORA_YAMLJSON_H
#define AGORA_YAMLJSON_H

#include <jansson.h>
#include <stddef.h>

/* Parses the one YAML document in text[0..len) and returns it as a new
 * json_t (the caller owns the reference).  On error returns NULL and writes
 * a message naming the line and column into err (errlen bytes; err may be
 * NULL).  Nesting deeper than 64 levels is an error. */
json_t *agora_yaml_to_json(const char *text, size_t len, char *err, size_t errlen);

#endif
