/* connector_fixture.h — a real agora-connector (own database and data dir)
 * registered as a participant at the fixture's broker. */
#ifndef AGORA_CONNECTOR_FIXTURE_H
#define AGORA_CONNECTOR_FIXTURE_H

#include "broker_fixture.h"

#define CONN_ADMIN_KEY "conn-admin-key-0123456789"
#define CONN_MAX_UPLOAD "1048576"

struct cfx {
	struct participant p;	/* its identity at the broker (key = its key file) */
	char *dir;
	char *db;
	char *url;
	char *log;
	struct harness_proc *proc;
};

/* Register participant id (country as given) at the broker and start its
 * connector; waits until it answers. */
void cfx_start(struct cfx *c, const char *id, const char *country);
void cfx_stop(struct cfx *c);

/* A management call with an API key (NULL: none); body may be NULL. */
struct harness_resp *cfx_call(const struct cfx *c, const char *method, const char *path,
			      const char *key, const char *body);
/* A raw-body call (content upload, CSV) with a content type. */
struct harness_resp *cfx_call_raw(const struct cfx *c, const char *method, const char *path,
				  const char *key, const char *ctype, const char *body, size_t len);
/* A DSP call from participant `from` (signed with its key). */
struct harness_resp *cfx_dsp(const struct cfx *c, const struct participant *from, const char *method,
			     const char *path, const char *body);
/* A new API key with role at connector c (heap string). */
char *cfx_key(const struct cfx *c, const char *role);

#endif
