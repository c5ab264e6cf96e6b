/* openapi_check.h — compares a served /openapi.json with a route table. */
#ifndef OPENAPI_CHECK_H
#define OPENAPI_CHECK_H

#include "http.h"

#include <jansson.h>
#include <stddef.h>

/* Expects (criterion cr_expect) of doc, the document a process serves:
 * `openapi` is 3.1.x and info.version the build's; every (method, path) of
 * routes[0..n) is an operation with a summary and responses, and every
 * operation is a route (a route's "{name*}" is "{name}" in OpenAPI); every
 * local $ref resolves; the Error schema is {code, error, detail}.  file
 * names the YAML in messages. */
void openapi_check_routes(json_t *doc, const struct agora_route *routes, size_t n, const char *file);

#endif
