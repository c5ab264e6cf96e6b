/* http_apikeys.c — /api/v1/api-keys: create (shown once), list, revoke. */
#include "apikeys.h"
#include "broker.h"
#include "jsonv.h"
#include "util.h"

#include <stdlib.h>

enum MHD_Result
broker_apikey_create(struct agora_req *r)
{
	const json_t *name, *role;
	const struct agora_jfield f[] = {
		{ "name", AGORA_J_STRING, true, 200, &name },
		{ "role", AGORA_J_STRING, true, 32, &role },
	};
	if (!agora_req_fields(r, r->json, f, ARRAY_LEN(f), true, NULL))
		return MHD_YES;
	unsigned bit = agora_role_parse(json_string_value(role));
	if (!bit)
		return agora_reply_error(r, AGORA_E_INVALID_REQUEST,
					 "field 'role' must be one of admin, publisher, consumer, viewer");
	char *key = NULL;
	json_t *out = NULL;
	if (agora_apikey_create(json_string_value(name), bit, &key, &out) != AGORA_QS_ONE)
		return agora_reply_error(r, AGORA_E_UNAVAILABLE, "the key store is unavailable");
	json_object_set_new(out, "key", json_string(key));
	free(key);
	return agora_reply_json(r, 201, out);
}

enum MHD_Result
broker_apikey_list(struct agora_req *r)
{
	json_t *list = NULL;
	if (agora_apikey_list(&list) < 0)
		return agora_reply_error(r, AGORA_E_UNAVAILABLE, "the key store is unavailable");
	return agora_reply_json(r, 200, json_pack("{s:o}", "results", list));
}

enum MHD_Result
broker_apikey_revoke(struct agora_req *r)
{
	const char *id = agora_req_param(r, "id");
	enum agora_qs qs = agora_apikey_revoke(id);
	if (qs < 0)
		return agora_reply_error(r, AGORA_E_UNAVAILABLE, "the key store is unavailable");
	if (qs == AGORA_QS_NONE)
		return agora_reply_error(r, AGORA_E_API_KEY_NOT_FOUND, "no unrevoked API key '%.64s'", id);
	return agora_reply_json(r, 200, json_pack("{s:s, s:s}", "id", id, "status", "revoked"));
}
