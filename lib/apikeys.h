/* apikeys.h — management API keys, shared by the broker and the connectors.
 *
 * A key is shown once, at creation; only its SHA-256 (hex) is stored, in
 * the table api_keys that both components' migrations create.
 */
#ifndef AGORA_APIKEYS_H
#define AGORA_APIKEYS_H

#include <jansson.h>

#include "db.h"

/* Prepared statements of this module, for agora_db_setup(). */
extern const struct agora_stmt agora_apikey_stmts[];

/* Look up an unrevoked key by the hex SHA-256 of its secret.  On ONE sets
 * *id (heap) and *role (enum agora_role bit). */
enum agora_qs agora_apikey_lookup(const char *hash_hex, char **id, unsigned *role);

/* Create a key with a role: returns ONE and sets *key (the secret, heap,
 * shown once) and *out (new reference: the stored key's public fields). */
enum agora_qs agora_apikey_create(const char *name, unsigned role, char **key, json_t **out);
/* All keys (public fields only), newest first: new reference. */
enum agora_qs agora_apikey_list(json_t **out);
/* Revoke by id: ONE, or NONE when no such unrevoked key. */
enum agora_qs agora_apikey_revoke(const char *id);

#endif
