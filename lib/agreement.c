/* agreement.c — JCS + JWS signatures on ODRL agreements, and their chain. */
#include "agreement.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jcs.h"
#include "jose.h"
#include "util.h"

const char *const agora_agreement_roles[AGORA_AGREEMENT_MAX_SIGNATURES] = {
	"provider",
	"broker",
	"consumer",
};

/* Longest signer we accept: a participant id or a broker URL. */
#define SIGNER_MAX 2048

static void __attribute__((format(printf, 3, 4)))
set_err(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || errlen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static bool
role_known(const char *role)
{
	for (size_t i = 0; i < AGORA_AGREEMENT_MAX_SIGNATURES; i++)
		if (role && strcmp(role, agora_agreement_roles[i]) == 0)
			return true;
	return false;
}

json_t *
agora_agreement_sign(const json_t *agreement, const char *role, const char *signer,
		     const struct agora_key *key, const char *kid)
{
	char thumb[44];
	if (!json_is_object(agreement) || !role_known(role) || !signer || !*signer || !key ||
	    !agora_key_has_private(key))
		return NULL;
	if (!kid) {
		if (!agora_key_thumbprint(key, thumb))
			return NULL;
		kid = thumb;
	}
	char *jws = agora_jws_sign_jcs(key, kid, agreement);
	if (!jws)
		return NULL;
	json_t *entry = json_object();
	json_t *signer_s = json_string(signer);
	if (!entry)
		abort();
	json_t *out = NULL;
	if (signer_s) {
		json_object_set_new(entry, "role", json_string(role));
		json_object_set_new(entry, "signer", signer_s);
		json_object_set_new(entry, "jws", json_string(jws));
		out = entry;
	} else {
		json_decref(entry);
	}
	free(jws);
	return out;
}

/* The string member key of an entry, or NULL when absent, not a string,
 * empty or longer than max. */
static const char *
entry_str(const json_t *entry, const char *key, size_t max)
{
	const json_t *v = json_object_get(entry, key);
	if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > max)
		return NULL;
	return json_string_value(v);
}

bool
agora_agreement_verify_signature(const json_t *agreement, const json_t *sig_entry,
				 const struct agora_key *key, char *err, size_t errlen)
{
	bool ok = false;
	struct agora_jws *j = NULL;
	char *canon = NULL;
	char jerr[160] = "";

	if (!json_is_object(agreement)) {
		set_err(err, errlen, "agreement is not an object");
		goto out;
	}
	if (!json_is_object(sig_entry)) {
		set_err(err, errlen, "signature entry is not an object");
		goto out;
	}
	const char *role = entry_str(sig_entry, "role", 16);
	if (!role_known(role)) {
		set_err(err, errlen, "role: must be provider, broker or consumer");
		goto out;
	}
	if (!entry_str(sig_entry, "signer", SIGNER_MAX)) {
		set_err(err, errlen, "signer: missing or not a non-empty string");
		goto out;
	}
	const char *jws = entry_str(sig_entry, "jws", 16384);
	if (!jws) {
		set_err(err, errlen, "jws: missing or not a non-empty string");
		goto out;
	}
	j = agora_jws_parse(jws, jerr, sizeof jerr);
	if (!j) {
		set_err(err, errlen, "jws: %s", jerr);
		goto out;
	}
	const json_t *alg = json_object_get(j->header, "alg");
	if (!json_is_string(alg) || strcmp(json_string_value(alg), "EdDSA") != 0) {
		set_err(err, errlen, "jws: alg must be EdDSA");
		goto out;
	}
	char thumb[44];
	const char *kid = agora_jws_kid(j);
	if (!agora_key_thumbprint(key, thumb)) {
		set_err(err, errlen, "key is not an Ed25519 key");
		goto out;
	}
	if (!kid || strcmp(kid, thumb) != 0) {
		set_err(err, errlen, "jws: kid is not the signer key's thumbprint");
		goto out;
	}
	if (!agora_jws_verify(j, key)) {
		set_err(err, errlen, "jws: signature does not verify");
		goto out;
	}
	size_t len = 0;
	canon = agora_jcs(agreement, &len);
	if (!canon) {
		set_err(err, errlen, "agreement cannot be canonicalised (RFC 8785)");
		goto out;
	}
	if (len != j->payload_len || memcmp(canon, j->payload, len) != 0) {
		set_err(err, errlen, "jws: payload is not the canonical form of the agreement");
		goto out;
	}
	ok = true;
out:
	free(canon);
	agora_jws_free(j);
	return ok;
}

/* The kid of a compact JWS's header (heap), or NULL. */
static char *
jws_kid(const char *jws)
{
	struct agora_jws *j = jws ? agora_jws_parse(jws, NULL, 0) : NULL;
	const char *kid = j ? agora_jws_kid(j) : NULL;
	char *out = kid ? xstrdup(kid) : NULL;
	agora_jws_free(j);
	return out;
}

bool
agora_agreement_verify_chain(const json_t *agreement, const json_t *signatures,
			     size_t expected_count, agora_agreement_key_fn lookup, void *ctx,
			     char *err, size_t errlen)
{
	if (expected_count < 1 || expected_count > AGORA_AGREEMENT_MAX_SIGNATURES) {
		set_err(err, errlen, "expected %zu signatures: must be 1 to 3", expected_count);
		return false;
	}
	if (!json_is_object(agreement)) {
		set_err(err, errlen, "agreement is not an object");
		return false;
	}
	if (!json_is_array(signatures)) {
		set_err(err, errlen, "signatures: not an array");
		return false;
	}
	if (json_array_size(signatures) != expected_count) {
		set_err(err, errlen, "signatures: %zu present, %zu expected",
			json_array_size(signatures), expected_count);
		return false;
	}
	/* The parties named in the agreement must be the ones who sign as
	 * provider and consumer. */
	const char *party[AGORA_AGREEMENT_MAX_SIGNATURES] = {
		json_string_value(json_object_get(agreement, "assigner")),
		NULL,
		json_string_value(json_object_get(agreement, "assignee")),
	};
	for (size_t i = 0; i < expected_count; i++) {
		const json_t *e = json_array_get(signatures, i);
		const char *want = agora_agreement_roles[i];
		const char *role = json_string_value(json_object_get(e, "role"));
		if (!role || strcmp(role, want) != 0) {
			set_err(err, errlen, "signatures[%zu]: role must be %s", i, want);
			return false;
		}
		const char *signer = entry_str(e, "signer", SIGNER_MAX);
		if (!signer) {
			set_err(err, errlen, "signatures[%zu]: signer missing", i);
			return false;
		}
		if (i != 1 && (!party[i] || strcmp(signer, party[i]) != 0)) {
			set_err(err, errlen, "signatures[%zu]: signer is not the agreement's %s", i,
				i == 0 ? "assigner" : "assignee");
			return false;
		}
		char *kid = jws_kid(entry_str(e, "jws", 16384));
		struct agora_key *key = lookup(ctx, role, signer, kid);
		free(kid);
		if (!key) {
			set_err(err, errlen, "signatures[%zu]: no key known for %s %s", i, role,
				signer);
			return false;
		}
		char why[200] = "";
		bool ok = agora_agreement_verify_signature(agreement, e, key, why, sizeof why);
		agora_key_free(key);
		if (!ok) {
			set_err(err, errlen, "signatures[%zu] (%s): %s", i, role, why);
			return false;
		}
	}
	return true;
}
