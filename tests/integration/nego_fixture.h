/* nego_fixture.h — the negotiation tests' common stage: the broker, a
 * provider connector (city, FR) and a consumer connector (mobility, DE),
 * and the steps every such test takes. */
#ifndef AGORA_NEGO_FIXTURE_H
#define AGORA_NEGO_FIXTURE_H

#include "connector_fixture.h"

#define CITY "urn:agora:participant:city"
#define MOBI "urn:agora:participant:mobility"
#define OPEN "{\"@type\":\"Set\",\"permission\":[{\"action\":\"use\"}]}"

extern struct cfx city, mobi;

/* Criterion .init / .fini. */
void nfx_start(void);
void nfx_stop(void);

/* POST with the connector's admin key; asserts 201 and returns the id. */
char *nfx_post_id(struct cfx *c, const char *path, const char *body);
/* The city publishes a dataset with one offer under `policy` (ODRL JSON);
 * returns the dataset id, the offer id in *offer, once the broker lists it. */
char *nfx_publish(const char *title, const char *policy, bool auto_accept, char **offer);
/* The mobility company asks for (ds, offer); returns its negotiation id. */
char *nfx_request(const char *ds, const char *offer);
/* Poll a negotiation at c until it is `want` or final; the last document. */
json_t *nfx_wait_state(struct cfx *c, const char *id, const char *want);
/* Publish an open auto-accepted offer and negotiate it to FINALIZED;
 * returns the agreement id. */
char *nfx_negotiate(const char *title);

#endif
