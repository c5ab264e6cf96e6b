/* main.c — agora-connector: one organisation's connector. */
#include "apikeys.h"
#include "config.h"
#include "connector.h"
#include "db_connector.h"
#include "httpc.h"
#include "jose.h"
#include "log.h"
#include "negotiation.h"
#include "outbox.h"
#include "db_transfers.h"
#include "transfer.h"
#include "util.h"
#include "webui.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const struct agora_migration connector_migrations[];

static struct agora_opt opts[] = {
	{ "listen", "AGORA_LISTEN", "HOST:PORT", "127.0.0.1:8481", "address to listen on", NULL },
	{ "db", "AGORA_DB", "CONNINFO", "dbname=agora_connector", "PostgreSQL connection string", NULL },
	{ "data-dir", "AGORA_DATA_DIR", "DIR", "var/connector", "directory for uploads and keys", NULL },
	{ "public-url", "AGORA_PUBLIC_URL", "URL", NULL, "URL others reach this connector at (default http://LISTEN)", NULL },
	{ "broker", "AGORA_BROKER", "URL", "http://127.0.0.1:8480", "the broker's public URL", NULL },
	{ "participant-id", "AGORA_PARTICIPANT_ID", "ID", NULL, "this organisation's participant id (required)", NULL },
	{ "key", "AGORA_KEY", "FILE", NULL, "Ed25519 key (PKCS#8 PEM), created if missing (default DATA_DIR/connector-key.pem)", NULL },
	{ "api-key", "AGORA_API_KEY", "KEY", NULL, "bootstrap admin API key (default: generated on first start, printed once)", NULL },
	{ "max-upload", "AGORA_MAX_UPLOAD", "BYTES", "1073741824", "largest content upload", NULL },
	{ "http-allow", "AGORA_HTTP_ALLOW", "HOSTS", "", "comma-separated hosts http sources may use", NULL },
	{ "push-debounce", "AGORA_PUSH_DEBOUNCE", "MS", "200", "wait this long to gather catalog changes before a push", NULL },
	{ "reauth-interval", "AGORA_REAUTH_INTERVAL", "SECONDS", "30", "re-authorise running data streams with the broker this often (and every 64 MiB)", NULL },
	{ "outbox-workers", "AGORA_OUTBOX_WORKERS", "N", "8", "threads delivering DSP messages from the outbox", NULL },
	{ "threads", "AGORA_THREADS", "N", "4", "HTTP worker threads", NULL },
	{ "max-connections", "AGORA_MAX_CONNECTIONS", "N", "1024", "concurrent connection limit", NULL },
	{ "timeout", "AGORA_TIMEOUT", "SECONDS", "30", "idle connection timeout", NULL },
	{ "log-level", "AGORA_LOG_LEVEL", "LEVEL", "info", "debug, info, warn or error", NULL },
	{ "web-root", "AGORA_WEB_ROOT", "DIR", NULL,
	  "directory of the web UI (default: web/ of the source tree, else the installed share/agora/web)", NULL },
	{ "print-jwk", NULL, NULL, NULL, "print the public JWK of --key (creating the key if missing) and exit", NULL },
};
#define OPT(n) agora_config_get(opts, ARRAY_LEN(opts), n)

static char **
split_hosts(const char *list)
{
	size_t n = 1;
	for (const char *p = list; *p; p++)
		n += *p == ',';
	char **v = xcalloc(n + 1, sizeof *v);
	size_t k = 0;
	char *copy = xstrdup(list), *save = NULL;
	for (char *t = strtok_r(copy, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
		for (char *c = t; *c; c++)
			if (*c >= 'A' && *c <= 'Z')
				*c += 32;
		v[k++] = xstrdup(t);
	}
	free(copy);
	return v;
}

int
main(int argc, char **argv)
{
	switch (agora_config_parse(argc, argv, "agora-connector",
				   "An Agora connector: one organisation's datasets, policies and offers,\n"
				   "published to the broker's federated catalog.", opts, ARRAY_LEN(opts))) {
	case AGORA_CONFIG_EXIT:
		return 0;
	case AGORA_CONFIG_ERROR:
		return 2;
	case AGORA_CONFIG_OK:
		break;
	}
	if (!agora_log_set_level_name(OPT("log-level"))) {
		fprintf(stderr, "agora-connector: --log-level takes debug, info, warn or error\n");
		return 2;
	}
	const char *dir = OPT("data-dir");
	char *keypath = OPT("key") ? xstrdup(OPT("key")) : xasprintf("%s/connector-key.pem", dir);
	if (agora_mkdir_p(dir) != 0) {
		fprintf(stderr, "agora-connector: cannot create %s: %s\n", dir, strerror(errno));
		return 1;
	}
	char err[256];
	bool created = false;
	struct connector c = { 0 };
	c.svc.key = agora_key_load_or_create(keypath, &created, err, sizeof err);
	if (!c.svc.key) {
		fprintf(stderr, "agora-connector: key %s: %s\n", keypath, err);
		return 1;
	}
	agora_key_thumbprint(c.svc.key, c.svc.kid);
	if (OPT("print-jwk")) {
		json_t *jwk = agora_jwk_from_key(c.svc.key);
		json_object_set_new(jwk, "kid", json_string(c.svc.kid));
		char *s = json_dumps(jwk, JSON_COMPACT);
		printf("%s\n", s);
		free(s);
		json_decref(jwk);
		agora_key_free(c.svc.key);
		free(keypath);
		return 0;
	}
	if (!OPT("participant-id") || !*OPT("participant-id")) {
		fprintf(stderr, "agora-connector: --participant-id is required (see --help)\n");
		return 2;
	}
	long threads, maxconn, timeout, maxup, debounce, obw, reauth;
	if (!agora_parse_long(OPT("threads"), 1, 256, &threads) ||
	    !agora_parse_long(OPT("max-connections"), 1, 100000, &maxconn) ||
	    !agora_parse_long(OPT("timeout"), 1, 3600, &timeout) ||
	    !agora_parse_long(OPT("max-upload"), 1, (long)1 << 50, &maxup) ||
	    !agora_parse_long(OPT("push-debounce"), 0, 60000, &debounce) ||
	    !agora_parse_long(OPT("outbox-workers"), 1, 64, &obw) ||
	    !agora_parse_long(OPT("reauth-interval"), 1, 3600, &reauth)) {
		fprintf(stderr, "agora-connector: --threads, --max-connections, --timeout, --max-upload, "
				"--push-debounce, --outbox-workers and --reauth-interval take positive "
				"integers\n");
		return 2;
	}
	agora_log(AGORA_LOG_INFO, created ? "signing key created" : "signing key loaded",
		  json_pack("{s:s, s:s}", "path", keypath, "kid", c.svc.kid));
	free(keypath);
	char *tmp = xasprintf("%s/tmp", dir), *objects = xasprintf("%s/objects", dir);
	if (agora_mkdir_p(tmp) != 0 || agora_mkdir_p(objects) != 0) {
		fprintf(stderr, "agora-connector: cannot create %s/{tmp,objects}: %s\n", dir, strerror(errno));
		return 1;
	}
	free(tmp);
	free(objects);

	char *broker = xstrdup(OPT("broker"));
	for (size_t n = strlen(broker); n > 0 && broker[n - 1] == '/'; n--)
		broker[n - 1] = '\0';
	c.broker_url = broker;
	c.reauth_interval = (unsigned)reauth;
	c.svc.participant_id = OPT("participant-id");
	c.data_dir = dir;
	c.max_upload = maxup;
	c.http_allow = split_hosts(OPT("http-allow"));
	c.push_debounce_ms = (unsigned)debounce;
	char *url = OPT("public-url") ? xstrdup(OPT("public-url")) : xasprintf("http://%s", OPT("listen"));
	for (size_t n = strlen(url); n > 0 && url[n - 1] == '/'; n--)
		url[n - 1] = '\0';
	c.svc.public_url = url;
	c.svc.name = "Agora connector";
	c.svc.openapi_yaml = agora_openapi_connector_yaml;

	struct agora_server_config cfg = {
		.listen = OPT("listen"),
		.threads = (unsigned)threads,
		.max_connections = (unsigned)maxconn,
		.timeout_s = (unsigned)timeout,
		.routes = connector_routes,
		.nroutes = connector_nroutes,
		.participant_auth = connector_participant_auth,
		.has_admin_key = true,
		.app = &c,
	};
	if (!agora_admin_key_bootstrap(OPT("api-key"), dir, "agora-connector", cfg.admin_key_hash))
		return 1;
	if (!agora_db_migrate(OPT("db"), "connector", connector_migrations))
		return 1;
	static const struct agora_stmt *const tables[] = { agora_apikey_stmts, db_dataset_stmts,
							   db_policy_stmts, db_misc_stmts,
							   db_observation_stmts, db_negotiation_stmts,
							   db_transfer_stmts,
							   agora_outbox_stmts, NULL };
	agora_db_setup(OPT("db"), tables);
	agora_httpc_global_init();
	connector_auth_setup(&c);

	agora_stop_signals_block();

	/* The UI is optional: without it the API is served all the same. */
	char *web_root = OPT("web-root") ? xstrdup(OPT("web-root")) : agora_webui_default_root();
	agora_webui_init(web_root, "connector");
	free(web_root);
	c.svc.server = agora_server_start(&cfg);
	if (!c.svc.server)
		return 1;
	connector_push_start(&c);
	struct agora_outbox_config obc = { .conninfo = OPT("db"), .key = c.svc.key, .kid = c.svc.kid,
					   .self_id = c.svc.participant_id, .workers = (unsigned)obw,
					   .on_result = connector_outbox_result, .ctx = &c };
	c.outbox = agora_outbox_start(&obc);
	if (!c.outbox)
		return 1;
	dataplane_start(&c);
	agora_log(AGORA_LOG_INFO, "listening",
		  json_pack("{s:s, s:s, s:s, s:s, s:s}", "listen", OPT("listen"), "publicUrl", url,
			    "participant", c.svc.participant_id, "broker", broker, "version", AGORA_VERSION));
	int sig = agora_stop_signals_wait();
	agora_log(AGORA_LOG_INFO, "stopping", json_pack("{s:i}", "signal", sig));
	agora_server_stop(c.svc.server);
	dataplane_stop();
	agora_webui_cleanup();
	agora_outbox_stop(c.outbox);
	connector_push_stop(&c);
	agora_httpc_global_cleanup();
	agora_key_free(c.svc.key);
	for (char **h = c.http_allow; *h; h++)
		free(*h);
	free(c.http_allow);
	free(url);
	free(broker);
	return 0;
}
