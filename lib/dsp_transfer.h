/* dsp_transfer.h — Dataspace Protocol 2025-1 transfer processes: the
 * message builders, a parser/validator for incoming messages and replies,
 * and the transfer state machine as one transition table.
 *
 * Pure C11 + Jansson, like dsp.h (whose ownership rules apply: builders
 * return new references, json_t * arguments are borrowed, the parser
 * borrows from the message it was given).
 */
#ifndef AGORA_DSP_TRANSFER_H
#define AGORA_DSP_TRANSFER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "dsp.h"

/* The formats Agora moves data in (DSP leaves format names to profiles). */
#define AGORA_DSPT_PULL "HttpData-PULL"
#define AGORA_DSPT_PUSH "HttpData-PUSH"
/* endpointType of our data addresses. */
#define AGORA_DSPT_HTTP "https://w3id.org/idsa/v4.1/HTTP"

enum agora_dspt_state {
	AGORA_DSPT_INITIAL = 0,	/* not a DSP state: before the request */
	AGORA_DSPT_REQUESTED,
	AGORA_DSPT_STARTED,
	AGORA_DSPT_SUSPENDED,
	AGORA_DSPT_COMPLETED,
	AGORA_DSPT_TERMINATED,
};
#define AGORA_DSPT_STATE_COUNT 6

enum agora_dspt_kind {
	AGORA_DSPT_MSG_REQUEST = 0,
	AGORA_DSPT_MSG_START,
	AGORA_DSPT_MSG_SUSPENSION,
	AGORA_DSPT_MSG_COMPLETION,
	AGORA_DSPT_MSG_TERMINATION,
};
#define AGORA_DSPT_KIND_COUNT 5

/* "REQUESTED" … "TERMINATED"; NULL for INITIAL and out-of-range values. */
const char *agora_dspt_state_name(enum agora_dspt_state s);
bool agora_dspt_state_from_name(const char *name, enum agora_dspt_state *out);
/* The @type ("TransferRequestMessage", …); NULL outside the enum. */
const char *agora_dspt_kind_type(enum agora_dspt_kind k);

/* The transfer state machine of DSP 2025-1: true (and *to set, may be
 * NULL) when message k sent by sender moves a process in state from.
 * REQUESTED→STARTED by the provider's start; SUSPENDED→STARTED by a start
 * from either side (resumption); STARTED→SUSPENDED and STARTED→COMPLETED
 * by either side; termination from any non-final state by either side. */
bool agora_dspt_transition(enum agora_dspt_state from, enum agora_dspt_kind k,
			   enum agora_dsp_role sender, enum agora_dspt_state *to);
/* COMPLETED and TERMINATED. */
bool agora_dspt_is_final(enum agora_dspt_state s);

/* --- builders: NULL when a required string is NULL or not UTF-8 --------- */

/* A DataAddress {"@type","endpointType":AGORA_DSPT_HTTP,"endpoint"} with
 * endpointProperties from the n name/value pairs (omitted when n is 0). */
json_t *agora_dspt_data_address_new(const char *endpoint, const char *const names[],
				    const char *const values[], size_t n);
/* TransferRequestMessage; data_address (borrowed, may be NULL) only for
 * push formats. */
json_t *agora_dspt_request_new(const char *consumer_pid, const char *agreement_id,
			       const char *format, const char *callback_address,
			       const json_t *data_address);
/* TransferStartMessage; data_address may be NULL (push, or a resumption). */
json_t *agora_dspt_start_new(const char *provider_pid, const char *consumer_pid,
			     const json_t *data_address);
json_t *agora_dspt_completion_new(const char *provider_pid, const char *consumer_pid);
/* Suspension and termination carry an optional code and reasons. */
json_t *agora_dspt_suspension_new(const char *provider_pid, const char *consumer_pid,
				  const char *code, const char *const reason[], size_t n_reason);
json_t *agora_dspt_termination_new(const char *provider_pid, const char *consumer_pid,
				   const char *code, const char *const reason[], size_t n_reason);
/* TransferProcess (the ACK); NULL for INITIAL. */
json_t *agora_dspt_process_new(const char *provider_pid, const char *consumer_pid,
			       enum agora_dspt_state state);
/* TransferError; both pids are required by the schema ("" when unknown). */
json_t *agora_dspt_error_new(const char *provider_pid, const char *consumer_pid, const char *code,
			     const char *const reason[], size_t n_reason);

/* --- parser ---------------------------------------------------------------- */

struct agora_dspt_msg {
	enum agora_dspt_kind kind;
	const char *consumer_pid;
	const char *provider_pid;	/* NULL only in a request */
	const char *agreement_id;	/* request */
	const char *format;		/* request */
	const char *callback_address;	/* request */
	const json_t *data_address;	/* request (push), start (pull); NULL when absent */
	const char *endpoint;		/* data_address's endpoint, NULL when absent */
	const char *code;		/* suspension, termination */
	const json_t *reason;		/* suspension, termination: array or NULL */
};

/* Validate msg as one of the five transfer messages and fill *out: the
 * @context, @type, the required members of the 2025-1 schemas, pids ≤
 * AGORA_DSP_PID_MAX without control characters, callbackAddress an
 * http(s) URL, agreementId ≤ AGORA_DSP_IRI_MAX, format ≤ 200 bytes, a
 * dataAddress with @type DataAddress, endpointType and, when present, an
 * http(s) endpoint and well-formed endpointProperties.  Unknown extra
 * members are allowed.  0, or -1 with err naming the member. */
int agora_dspt_parse_message(const json_t *msg, struct agora_dspt_msg *out, char *err,
			     size_t errlen);

/* The value of endpoint property name in a parsed data address, or NULL. */
const char *agora_dspt_endpoint_property(const json_t *data_address, const char *name);

/* A TransferProcess or TransferError reply. */
struct agora_dspt_reply {
	bool is_error;
	const char *provider_pid;	/* NULL when absent (errors only) */
	const char *consumer_pid;
	enum agora_dspt_state state;	/* TransferProcess only */
	const char *code;
	const json_t *reason;
};
int agora_dspt_parse_reply(const json_t *reply, struct agora_dspt_reply *out, char *err,
			   size_t errlen);

#endif
