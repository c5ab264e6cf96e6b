/* transfer.h — the connector's side of transfer processes (docs/TRANSFER.md):
 * as consumer (it asks the broker, then pulls or receives the data) and as
 * provider (the broker asks on a consumer's behalf; it serves or pushes
 * the data).  Every state change runs in one transaction with the history
 * row and the outbox message it causes; the data itself moves in
 * dataplane.c.
 */
#ifndef AGORA_TRANSFER_H
#define AGORA_TRANSFER_H

#include <jansson.h>
#include <libpq-fe.h>

#include "connector.h"
#include "dsp_transfer.h"
#include "outbox.h"

struct tr_answer {
	unsigned status;
	json_t *body;	/* new reference: TransferProcess or TransferError */
};

/* Provider role: a TransferRequestMessage from sender (only the broker may
 * ask; else 404). */
void transfer_receive_request(struct connector *c, const char *sender, const json_t *body,
			      struct tr_answer *out);

/* A later message for our process pid, in which we play role. */
void transfer_receive(struct connector *c, enum agora_dsp_role role, const char *pid,
		      const char *sender, const json_t *body, enum agora_dspt_kind kind,
		      struct tr_answer *out);

/* Consumer role (management API): ask for a transfer under agreement_id.
 * On success AGORA_E__COUNT with id set; otherwise the error and detail. */
/* auto_pull false: a pull the client makes itself with the data address
 * and token of GET /api/v1/transfers/{id}/edr (the connector does not pull). */
enum agora_error transfer_create(struct connector *c, const char *agreement_id, const char *format,
				 const char *purpose, const json_t *query, bool auto_pull,
				 const char *owner, char id[static 46], char *detail, size_t dlen);

enum tr_action {
	TR_SUSPEND,
	TR_RESUME,
	TR_TERMINATE,
	TR_COMPLETE,	/* the data moved completely: tell the other side */
};
/* Apply an action to transfer id (either role) and queue the message for
 * the broker.  AGORA_E__COUNT, TRANSFER_NOT_FOUND, TRANSFER_STATE or
 * UNAVAILABLE. */
enum agora_error transfer_act(struct connector *c, const char *id, enum tr_action a,
			      const char *code, const char *reason);

/* The connector's outbox result callback: transfer messages here, the
 * rest to negotiation_on_result(). */
void connector_outbox_result(void *ctx, PGconn *db, const char *kind, const char *ref,
			     const json_t *sent, long status, const json_t *reply,
			     enum agora_outbox_outcome outcome);

/* --- the data plane (dataplane.c) ------------------------------------------ */

/* Start / stop the transfer worker (pulls, pushes, receipts, deletions). */
void dataplane_start(struct connector *c);
void dataplane_stop(void);
/* Can data of dataset ds (its API document) move under agreement with
 * the consumer's query (may be NULL)?  AGORA_E__COUNT, or INVALID_QUERY /
 * QUERY_NOT_PERMITTED / USAGE_DENIED with detail. */
enum agora_error dataplane_check_query(const json_t *ds, const json_t *agreement,
				       const json_t *query, char *detail, size_t dlen);
/* Look at transfer id now (it has something to do). */
void dataplane_wake(const char *id);
/* Cut the running data streams of transfer id (suspended, terminated). */
void dataplane_cancel(const char *id);
/* Agreement agreement_id was revoked here: the data endpoint stops using
 * what it remembers of its transfers and checks the agreement again. */
void dataplane_agreement_revoked(const char *agreement_id);

/* Handlers. */
enum MHD_Result conn_transfer_create(struct agora_req *r);
enum MHD_Result conn_transfer_list(struct agora_req *r);
enum MHD_Result conn_transfer_get(struct agora_req *r);
enum MHD_Result conn_transfer_suspend(struct agora_req *r);
enum MHD_Result conn_transfer_resume(struct agora_req *r);
enum MHD_Result conn_transfer_terminate(struct agora_req *r);
enum MHD_Result conn_transfer_data(struct agora_req *r);
enum MHD_Result conn_transfer_edr(struct agora_req *r);
enum MHD_Result conn_dsp_tr_request(struct agora_req *r);
enum MHD_Result conn_dsp_tr_get(struct agora_req *r);
enum MHD_Result conn_dsp_tr_start(struct agora_req *r);
enum MHD_Result conn_dsp_tr_completion(struct agora_req *r);
enum MHD_Result conn_dsp_tr_suspension(struct agora_req *r);
enum MHD_Result conn_dsp_tr_termination(struct agora_req *r);
enum MHD_Result conn_dsp_cb_tr_start(struct agora_req *r);
enum MHD_Result conn_dsp_cb_tr_completion(struct agora_req *r);
enum MHD_Result conn_dsp_cb_tr_suspension(struct agora_req *r);
enum MHD_Result conn_dsp_cb_tr_termination(struct agora_req *r);
enum MHD_Result conn_data_get(struct agora_req *r);
enum MHD_Result conn_push_put(struct agora_req *r);
enum MHD_Result conn_usage_notify(struct agora_req *r);

#endif
