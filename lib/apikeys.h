/* apikeys.h — management API keys, shared by the broker and the connectors.
 *
 * A key is shown once, at creation; only its SHA-256 (hex) is stored, in
 * the table api_keys that both components' migrations create.
 */
#ifndef AGORA_APIKEYS_H
#define AGORA_APIKEYS_H

#include <jansson.h>

#include "db.h"
#include "http.h"

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

/* The bootstrap admin key of a process: `given` (a flag) wins; else the
 * SHA-256 kept in DIR/admin-key.sha256; else a new key, printed once on
 * stdout as "PROG: generated admin API key (shown once, keep it): KEY"
 * (never logged) with only its hash kept.  false (logged) on I/O errors. */
bool agora_admin_key_bootstrap(const char *given, const char *dir, const char *prog,
			       uint8_t hash[32]);

/* The /api/v1/api-keys endpoints (admin role), shared by all processes:
 * POST {name, role} → 201 with the secret shown once; GET → {results};
 * DELETE /{id} → 200, or 404 api_key_not_found. */
enum MHD_Result agora_apikey_handle_create(struct agora_req *r);
enum MHD_Result agora_apikey_handle_list(struct agora_req *r);
enum MHD_Result agora_apikey_handle_revoke(struct agora_req *r);

#endif
