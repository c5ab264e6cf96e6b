/* libFuzzer target: the Dataspace Protocol parsers (lib/dsp.c,
 * lib/dsp_transfer.c).  The input is one JSON value handed to all four:
 * agora_dsp_parse_negotiation_message, agora_dsp_parse_reply,
 * agora_dspt_parse_message and agora_dspt_parse_reply.
 *
 * Each returns 0 or -1 (with a reason).  On success: the kind and state are
 * in range, present pids are non-empty, at most AGORA_DSP_PID_MAX bytes and
 * free of control characters, the pids a kind requires are there, and the
 * reply rebuilt with our own builder (agora_dsp_negotiation_new /
 * agora_dspt_process_new, and the termination / suspension messages)
 * parses again to the same pids and state. */
#include <jansson.h>

#include "dsp.h"
#include "dsp_transfer.h"
#include "fuzz_util.h"

static void
pid_ok(const char *pid, const char *what)
{
	if (!pid)
		return;
	size_t n = strlen(pid);
	FUZZ_CHECK(n > 0 && n <= AGORA_DSP_PID_MAX, "%s length %zu", what, n);
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK((unsigned char)pid[i] >= 0x20 && pid[i] != 0x7f, "%s has a control character",
			   what);
}

static void
negotiation(const json_t *v)
{
	struct agora_dsp_msg m;
	char err[300] = "";
	int r = agora_dsp_parse_negotiation_message(v, &m, err, sizeof err);
	FUZZ_CHECK(r == 0 || r == -1, "result %d", r);
	if (r) {
		FUZZ_CHECK(err[0], "refused without a reason");
		return;
	}
	FUZZ_CHECK(agora_dsp_kind_type(m.kind) != NULL, "kind %d", (int)m.kind);
	FUZZ_CHECK(m.type && !strcmp(m.type, agora_dsp_kind_type(m.kind)), "type");
	pid_ok(m.consumer_pid, "consumerPid");
	pid_ok(m.provider_pid, "providerPid");
	FUZZ_CHECK(m.consumer_pid || m.kind == AGORA_DSP_MSG_CONTRACT_OFFER, "no consumerPid");
	FUZZ_CHECK(m.provider_pid || m.kind == AGORA_DSP_MSG_CONTRACT_REQUEST, "no providerPid");
	FUZZ_CHECK(!m.reason || json_is_array(m.reason), "reason");
	if (m.kind == AGORA_DSP_MSG_CONTRACT_REQUEST || m.kind == AGORA_DSP_MSG_CONTRACT_OFFER)
		FUZZ_CHECK(json_is_object(m.offer), "offer");
	if (m.kind == AGORA_DSP_MSG_CONTRACT_AGREEMENT)
		FUZZ_CHECK(json_is_object(m.agreement), "agreement");
	if (m.kind == AGORA_DSP_MSG_TERMINATION) {
		/* Rebuild with our builder (reasons that are strings only). */
		const char *reasons[4];
		size_t n = 0;
		for (size_t i = 0; m.reason && i < json_array_size(m.reason) && n < 4; i++)
			if (json_is_string(json_array_get(m.reason, i)))
				reasons[n++] = json_string_value(json_array_get(m.reason, i));
		json_t *again = agora_dsp_termination_new(m.provider_pid, m.consumer_pid, m.code,
							  reasons, n);
		FUZZ_CHECK(again, "termination not rebuilt");
		struct agora_dsp_msg m2;
		FUZZ_CHECK(agora_dsp_parse_negotiation_message(again, &m2, err, sizeof err) == 0,
			   "rebuilt termination refused: %s", err);
		FUZZ_CHECK(!strcmp(m2.provider_pid, m.provider_pid) &&
				   !strcmp(m2.consumer_pid, m.consumer_pid),
			   "pids");
		json_decref(again);
	}
}

static void
negotiation_reply(const json_t *v)
{
	struct agora_dsp_reply r;
	char err[300] = "";
	int rc = agora_dsp_parse_reply(v, &r, err, sizeof err);
	FUZZ_CHECK(rc == 0 || rc == -1, "result %d", rc);
	if (rc) {
		FUZZ_CHECK(err[0], "refused without a reason");
		return;
	}
	pid_ok(r.provider_pid, "providerPid");
	pid_ok(r.consumer_pid, "consumerPid");
	if (r.is_error)
		return;
	FUZZ_CHECK(r.provider_pid && r.consumer_pid, "ContractNegotiation without pids");
	FUZZ_CHECK(agora_dsp_state_name(r.state), "state %d", (int)r.state);
	json_t *again = agora_dsp_negotiation_new(r.provider_pid, r.consumer_pid, r.state);
	FUZZ_CHECK(again, "not rebuilt");
	struct agora_dsp_reply r2;
	FUZZ_CHECK(agora_dsp_parse_reply(again, &r2, err, sizeof err) == 0, "rebuilt refused: %s", err);
	FUZZ_CHECK(r2.state == r.state && !strcmp(r2.provider_pid, r.provider_pid) &&
			   !strcmp(r2.consumer_pid, r.consumer_pid),
		   "rebuilt differs");
	json_decref(again);
}

static void
transfer(const json_t *v)
{
	struct agora_dspt_msg m;
	char err[300] = "";
	int r = agora_dspt_parse_message(v, &m, err, sizeof err);
	FUZZ_CHECK(r == 0 || r == -1, "result %d", r);
	if (r) {
		FUZZ_CHECK(err[0], "refused without a reason");
		return;
	}
	FUZZ_CHECK(agora_dspt_kind_type(m.kind) != NULL, "kind %d", (int)m.kind);
	pid_ok(m.consumer_pid, "consumerPid");
	pid_ok(m.provider_pid, "providerPid");
	FUZZ_CHECK(m.consumer_pid, "no consumerPid");
	FUZZ_CHECK(m.provider_pid || m.kind == AGORA_DSPT_MSG_REQUEST, "no providerPid");
	if (m.kind == AGORA_DSPT_MSG_REQUEST)
		FUZZ_CHECK(m.agreement_id && m.format && m.callback_address, "request members");
	FUZZ_CHECK(!m.reason || json_is_array(m.reason), "reason");
	if (m.data_address)
		(void)agora_dspt_endpoint_property(m.data_address, "authorization");
	if (m.kind == AGORA_DSPT_MSG_SUSPENSION || m.kind == AGORA_DSPT_MSG_TERMINATION) {
		const char *reasons[4];
		size_t n = 0;
		for (size_t i = 0; m.reason && i < json_array_size(m.reason) && n < 4; i++)
			if (json_is_string(json_array_get(m.reason, i)))
				reasons[n++] = json_string_value(json_array_get(m.reason, i));
		json_t *again = m.kind == AGORA_DSPT_MSG_SUSPENSION
					? agora_dspt_suspension_new(m.provider_pid, m.consumer_pid, m.code,
								    reasons, n)
					: agora_dspt_termination_new(m.provider_pid, m.consumer_pid,
								     m.code, reasons, n);
		FUZZ_CHECK(again, "not rebuilt");
		struct agora_dspt_msg m2;
		FUZZ_CHECK(agora_dspt_parse_message(again, &m2, err, sizeof err) == 0,
			   "rebuilt refused: %s", err);
		FUZZ_CHECK(m2.kind == m.kind, "kind");
		json_decref(again);
	}
}

static void
transfer_reply(const json_t *v)
{
	struct agora_dspt_reply r;
	char err[300] = "";
	int rc = agora_dspt_parse_reply(v, &r, err, sizeof err);
	FUZZ_CHECK(rc == 0 || rc == -1, "result %d", rc);
	if (rc) {
		FUZZ_CHECK(err[0], "refused without a reason");
		return;
	}
	pid_ok(r.provider_pid, "providerPid");
	pid_ok(r.consumer_pid, "consumerPid");
	if (r.is_error)
		return;
	FUZZ_CHECK(r.provider_pid && r.consumer_pid, "TransferProcess without pids");
	FUZZ_CHECK(agora_dspt_state_name(r.state), "state %d", (int)r.state);
	json_t *again = agora_dspt_process_new(r.provider_pid, r.consumer_pid, r.state);
	FUZZ_CHECK(again, "not rebuilt");
	struct agora_dspt_reply r2;
	FUZZ_CHECK(agora_dspt_parse_reply(again, &r2, err, sizeof err) == 0, "rebuilt refused: %s", err);
	FUZZ_CHECK(r2.state == r.state, "state differs");
	json_decref(again);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 65536)
		return 0;
	json_t *v = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
	if (!v)
		return 0;
	negotiation(v);
	negotiation_reply(v);
	transfer(v);
	transfer_reply(v);
	json_decref(v);
	return 0;
}
