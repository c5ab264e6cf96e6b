/* errors.h — the one error table of Agora.
 *
 * Every error a client sees is one row here: a symbol, a stable numeric code
 * (> 1000, so it is never mistaken for an HTTP status), the HTTP status and
 * a short hint.  Bodies are always {"code":…,"error":"symbol","detail":"…"},
 * built by agora_error_json() — nowhere else.  Codes are never reused or
 * renumbered once released; docs/ERRORS.md lists them.
 */
#ifndef AGORA_ERRORS_H
#define AGORA_ERRORS_H

#include <jansson.h>

#define AGORA_ERROR_TABLE(X) \
	/* generic request errors */ \
	X(INVALID_JSON,          "invalid_json",           1001, 400, "the body is not well-formed JSON") \
	X(INVALID_REQUEST,       "invalid_request",        1002, 400, "a field is missing or has the wrong type or value") \
	X(UNKNOWN_FIELD,         "unknown_field",          1003, 400, "the body has a field this endpoint does not know") \
	X(BODY_TOO_LARGE,        "body_too_large",         1004, 413, "the body is larger than this endpoint accepts") \
	X(NOT_FOUND,             "not_found",              1005, 404, "no such resource") \
	X(METHOD_NOT_ALLOWED,    "method_not_allowed",     1006, 405, "the resource does not support this method") \
	X(UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", 1007, 415, "send the body as application/json") \
	X(INVALID_QUERY,         "invalid_query",          1008, 400, "a query parameter is malformed or out of range") \
	X(INVALID_ID,            "invalid_id",             1009, 400, "the id in the path is malformed") \
	X(CONFLICT,              "conflict",               1010, 409, "the resource already exists or changed meanwhile") \
	X(RATE_LIMITED,          "rate_limited",           1011, 429, "too many requests; retry later") \
	X(INTERNAL,              "internal",               1012, 500, "internal error; the request id identifies it in the logs") \
	X(UNAVAILABLE,           "unavailable",            1013, 503, "a backing service is unavailable; retry later") \
	X(RANGE_NOT_SATISFIABLE, "range_not_satisfiable",  1014, 416, "the Range lies outside the content") \
	/* authentication and authorisation */ \
	X(MISSING_CREDENTIALS,   "missing_credentials",    1101, 401, "send Authorization: Bearer <api key or token>") \
	X(INVALID_API_KEY,       "invalid_api_key",        1102, 401, "the API key is unknown or revoked") \
	X(FORBIDDEN,             "forbidden",              1103, 403, "the credentials do not allow this") \
	X(INVALID_TOKEN,         "invalid_token",          1104, 401, "the bearer token is malformed or its claims are wrong") \
	X(UNSUPPORTED_ALG,       "unsupported_alg",        1105, 401, "only EdDSA-signed tokens are accepted") \
	X(BAD_SIGNATURE,         "bad_signature",          1106, 401, "the token's signature does not verify") \
	X(TOKEN_EXPIRED,         "token_expired",          1107, 401, "the token has expired") \
	X(TOKEN_NOT_YET_VALID,   "token_not_yet_valid",    1108, 401, "the token's iat or nbf lies in the future") \
	X(TOKEN_REPLAYED,        "token_replayed",         1109, 401, "the token's jti was already used") \
	X(WRONG_AUDIENCE,        "wrong_audience",         1110, 401, "the token is addressed to someone else") \
	X(UNKNOWN_PARTICIPANT,   "unknown_participant",    1111, 401, "the token's issuer is not a registered participant") \
	X(PARTICIPANT_SUSPENDED, "participant_suspended",  1112, 401, "the participant is suspended") \
	X(UNKNOWN_KEY,           "unknown_key",            1113, 401, "the token's kid is not among the participant's keys") \
	X(REQUEST_MISMATCH,      "request_mismatch",       1114, 401, "the token's htm, htu or bh does not match this request") \
	/* participants and keys */ \
	X(PARTICIPANT_EXISTS,    "participant_exists",     1201, 409, "a participant with this id is already registered") \
	X(PARTICIPANT_NOT_FOUND, "participant_not_found",  1202, 404, "no participant with this id") \
	X(INVALID_JWK,           "invalid_jwk",            1203, 400, "a key is not a valid Ed25519 public JWK") \
	X(API_KEY_NOT_FOUND,     "api_key_not_found",      1204, 404, "no API key with this id") \
	/* connector: datasets, content, policies, offers */ \
	X(DATASET_NOT_FOUND,     "dataset_not_found",      1401, 404, "no dataset with this id") \
	X(POLICY_NOT_FOUND,      "policy_not_found",       1402, 404, "no policy with this id") \
	X(OFFER_NOT_FOUND,       "offer_not_found",        1403, 404, "no offer with this id") \
	X(INVALID_POLICY,        "invalid_policy",         1404, 400, "the ODRL policy has problems; see problems[]") \
	X(POLICY_IN_USE,         "policy_in_use",          1405, 409, "an offer still uses this policy") \
	X(UPLOAD_TOO_LARGE,      "upload_too_large",       1406, 413, "the upload exceeds this connector's maximum") \
	X(WRONG_SOURCE,          "wrong_source",           1407, 409, "the dataset's source type does not take this operation") \
	X(INVALID_OBSERVATIONS,  "invalid_observations",   1408, 400, "the observations body cannot be read; see detail") \
	X(NO_CONTENT,            "no_content",             1409, 404, "no content has been uploaded for this dataset") \
	/* broker: federated catalog */ \
	X(DATASET_ID_TAKEN,      "dataset_id_taken",       1301, 409, "another participant publishes a dataset with this id") \
	/* connector: contract negotiation and agreements */ \
	X(NEGOTIATION_NOT_FOUND, "negotiation_not_found",  1701, 404, "no negotiation with this id") \
	X(AGREEMENT_NOT_FOUND,   "agreement_not_found",    1702, 404, "no agreement with this id") \
	X(NEGOTIATION_STATE,     "negotiation_state",      1703, 409, "the negotiation's state or role does not allow this") \
	X(OFFER_NOT_AVAILABLE,   "offer_not_available",    1704, 400, "the broker's catalog shows no such offer of this dataset to this participant") \
	X(OFFER_NOT_NARROWER,    "offer_not_narrower",     1705, 400, "the offer is neither the published one nor a stricter version of it") \
	X(AGREEMENT_REVOKED,     "agreement_revoked",      1706, 409, "the agreement is already revoked") \
	/* transfers and the data plane */ \
	X(TRANSFER_NOT_FOUND,    "transfer_not_found",     1801, 404, "no transfer with this id") \
	X(TRANSFER_STATE,        "transfer_state",         1802, 409, "the transfer's state or role does not allow this") \
	X(USAGE_DENIED,          "usage_denied",           1803, 403, "the agreement does not permit this use now; see detail") \
	X(QUERY_NOT_PERMITTED,   "query_not_permitted",    1804, 403, "the query asks for data the agreement does not permit") \
	X(PROOF_REQUIRED,        "proof_required",         1805, 401, "the token is sender-constrained: send Agora-Proof signed with the consumer's key") \
	X(AGREEMENT_NOT_ACTIVE,  "agreement_not_active",   1806, 409, "the agreement is not finalized or was revoked")

enum agora_error {
#define AGORA_ERR_ENUM(sym, str, code, http, hint) AGORA_E_##sym,
	AGORA_ERROR_TABLE(AGORA_ERR_ENUM)
#undef AGORA_ERR_ENUM
	AGORA_E__COUNT
};

struct agora_error_info {
	const char *symbol;	/* "invalid_json" */
	int code;
	unsigned int http_status;
	const char *hint;
};

const struct agora_error_info *agora_error_info(enum agora_error e);
/* {"code","error","detail"}; detail NULL → the table's hint.  New reference. */
json_t *agora_error_json(enum agora_error e, const char *detail);

#endif
