/* test_dsp.c — DSP 2025-1 negotiation messages: every builder against the
 * official schemas (../shared/tools/dsp-validate) and our own parser, the
 * spec's examples, refusals of malformed messages, and the whole
 * transition table (every state × message × sender). */
#include <criterion/criterion.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsp.h"
#include "harness.h"
#include "util.h"

#define EXAMPLES "../shared/spec/dsp-2025-1/negotiation/example"
#define PPID "urn:uuid:a343fcbf-99fc-4ce8-8e9b-148c97605aab"
#define CPID "urn:uuid:32541fe6-c580-409e-85a8-8a9a32fbe833"
#define CALLBACK "https://consumer.example.com/dsp"

static json_t *
parse_text(const char *text)
{
	json_error_t e;
	json_t *v = json_loads(text, 0, &e);
	cr_assert_not_null(v, "bad test JSON: %s", e.text);
	return v;
}

static json_t *
offer(void)
{
	return parse_text("{\"@type\":\"Offer\",\"@id\":\"urn:uuid:offer-1\","
			  "\"target\":\"urn:uuid:dataset-1\","
			  "\"permission\":[{\"action\":\"use\",\"constraint\":[{\"leftOperand\":"
			  "\"dateTime\",\"operator\":\"lteq\",\"rightOperand\":\"2027-01-01T00:00:00Z\"}]}]}");
}

static json_t *
agreement(void)
{
	return parse_text("{\"@id\":\"urn:uuid:agreement-1\",\"@type\":\"Agreement\","
			  "\"target\":\"urn:uuid:dataset-1\","
			  "\"assigner\":\"urn:agora:participant:city\","
			  "\"assignee\":\"urn:agora:participant:lab\","
			  "\"timestamp\":\"2026-03-01T10:00:00Z\","
			  "\"permission\":[{\"action\":\"use\"}]}");
}

/* msg must pass the official validator (when ../shared is there). */
static void
expect_dsp_valid(const json_t *msg)
{
	char *text = json_dumps(msg, JSON_COMPACT);
	cr_assert_not_null(text);
	bool skipped = false;
	cr_expect(harness_dsp_validate(text, &skipped), "dsp-validate refused %s", text);
	free(text);
}

/* Our own checks on a built message: @context, @type, then the parser. */
static void
expect_ours(const json_t *msg, const char *type, struct agora_dsp_msg *out)
{
	const json_t *ctx = json_object_get(msg, "@context");
	cr_assert(json_is_array(ctx));
	cr_assert_eq(json_array_size(ctx), 1);
	cr_assert_str_eq(json_string_value(json_array_get(ctx, 0)), AGORA_DSP_CONTEXT);
	cr_assert_str_eq(json_string_value(json_object_get(msg, "@type")), type);
	char err[256] = "";
	cr_assert_eq(agora_dsp_parse_negotiation_message(msg, out, err, sizeof err), 0, "%s", err);
	cr_assert_str_eq(out->type, type);
}

/* --- builders -------------------------------------------------------------- */

Test(dsp, validator_really_runs)
{
	/* A negative control: without it a skipped or broken validator would
	 * make every builder test pass. */
	bool skipped = false;
	bool ok = harness_dsp_validate("{\"@context\":[\"" AGORA_DSP_CONTEXT "\"],"
				       "\"@type\":\"ContractNegotiation\",\"state\":\"DONE\"}",
				       &skipped);
	if (skipped)
		cr_skip_test("dsp-validate not available");
	cr_expect_not(ok);
}

Test(dsp, request_initial)
{
	json_t *o = offer();
	json_t *m = agora_dsp_contract_request_new(CPID, NULL, o, CALLBACK);
	cr_assert_not_null(m);
	expect_dsp_valid(m);
	struct agora_dsp_msg p;
	expect_ours(m, "ContractRequestMessage", &p);
	cr_expect_eq(p.kind, AGORA_DSP_MSG_CONTRACT_REQUEST);
	cr_expect_str_eq(p.consumer_pid, CPID);
	cr_expect_null(p.provider_pid);
	cr_expect_str_eq(p.callback_address, CALLBACK);
	cr_expect(json_equal(p.offer, o));
	/* A deep copy: changing ours does not change the message. */
	json_object_set_new(o, "@id", json_string("urn:uuid:other"));
	cr_expect_str_eq(json_string_value(json_object_get(p.offer, "@id")), "urn:uuid:offer-1");
	json_decref(m);
	json_decref(o);
}

Test(dsp, request_counter)
{
	json_t *o = offer();
	json_t *m = agora_dsp_contract_request_new(CPID, PPID, o, NULL);
	cr_assert_not_null(m);
	expect_dsp_valid(m);
	struct agora_dsp_msg p;
	expect_ours(m, "ContractRequestMessage", &p);
	cr_expect_str_eq(p.provider_pid, PPID);
	cr_expect_null(p.callback_address);
	json_decref(m);
	/* The schema's oneOf: exactly one of providerPid and callbackAddress. */
	cr_expect_null(agora_dsp_contract_request_new(CPID, PPID, o, CALLBACK));
	cr_expect_null(agora_dsp_contract_request_new(CPID, NULL, o, NULL));
	cr_expect_null(agora_dsp_contract_request_new(NULL, NULL, o, CALLBACK));
	cr_expect_null(agora_dsp_contract_request_new(CPID, NULL, NULL, CALLBACK));
	cr_expect_null(agora_dsp_contract_request_new("bad\xff", NULL, o, CALLBACK));
	json_decref(o);
}

Test(dsp, offer_messages)
{
	json_t *o = offer();
	json_t *m = agora_dsp_contract_offer_new(PPID, NULL, o, CALLBACK);
	cr_assert_not_null(m);
	expect_dsp_valid(m);
	struct agora_dsp_msg p;
	expect_ours(m, "ContractOfferMessage", &p);
	cr_expect_eq(p.kind, AGORA_DSP_MSG_CONTRACT_OFFER);
	cr_expect_null(p.consumer_pid);
	json_decref(m);

	m = agora_dsp_contract_offer_new(PPID, CPID, o, NULL);
	cr_assert_not_null(m);
	expect_dsp_valid(m);
	expect_ours(m, "ContractOfferMessage", &p);
	cr_expect_str_eq(p.consumer_pid, CPID);
	json_decref(m);
	cr_expect_null(agora_dsp_contract_offer_new(PPID, CPID, o, CALLBACK));
	json_decref(o);
}

Test(dsp, agreement_message_with_signatures)
{
	json_t *a = agreement();
	json_t *m = agora_dsp_agreement_message_new(PPID, CPID, a);
	cr_assert_not_null(m);
	json_object_set_new(m, "signatures",
			    parse_text("[{\"role\":\"provider\",\"signer\":\"x\",\"jws\":\"a.b.c\"}]"));
	expect_dsp_valid(m);
	struct agora_dsp_msg p;
	expect_ours(m, "ContractAgreementMessage", &p);
	cr_expect_eq(p.kind, AGORA_DSP_MSG_CONTRACT_AGREEMENT);
	cr_expect(json_equal(p.agreement, a));
	cr_expect(json_is_array(p.signatures));
	cr_expect_str_eq(p.provider_pid, PPID);
	cr_expect_str_eq(p.consumer_pid, CPID);
	json_decref(m);
	cr_expect_null(agora_dsp_agreement_message_new(PPID, NULL, a));
	cr_expect_null(agora_dsp_agreement_message_new(PPID, CPID, NULL));
	json_decref(a);
}

Test(dsp, verification)
{
	json_t *m = agora_dsp_verification_new(PPID, CPID);
	cr_assert_not_null(m);
	json_object_set_new(m, "signatures", json_array());
	expect_dsp_valid(m);
	struct agora_dsp_msg p;
	expect_ours(m, "ContractAgreementVerificationMessage", &p);
	cr_expect_eq(p.kind, AGORA_DSP_MSG_AGREEMENT_VERIFICATION);
	cr_expect_not_null(p.signatures);
	json_decref(m);
}

Test(dsp, events)
{
	struct agora_dsp_msg p;
	json_t *m = agora_dsp_event_new(PPID, CPID, AGORA_DSP_MSG_EVENT_ACCEPTED);
	cr_assert_not_null(m);
	expect_dsp_valid(m);
	expect_ours(m, "ContractNegotiationEventMessage", &p);
	cr_expect_eq(p.kind, AGORA_DSP_MSG_EVENT_ACCEPTED);
	cr_expect_str_eq(p.event_type, "ACCEPTED");
	json_decref(m);

	m = agora_dsp_event_new(PPID, CPID, AGORA_DSP_MSG_EVENT_FINALIZED);
	cr_assert_not_null(m);
	expect_dsp_valid(m);
	expect_ours(m, "ContractNegotiationEventMessage", &p);
	cr_expect_eq(p.kind, AGORA_DSP_MSG_EVENT_FINALIZED);
	cr_expect_str_eq(p.event_type, "FINALIZED");
	json_decref(m);

	cr_expect_null(agora_dsp_event_new(PPID, CPID, AGORA_DSP_MSG_TERMINATION));
	cr_expect_null(agora_dsp_event_new(PPID, CPID, AGORA_DSP_MSG_CONTRACT_REQUEST));
}

Test(dsp, termination)
{
	const char *why[] = { "policy constraint failed: country eq FR", "second reason" };
	struct agora_dsp_msg p;
	json_t *m = agora_dsp_termination_new(PPID, CPID, "policy", why, 2);
	cr_assert_not_null(m);
	expect_dsp_valid(m);
	expect_ours(m, "ContractNegotiationTerminationMessage", &p);
	cr_expect_eq(p.kind, AGORA_DSP_MSG_TERMINATION);
	cr_expect_str_eq(p.code, "policy");
	cr_assert_eq(json_array_size(p.reason), 2);
	cr_expect_str_eq(json_string_value(json_array_get(p.reason, 0)), why[0]);
	json_decref(m);

	/* Without code and reason: both are omitted, not null or []. */
	m = agora_dsp_termination_new(PPID, CPID, NULL, NULL, 0);
	cr_assert_not_null(m);
	expect_dsp_valid(m);
	cr_expect_null(json_object_get(m, "code"));
	cr_expect_null(json_object_get(m, "reason"));
	expect_ours(m, "ContractNegotiationTerminationMessage", &p);
	cr_expect_null(p.code);
	cr_expect_null(p.reason);
	json_decref(m);

	const char *bad[] = { "ok", NULL };
	cr_expect_null(agora_dsp_termination_new(PPID, CPID, NULL, bad, 2));
}

Test(dsp, negotiation_status_every_state)
{
	for (int s = AGORA_DSP_STATE_REQUESTED; s <= AGORA_DSP_STATE_TERMINATED; s++) {
		json_t *m = agora_dsp_negotiation_new(PPID, CPID, (enum agora_dsp_state)s);
		cr_assert_not_null(m);
		expect_dsp_valid(m);
		cr_expect_str_eq(json_string_value(json_object_get(m, "@type")), "ContractNegotiation");
		struct agora_dsp_reply r;
		char err[256] = "";
		cr_assert_eq(agora_dsp_parse_reply(m, &r, err, sizeof err), 0, "%s", err);
		cr_expect_not(r.is_error);
		cr_expect_eq(r.state, (enum agora_dsp_state)s);
		cr_expect_str_eq(r.provider_pid, PPID);
		cr_expect_str_eq(r.consumer_pid, CPID);
		/* A status object is not a message. */
		struct agora_dsp_msg p;
		cr_expect_eq(agora_dsp_parse_negotiation_message(m, &p, err, sizeof err), -1);
		json_decref(m);
	}
	cr_expect_null(agora_dsp_negotiation_new(PPID, CPID, AGORA_DSP_STATE_INITIAL));
}

Test(dsp, negotiation_error)
{
	const char *why[] = { "Message not allowed in state FINALIZED" };
	json_t *m = agora_dsp_error_new(PPID, CPID, "invalid-transition", why, 1);
	cr_assert_not_null(m);
	expect_dsp_valid(m);
	struct agora_dsp_reply r;
	char err[256] = "";
	cr_assert_eq(agora_dsp_parse_reply(m, &r, err, sizeof err), 0, "%s", err);
	cr_expect(r.is_error);
	cr_expect_str_eq(r.code, "invalid-transition");
	cr_expect_eq(json_array_size(r.reason), 1);
	json_decref(m);

	/* Pids are optional in the builder (a peer's request may have none). */
	m = agora_dsp_error_new(NULL, CPID, "bad-request", why, 1);
	cr_assert_not_null(m);
	cr_expect_null(json_object_get(m, "providerPid"));
	cr_assert_eq(agora_dsp_parse_reply(m, &r, err, sizeof err), 0, "%s", err);
	cr_expect_null(r.provider_pid);
	json_decref(m);
}

Test(dsp, reply_refusals)
{
	struct agora_dsp_reply r;
	char err[256] = "";
	json_t *m = parse_text("{\"@context\":[\"" AGORA_DSP_CONTEXT "\"],"
			       "\"@type\":\"ContractNegotiation\",\"providerPid\":\"p\","
			       "\"consumerPid\":\"c\",\"state\":\"DONE\"}");
	cr_expect_eq(agora_dsp_parse_reply(m, &r, err, sizeof err), -1);
	cr_expect_str_eq(err, "state: not a negotiation state");
	json_object_del(m, "providerPid");
	cr_expect_eq(agora_dsp_parse_reply(m, &r, err, sizeof err), -1);
	cr_expect_str_eq(err, "providerPid: missing");
	json_object_set_new(m, "@type", json_string("ContractRequestMessage"));
	cr_expect_eq(agora_dsp_parse_reply(m, &r, err, sizeof err), -1);
	cr_expect_str_eq(err, "@type: not ContractNegotiation or ContractNegotiationError");
	json_decref(m);
}

/* --- the spec's examples --------------------------------------------------- */

Test(dsp, spec_examples_parse)
{
	DIR *d = opendir(EXAMPLES);
	if (!d)
		cr_skip_test(EXAMPLES " not present");
	int messages = 0, replies = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);
		if (n < 6 || strcmp(de->d_name + n - 5, ".json") != 0)
			continue;
		char *path = xasprintf("%s/%s", EXAMPLES, de->d_name);
		json_error_t je;
		json_t *v = json_load_file(path, 0, &je);
		cr_assert_not_null(v, "%s: %s", path, je.text);
		const char *type = json_string_value(json_object_get(v, "@type"));
		cr_assert_not_null(type, "%s", path);
		char err[256] = "";
		if (strcmp(type, "ContractNegotiation") == 0 ||
		    strcmp(type, "ContractNegotiationError") == 0) {
			struct agora_dsp_reply r;
			cr_expect_eq(agora_dsp_parse_reply(v, &r, err, sizeof err), 0, "%s: %s",
				     de->d_name, err);
			replies++;
		} else {
			struct agora_dsp_msg p;
			cr_expect_eq(agora_dsp_parse_negotiation_message(v, &p, err, sizeof err), 0,
				     "%s: %s", de->d_name, err);
			cr_expect_str_eq(agora_dsp_kind_type(p.kind), type, "%s", de->d_name);
			messages++;
		}
		json_decref(v);
		free(path);
	}
	closedir(d);
	/* 9 messages (request ×2, offer ×2, agreement ×2, verification,
	 * event, termination) and 2 replies in DSP 2025-1. */
	cr_expect_eq(messages, 9);
	cr_expect_eq(replies, 2);
}

/* --- refusals -------------------------------------------------------------- */

/* A valid initial request, a valid agreement message, a valid event. */
static json_t *
good_request(void)
{
	json_t *o = offer();
	json_t *m = agora_dsp_contract_request_new(CPID, NULL, o, CALLBACK);
	json_decref(o);
	cr_assert_not_null(m);
	return m;
}

static json_t *
good_agreement_msg(void)
{
	json_t *a = agreement();
	json_t *m = agora_dsp_agreement_message_new(PPID, CPID, a);
	json_decref(a);
	cr_assert_not_null(m);
	return m;
}

/* Parsing m must fail with exactly want; m is consumed. */
static void
expect_refused(json_t *m, const char *want)
{
	struct agora_dsp_msg p;
	char err[256] = "";
	int rc = agora_dsp_parse_negotiation_message(m, &p, err, sizeof err);
	char *text = json_dumps(m, JSON_COMPACT);
	cr_expect_eq(rc, -1, "accepted: %.300s", text);
	cr_expect_str_eq(err, want, "for %.300s", text);
	free(text);
	json_decref(m);
}

Test(dsp, refuses_context_and_type)
{
	json_t *m = good_request();
	json_object_del(m, "@context");
	expect_refused(m, "@context: missing");

	m = good_request();
	json_object_set_new(m, "@context", json_string(AGORA_DSP_CONTEXT));
	expect_refused(m, "@context: not an array");

	m = good_request();
	json_object_set_new(m, "@context", parse_text("[\"https://w3id.org/dspace/2024/1/context.json\"]"));
	expect_refused(m, "@context: does not contain " AGORA_DSP_CONTEXT);

	m = good_request();
	json_object_set_new(m, "@context", parse_text("[\"" AGORA_DSP_CONTEXT "\", 7]"));
	expect_refused(m, "@context[1]: not a string");

	m = good_request();
	json_object_set_new(m, "@type", json_string("ContractRequest"));
	expect_refused(m, "@type: not a contract negotiation message");

	m = good_request();
	json_object_set_new(m, "@type", json_string("ContractNegotiation"));
	expect_refused(m, "@type: not a contract negotiation message");

	m = good_request();
	json_object_set_new(m, "@type", json_integer(1));
	expect_refused(m, "@type: not a string");

	m = good_request();
	json_object_del(m, "@type");
	expect_refused(m, "@type: missing");

	expect_refused(json_array(), "message: not a JSON object");
}

Test(dsp, refuses_bad_pids)
{
	json_t *m = good_request();
	json_object_del(m, "consumerPid");
	expect_refused(m, "consumerPid: missing");

	m = good_request();
	json_object_set_new(m, "consumerPid", json_integer(42));
	expect_refused(m, "consumerPid: not a string");

	m = good_request();
	json_object_set_new(m, "consumerPid", json_null());
	expect_refused(m, "consumerPid: not a string");

	m = good_request();
	json_object_set_new(m, "consumerPid", json_string(""));
	expect_refused(m, "consumerPid: empty");

	m = good_request();
	json_object_set_new(m, "consumerPid", json_string("urn:uuid:a\nb"));
	expect_refused(m, "consumerPid: contains a control character");

	char *big = xmalloc(10 * 1024 + 1);
	memset(big, 'a', 10 * 1024);
	big[10 * 1024] = '\0';
	m = good_request();
	json_object_set_new(m, "consumerPid", json_string(big));
	expect_refused(m, "consumerPid: longer than 200 bytes");

	/* The bound itself: 200 bytes pass, 201 do not. */
	big[200] = '\0';
	m = good_request();
	json_object_set_new(m, "consumerPid", json_string(big));
	struct agora_dsp_msg p;
	char err[256] = "";
	cr_expect_eq(agora_dsp_parse_negotiation_message(m, &p, err, sizeof err), 0, "%s", err);
	json_decref(m);
	big[200] = 'a';
	big[201] = '\0';
	m = good_request();
	json_object_set_new(m, "consumerPid", json_string(big));
	expect_refused(m, "consumerPid: longer than 200 bytes");

	m = good_agreement_msg();
	json_object_set_new(m, "providerPid", json_string(big));
	expect_refused(m, "providerPid: longer than 200 bytes");
	free(big);

	m = good_agreement_msg();
	json_object_del(m, "providerPid");
	expect_refused(m, "providerPid: missing");

	m = good_agreement_msg();
	json_object_del(m, "consumerPid");
	expect_refused(m, "consumerPid: missing");

	m = agora_dsp_verification_new(PPID, CPID);
	json_object_set_new(m, "providerPid", json_true());
	expect_refused(m, "providerPid: not a string");

	m = agora_dsp_event_new(PPID, CPID, AGORA_DSP_MSG_EVENT_FINALIZED);
	json_object_del(m, "consumerPid");
	expect_refused(m, "consumerPid: missing");

	m = agora_dsp_termination_new(PPID, CPID, NULL, NULL, 0);
	json_object_del(m, "providerPid");
	expect_refused(m, "providerPid: missing");
}

Test(dsp, refuses_bad_callback)
{
	json_t *m = good_request();
	json_object_del(m, "callbackAddress");
	expect_refused(m, "callbackAddress: missing");

	const char *bad[] = { "ftp://consumer.example.com/dsp", "http://", "https:///x",
			      "javascript:alert(1)", "consumer.example.com/dsp",
			      "http://consumer example.com/" };
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		m = good_request();
		json_object_set_new(m, "callbackAddress", json_string(bad[i]));
		expect_refused(m, "callbackAddress: not an http(s) URL");
	}
	m = good_request();
	json_object_set_new(m, "callbackAddress", json_integer(80));
	expect_refused(m, "callbackAddress: not a string");

	char *url = xmalloc(2100);
	strcpy(url, "https://consumer.example.com/");
	size_t n = strlen(url);
	memset(url + n, 'x', 2049 - n);
	url[2049] = '\0';
	m = good_request();
	json_object_set_new(m, "callbackAddress", json_string(url));
	expect_refused(m, "callbackAddress: longer than 2048 bytes");
	free(url);

	/* Accepted: plain http (local deployments) with a port. */
	m = good_request();
	json_object_set_new(m, "callbackAddress", json_string("http://127.0.0.1:8481/dsp"));
	struct agora_dsp_msg p;
	char err[256] = "";
	cr_expect_eq(agora_dsp_parse_negotiation_message(m, &p, err, sizeof err), 0, "%s", err);
	json_decref(m);
}

Test(dsp, refuses_bad_offer)
{
	json_t *m = good_request();
	json_object_del(m, "offer");
	expect_refused(m, "offer: missing");

	m = good_request();
	json_object_set_new(m, "offer", json_string("urn:uuid:offer-1"));
	expect_refused(m, "offer: not an object");

	m = good_request();
	json_object_del(json_object_get(m, "offer"), "@id");
	expect_refused(m, "offer.@id: missing");

	m = good_request();
	json_object_del(json_object_get(m, "offer"), "@type");
	expect_refused(m, "offer.@type: missing");

	m = good_request();
	json_object_set_new(json_object_get(m, "offer"), "@type", json_string("Agreement"));
	expect_refused(m, "offer.@type: must be \"Offer\"");

	m = good_request();
	json_object_del(json_object_get(m, "offer"), "target");
	expect_refused(m, "offer.target: missing");

	m = good_request();
	json_object_del(json_object_get(m, "offer"), "permission");
	expect_refused(m, "offer: needs a permission or a prohibition");

	m = good_request();
	json_object_set_new(json_object_get(m, "offer"), "permission", json_array());
	expect_refused(m, "offer.permission: empty");

	m = good_request();
	json_object_set_new(json_object_get(m, "offer"), "permission",
			    parse_text("[{\"action\":\"use\",\"target\":\"urn:uuid:x\"}]"));
	expect_refused(m, "offer.permission[0].target: rules must not have a target");

	m = good_request();
	json_object_set_new(json_object_get(m, "offer"), "prohibition",
			    parse_text("[{\"constraint\":[]}]"));
	expect_refused(m, "offer.prohibition[0].action: missing");

	/* A prohibition alone is enough. */
	m = good_request();
	json_t *o = json_object_get(m, "offer");
	json_object_del(o, "permission");
	json_object_set_new(o, "prohibition", parse_text("[{\"action\":\"distribute\"}]"));
	struct agora_dsp_msg p;
	char err[256] = "";
	cr_expect_eq(agora_dsp_parse_negotiation_message(m, &p, err, sizeof err), 0, "%s", err);
	expect_dsp_valid(m);
	json_decref(m);
}

Test(dsp, refuses_bad_agreement)
{
	json_t *m = good_agreement_msg();
	json_object_del(m, "agreement");
	expect_refused(m, "agreement: missing");

	const char *required[] = { "@id", "@type", "target", "assigner", "assignee", "timestamp" };
	for (size_t i = 0; i < ARRAY_LEN(required); i++) {
		m = good_agreement_msg();
		json_object_del(json_object_get(m, "agreement"), required[i]);
		char *want = xasprintf("agreement.%s: missing", required[i]);
		expect_refused(m, want);
		free(want);
	}

	m = good_agreement_msg();
	json_object_set_new(json_object_get(m, "agreement"), "assigner", json_integer(3));
	expect_refused(m, "agreement.assigner: not a string");

	m = good_agreement_msg();
	json_object_set_new(json_object_get(m, "agreement"), "@type", json_string("Offer"));
	expect_refused(m, "agreement.@type: must be \"Agreement\"");

	const char *bad_times[] = { "yesterday", "2026-03-01T10:00:00", "2026-02-30T10:00:00Z",
				    "2026-03-01 10:00:00Z", "2026-03-01T25:00:00Z" };
	for (size_t i = 0; i < ARRAY_LEN(bad_times); i++) {
		m = good_agreement_msg();
		json_object_set_new(json_object_get(m, "agreement"), "timestamp",
				    json_string(bad_times[i]));
		expect_refused(m, "agreement.timestamp: not an RFC 3339 date-time");
	}

	m = good_agreement_msg();
	json_object_del(json_object_get(m, "agreement"), "permission");
	expect_refused(m, "agreement: needs a permission or a prohibition");

	m = good_agreement_msg();
	json_object_set_new(json_object_get(m, "agreement"), "permission",
			    parse_text("[{\"action\":{\"rdf:value\":\"use\"}}]"));
	expect_refused(m, "agreement.permission[0].action: not a non-empty string");
}

Test(dsp, refuses_bad_event_and_termination)
{
	json_t *m = agora_dsp_event_new(PPID, CPID, AGORA_DSP_MSG_EVENT_ACCEPTED);
	json_object_set_new(m, "eventType", json_string("REJECTED"));
	expect_refused(m, "eventType: must be ACCEPTED or FINALIZED");

	m = agora_dsp_event_new(PPID, CPID, AGORA_DSP_MSG_EVENT_ACCEPTED);
	json_object_del(m, "eventType");
	expect_refused(m, "eventType: missing");

	m = agora_dsp_termination_new(PPID, CPID, NULL, NULL, 0);
	json_object_set_new(m, "reason", json_string("because"));
	expect_refused(m, "reason: not an array");

	m = agora_dsp_termination_new(PPID, CPID, NULL, NULL, 0);
	json_object_set_new(m, "reason", json_array());
	expect_refused(m, "reason: empty");

	m = agora_dsp_termination_new(PPID, CPID, NULL, NULL, 0);
	json_object_set_new(m, "code", json_integer(99));
	expect_refused(m, "code: not a string");
}

Test(dsp, allows_extra_members)
{
	json_t *m = good_agreement_msg();
	json_object_set_new(m, "signatures", json_array());
	json_object_set_new(m, "x-vendor", json_string("anything"));
	json_object_set_new(json_object_get(m, "agreement"), "profile",
			    json_string("https://example.com/profile"));
	struct agora_dsp_msg p;
	char err[256] = "";
	cr_expect_eq(agora_dsp_parse_negotiation_message(m, &p, err, sizeof err), 0, "%s", err);
	cr_expect_eq(p.signatures, json_object_get(m, "signatures"));
	expect_dsp_valid(m);
	json_decref(m);
}

/* --- state machine ----------------------------------------------------------- */

#define C AGORA_DSP_CONSUMER
#define P AGORA_DSP_PROVIDER

/* The DSP state machine written out independently of lib/dsp.c's table. */
static const struct {
	enum agora_dsp_state from;
	enum agora_dsp_kind kind;
	enum agora_dsp_role who;
	enum agora_dsp_state to;
} allowed[] = {
	{ AGORA_DSP_STATE_INITIAL, AGORA_DSP_MSG_CONTRACT_REQUEST, C, AGORA_DSP_STATE_REQUESTED },
	{ AGORA_DSP_STATE_INITIAL, AGORA_DSP_MSG_CONTRACT_OFFER, P, AGORA_DSP_STATE_OFFERED },
	{ AGORA_DSP_STATE_REQUESTED, AGORA_DSP_MSG_CONTRACT_OFFER, P, AGORA_DSP_STATE_OFFERED },
	{ AGORA_DSP_STATE_REQUESTED, AGORA_DSP_MSG_CONTRACT_AGREEMENT, P, AGORA_DSP_STATE_AGREED },
	{ AGORA_DSP_STATE_OFFERED, AGORA_DSP_MSG_CONTRACT_REQUEST, C, AGORA_DSP_STATE_REQUESTED },
	{ AGORA_DSP_STATE_OFFERED, AGORA_DSP_MSG_EVENT_ACCEPTED, C, AGORA_DSP_STATE_ACCEPTED },
	{ AGORA_DSP_STATE_ACCEPTED, AGORA_DSP_MSG_CONTRACT_AGREEMENT, P, AGORA_DSP_STATE_AGREED },
	{ AGORA_DSP_STATE_AGREED, AGORA_DSP_MSG_AGREEMENT_VERIFICATION, C, AGORA_DSP_STATE_VERIFIED },
	{ AGORA_DSP_STATE_VERIFIED, AGORA_DSP_MSG_EVENT_FINALIZED, P, AGORA_DSP_STATE_FINALIZED },
	{ AGORA_DSP_STATE_REQUESTED, AGORA_DSP_MSG_TERMINATION, C, AGORA_DSP_STATE_TERMINATED },
	{ AGORA_DSP_STATE_REQUESTED, AGORA_DSP_MSG_TERMINATION, P, AGORA_DSP_STATE_TERMINATED },
	{ AGORA_DSP_STATE_OFFERED, AGORA_DSP_MSG_TERMINATION, C, AGORA_DSP_STATE_TERMINATED },
	{ AGORA_DSP_STATE_OFFERED, AGORA_DSP_MSG_TERMINATION, P, AGORA_DSP_STATE_TERMINATED },
	{ AGORA_DSP_STATE_ACCEPTED, AGORA_DSP_MSG_TERMINATION, C, AGORA_DSP_STATE_TERMINATED },
	{ AGORA_DSP_STATE_ACCEPTED, AGORA_DSP_MSG_TERMINATION, P, AGORA_DSP_STATE_TERMINATED },
	{ AGORA_DSP_STATE_AGREED, AGORA_DSP_MSG_TERMINATION, C, AGORA_DSP_STATE_TERMINATED },
	{ AGORA_DSP_STATE_AGREED, AGORA_DSP_MSG_TERMINATION, P, AGORA_DSP_STATE_TERMINATED },
	{ AGORA_DSP_STATE_VERIFIED, AGORA_DSP_MSG_TERMINATION, C, AGORA_DSP_STATE_TERMINATED },
	{ AGORA_DSP_STATE_VERIFIED, AGORA_DSP_MSG_TERMINATION, P, AGORA_DSP_STATE_TERMINATED },
};

Test(dsp, transition_table_complete)
{
	/* Every state × message × sender: allowed exactly when listed above,
	 * to the listed state; *to untouched otherwise. */
	int n_allowed = 0;
	for (int s = 0; s < AGORA_DSP_STATE_COUNT; s++) {
		for (int k = 0; k < AGORA_DSP_KIND_COUNT; k++) {
			for (int w = 0; w < 2; w++) {
				int want = -1;
				for (size_t i = 0; i < ARRAY_LEN(allowed); i++)
					if ((int)allowed[i].from == s && (int)allowed[i].kind == k &&
					    (int)allowed[i].who == w)
						want = (int)allowed[i].to;
				enum agora_dsp_state to = (enum agora_dsp_state)99;
				bool ok = agora_dsp_transition((enum agora_dsp_state)s,
							       (enum agora_dsp_kind)k,
							       (enum agora_dsp_role)w, &to);
				cr_expect_eq(ok, want >= 0, "%d %s by %s", s,
					     agora_dsp_kind_name((enum agora_dsp_kind)k),
					     agora_dsp_role_name((enum agora_dsp_role)w));
				cr_expect_eq((int)to, want >= 0 ? want : 99, "%d %s by %s", s,
					     agora_dsp_kind_name((enum agora_dsp_kind)k),
					     agora_dsp_role_name((enum agora_dsp_role)w));
				n_allowed += ok;
			}
		}
	}
	cr_expect_eq(n_allowed, (int)ARRAY_LEN(allowed));
}

Test(dsp, transition_samples_refused)
{
	enum agora_dsp_state to;
	/* Verification before an agreement. */
	cr_expect_not(agora_dsp_transition(AGORA_DSP_STATE_REQUESTED,
					   AGORA_DSP_MSG_AGREEMENT_VERIFICATION, C, &to));
	/* An agreement from the consumer. */
	cr_expect_not(agora_dsp_transition(AGORA_DSP_STATE_REQUESTED,
					   AGORA_DSP_MSG_CONTRACT_AGREEMENT, C, &to));
	/* FINALIZED from the consumer, ACCEPTED from the provider. */
	cr_expect_not(agora_dsp_transition(AGORA_DSP_STATE_VERIFIED, AGORA_DSP_MSG_EVENT_FINALIZED,
					   C, &to));
	cr_expect_not(agora_dsp_transition(AGORA_DSP_STATE_OFFERED, AGORA_DSP_MSG_EVENT_ACCEPTED, P,
					   &to));
	/* Repeats are not transitions (idempotency is the binding's job). */
	cr_expect_not(agora_dsp_transition(AGORA_DSP_STATE_AGREED, AGORA_DSP_MSG_CONTRACT_AGREEMENT,
					   P, &to));
	cr_expect_not(agora_dsp_transition(AGORA_DSP_STATE_REQUESTED,
					   AGORA_DSP_MSG_CONTRACT_REQUEST, C, &to));
	/* Termination needs a negotiation. */
	cr_expect_not(agora_dsp_transition(AGORA_DSP_STATE_INITIAL, AGORA_DSP_MSG_TERMINATION, C,
					   &to));
	/* Nothing after a final state, from anyone. */
	for (int k = 0; k < AGORA_DSP_KIND_COUNT; k++) {
		for (int w = 0; w < 2; w++) {
			cr_expect_not(agora_dsp_transition(AGORA_DSP_STATE_FINALIZED,
							   (enum agora_dsp_kind)k,
							   (enum agora_dsp_role)w, &to));
			cr_expect_not(agora_dsp_transition(AGORA_DSP_STATE_TERMINATED,
							   (enum agora_dsp_kind)k,
							   (enum agora_dsp_role)w, &to));
		}
	}
	/* Out-of-range values. */
	cr_expect_not(agora_dsp_transition((enum agora_dsp_state)42,
					   AGORA_DSP_MSG_TERMINATION, C, &to));
	cr_expect_not(agora_dsp_transition(AGORA_DSP_STATE_REQUESTED, AGORA_DSP_MSG_TERMINATION,
					   (enum agora_dsp_role)7, &to));
	/* to may be NULL. */
	cr_expect(agora_dsp_transition(AGORA_DSP_STATE_REQUESTED, AGORA_DSP_MSG_TERMINATION, P,
				       NULL));
}

Test(dsp, happy_paths)
{
	/* The broker's flow: request → agreement → verification → finalized. */
	enum agora_dsp_state s = AGORA_DSP_STATE_INITIAL;
	cr_assert(agora_dsp_transition(s, AGORA_DSP_MSG_CONTRACT_REQUEST, C, &s));
	cr_assert(agora_dsp_transition(s, AGORA_DSP_MSG_CONTRACT_AGREEMENT, P, &s));
	cr_assert(agora_dsp_transition(s, AGORA_DSP_MSG_AGREEMENT_VERIFICATION, C, &s));
	cr_assert(agora_dsp_transition(s, AGORA_DSP_MSG_EVENT_FINALIZED, P, &s));
	cr_expect_eq(s, AGORA_DSP_STATE_FINALIZED);
	cr_expect(agora_dsp_is_final(s));
	/* Offer → accept → agree. */
	s = AGORA_DSP_STATE_INITIAL;
	cr_assert(agora_dsp_transition(s, AGORA_DSP_MSG_CONTRACT_OFFER, P, &s));
	cr_assert(agora_dsp_transition(s, AGORA_DSP_MSG_EVENT_ACCEPTED, C, &s));
	cr_assert(agora_dsp_transition(s, AGORA_DSP_MSG_CONTRACT_AGREEMENT, P, &s));
	cr_expect_eq(s, AGORA_DSP_STATE_AGREED);
	cr_expect_not(agora_dsp_is_final(s));
}

Test(dsp, names)
{
	const char *names[] = { "REQUESTED", "OFFERED", "ACCEPTED", "AGREED",
				"VERIFIED", "FINALIZED", "TERMINATED" };
	for (size_t i = 0; i < ARRAY_LEN(names); i++) {
		enum agora_dsp_state s;
		cr_assert(agora_dsp_state_from_name(names[i], &s), "%s", names[i]);
		cr_expect_eq((int)s, (int)i + 1);
		cr_expect_str_eq(agora_dsp_state_name(s), names[i]);
		cr_expect_eq(agora_dsp_is_final(s), i >= 5, "%s", names[i]);
	}
	enum agora_dsp_state s;
	cr_expect_not(agora_dsp_state_from_name("requested", &s));
	cr_expect_not(agora_dsp_state_from_name("INITIAL", &s));
	cr_expect_not(agora_dsp_state_from_name(NULL, &s));
	cr_expect_null(agora_dsp_state_name(AGORA_DSP_STATE_INITIAL));
	cr_expect_null(agora_dsp_state_name((enum agora_dsp_state)99));
	cr_expect_not(agora_dsp_is_final(AGORA_DSP_STATE_INITIAL));

	cr_expect_str_eq(agora_dsp_kind_type(AGORA_DSP_MSG_CONTRACT_REQUEST), "ContractRequestMessage");
	cr_expect_str_eq(agora_dsp_kind_type(AGORA_DSP_MSG_CONTRACT_OFFER), "ContractOfferMessage");
	cr_expect_str_eq(agora_dsp_kind_type(AGORA_DSP_MSG_CONTRACT_AGREEMENT),
			 "ContractAgreementMessage");
	cr_expect_str_eq(agora_dsp_kind_type(AGORA_DSP_MSG_AGREEMENT_VERIFICATION),
			 "ContractAgreementVerificationMessage");
	cr_expect_str_eq(agora_dsp_kind_type(AGORA_DSP_MSG_EVENT_ACCEPTED),
			 "ContractNegotiationEventMessage");
	cr_expect_str_eq(agora_dsp_kind_type(AGORA_DSP_MSG_EVENT_FINALIZED),
			 "ContractNegotiationEventMessage");
	cr_expect_str_eq(agora_dsp_kind_type(AGORA_DSP_MSG_TERMINATION),
			 "ContractNegotiationTerminationMessage");
	cr_expect_null(agora_dsp_kind_type((enum agora_dsp_kind)7));
	cr_expect_str_eq(agora_dsp_kind_name(AGORA_DSP_MSG_EVENT_FINALIZED),
			 "ContractNegotiationEventMessage:FINALIZED");
	cr_expect_str_eq(agora_dsp_role_name(AGORA_DSP_PROVIDER), "provider");
	cr_expect_str_eq(agora_dsp_role_name(AGORA_DSP_CONSUMER), "consumer");
}
