/* dsp.h — Dataspace Protocol 2025-1 contract negotiation: the message
 * builders, a parser/validator for incoming messages, and the negotiation
 * state machine as one transition table.
 *
 * Pure C11 + Jansson: no HTTP, no database.  Used by the broker (both legs)
 * and by the connectors.
 *
 * Jansson ownership: every builder returns a new reference the caller must
 * json_decref(); json_t * arguments are borrowed (deep-copied into the
 * message).  The parser borrows everything it hands back from the message
 * it was given, so the message must outlive the struct agora_dsp_msg.
 */
#ifndef AGORA_DSP_H
#define AGORA_DSP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define AGORA_DSP_CONTEXT "https://w3id.org/dspace/2025/1/context.jsonld"

/* Bounds on what a counter-party may send us (bytes). */
#define AGORA_DSP_PID_MAX 200	/* consumerPid, providerPid */
#define AGORA_DSP_URL_MAX 2048	/* callbackAddress */
#define AGORA_DSP_IRI_MAX 2048	/* offer/agreement @id, target, assigner, assignee */

/* Negotiation states.  AGORA_DSP_STATE_INITIAL is not a DSP state: it is
 * the "from" of the messages that create a negotiation (no name, never
 * stored or sent). */
enum agora_dsp_state {
	AGORA_DSP_STATE_INITIAL = 0,
	AGORA_DSP_STATE_REQUESTED,
	AGORA_DSP_STATE_OFFERED,
	AGORA_DSP_STATE_ACCEPTED,
	AGORA_DSP_STATE_AGREED,
	AGORA_DSP_STATE_VERIFIED,
	AGORA_DSP_STATE_FINALIZED,
	AGORA_DSP_STATE_TERMINATED,
};
#define AGORA_DSP_STATE_COUNT 8

/* Negotiation messages.  The two events share one @type
 * (ContractNegotiationEventMessage) and differ by eventType. */
enum agora_dsp_kind {
	AGORA_DSP_MSG_CONTRACT_REQUEST = 0,
	AGORA_DSP_MSG_CONTRACT_OFFER,
	AGORA_DSP_MSG_CONTRACT_AGREEMENT,
	AGORA_DSP_MSG_AGREEMENT_VERIFICATION,
	AGORA_DSP_MSG_EVENT_ACCEPTED,
	AGORA_DSP_MSG_EVENT_FINALIZED,
	AGORA_DSP_MSG_TERMINATION,
};
#define AGORA_DSP_KIND_COUNT 7

enum agora_dsp_role {
	AGORA_DSP_CONSUMER = 0,
	AGORA_DSP_PROVIDER,
};

/* "REQUESTED" … "TERMINATED"; NULL for AGORA_DSP_STATE_INITIAL and values
 * outside the enum. */
const char *agora_dsp_state_name(enum agora_dsp_state s);
/* The state named name (exact, case-sensitive DSP spelling); false for
 * anything else, including "INITIAL". */
bool agora_dsp_state_from_name(const char *name, enum agora_dsp_state *out);
/* The message's @type ("ContractRequestMessage", …); NULL outside the enum. */
const char *agora_dsp_kind_type(enum agora_dsp_kind k);
/* Short stable name for logs and history ("ContractRequestMessage",
 * "ContractNegotiationEventMessage:ACCEPTED", …); NULL outside the enum. */
const char *agora_dsp_kind_name(enum agora_dsp_kind k);
/* "consumer" / "provider". */
const char *agora_dsp_role_name(enum agora_dsp_role r);

/* The state machine of DSP 2025-1 §"Contract Negotiation Protocol": true and
 * *to set (may be NULL) when message k sent by sender moves a negotiation in
 * state from; false (and *to untouched) when the message is not allowed
 * there — the binding answers that with 400 and a ContractNegotiationError. */
bool agora_dsp_transition(enum agora_dsp_state from, enum agora_dsp_kind k,
			  enum agora_dsp_role sender, enum agora_dsp_state *to);
/* FINALIZED and TERMINATED: nothing may follow. */
bool agora_dsp_is_final(enum agora_dsp_state s);

/* --- builders ---------------------------------------------------------------
 * Each returns a new object with "@context": [AGORA_DSP_CONTEXT] and
 * "@type", or NULL when an argument is unusable (a required string NULL or
 * not valid UTF-8, a combination the schema forbids — see each).  Builders
 * do not check bounds: they build what we send, the parser checks what we
 * receive. */

/* ContractRequestMessage.  Exactly one of provider_pid (a request in an
 * existing negotiation, after an offer) and callback_address (the initial
 * request) must be given: the schema's oneOf refuses both and neither. */
json_t *agora_dsp_contract_request_new(const char *consumer_pid, const char *provider_pid,
				       const json_t *offer, const char *callback_address);
/* ContractOfferMessage.  Exactly one of consumer_pid (counter-offer) and
 * callback_address (provider-initiated negotiation) must be given. */
json_t *agora_dsp_contract_offer_new(const char *provider_pid, const char *consumer_pid,
				     const json_t *offer, const char *callback_address);
/* ContractAgreementMessage.  Our signatures travel as an extra member the
 * caller adds: json_object_set_new(msg, "signatures", array). */
json_t *agora_dsp_agreement_message_new(const char *provider_pid, const char *consumer_pid,
					const json_t *agreement);
/* ContractAgreementVerificationMessage (add "signatures" likewise). */
json_t *agora_dsp_verification_new(const char *provider_pid, const char *consumer_pid);
/* ContractNegotiationEventMessage; event is AGORA_DSP_MSG_EVENT_ACCEPTED or
 * AGORA_DSP_MSG_EVENT_FINALIZED (NULL for any other kind). */
json_t *agora_dsp_event_new(const char *provider_pid, const char *consumer_pid,
			    enum agora_dsp_kind event);
/* ContractNegotiationTerminationMessage.  code may be NULL (omitted);
 * reason holds n_reason strings (n_reason 0: omitted, the schema wants at
 * least one item when present). */
json_t *agora_dsp_termination_new(const char *provider_pid, const char *consumer_pid,
				  const char *code, const char *const reason[], size_t n_reason);
/* ContractNegotiation — the ACK body and the GET /negotiations/:pid reply.
 * NULL for AGORA_DSP_STATE_INITIAL. */
json_t *agora_dsp_negotiation_new(const char *provider_pid, const char *consumer_pid,
				  enum agora_dsp_state state);
/* ContractNegotiationError.  Either pid may be NULL and is then omitted —
 * but the official schema requires both, so pass them whenever they are
 * known (only a request too malformed to carry a consumerPid lacks one).
 * code and reason as for termination. */
json_t *agora_dsp_error_new(const char *provider_pid, const char *consumer_pid,
			    const char *code, const char *const reason[], size_t n_reason);

/* --- parser ---------------------------------------------------------------- */

/* A parsed negotiation message; every pointer borrows from the message.
 * Members a kind does not carry are NULL. */
struct agora_dsp_msg {
	enum agora_dsp_kind kind;
	const char *type;		/* the @type */
	const char *consumer_pid;	/* NULL only in an initial ContractOfferMessage */
	const char *provider_pid;	/* NULL only in an initial ContractRequestMessage */
	const json_t *offer;		/* request, offer */
	const json_t *agreement;	/* agreement message */
	const char *callback_address;	/* request, offer; NULL when absent */
	const char *event_type;		/* "ACCEPTED" | "FINALIZED" for events */
	const char *code;		/* termination; NULL when absent */
	const json_t *reason;		/* termination: array, NULL when absent */
	const json_t *signatures;	/* extra "signatures" member, unchecked, or NULL */
};

/* Validates msg as one of the seven negotiation messages and fills *out.
 * Checks: @context is an array of strings containing AGORA_DSP_CONTEXT;
 * @type is a negotiation message; required members per the DSP schema and
 * spec text; pids non-empty strings ≤ AGORA_DSP_PID_MAX bytes without
 * control characters; callbackAddress an http(s) URL with a host,
 * ≤ AGORA_DSP_URL_MAX; offer: @type "Offer", @id, target, permission or
 * prohibition (non-empty arrays of rules with a string action and no
 * target); agreement: the same plus @type "Agreement", assigner, assignee
 * and an RFC 3339 timestamp.  Unknown extra members are allowed.
 * Returns 0 on success, -1 with a message naming the member in err (and
 * *out unspecified) otherwise. */
int agora_dsp_parse_negotiation_message(const json_t *msg, struct agora_dsp_msg *out, char *err,
					size_t errlen);

/* A parsed ContractNegotiation (ACK) or ContractNegotiationError reply. */
struct agora_dsp_reply {
	bool is_error;			/* ContractNegotiationError */
	const char *provider_pid;	/* NULL when absent (errors only) */
	const char *consumer_pid;	/* NULL when absent (errors only) */
	enum agora_dsp_state state;	/* ContractNegotiation only */
	const char *code;		/* error only; NULL when absent */
	const json_t *reason;		/* error only; NULL when absent */
};

/* Validates a counter-party's reply body (ContractNegotiation or
 * ContractNegotiationError) and fills *out (borrowing from reply).  An
 * error reply is accepted without pids since peers send them so.  Returns
 * 0, or -1 with err naming the member. */
int agora_dsp_parse_reply(const json_t *reply, struct agora_dsp_reply *out, char *err,
			  size_t errlen);

#endif
