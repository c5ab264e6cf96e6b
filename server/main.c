/* main.c — agora-broker: configuration, keys, migrations, the HTTP server. */
#include "apikeys.h"
#include "broker.h"
#include "config.h"
#include "db_catalog.h"
#include "db_ledger.h"
#include "db_negotiations.h"
#include "db_transfers.h"
#include "transfer.h"
#include "db_participants.h"
#include "httpc.h"
#include "jose.h"
#include "ledger.h"
#include "negotiation.h"
#include "outbox.h"
#include "log.h"
#include "search_cache.h"
#include "util.h"
#include "webui.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

extern const struct agora_migration broker_migrations[];

static struct agora_opt opts[] = {
	{ "listen", "AGORA_LISTEN", "HOST:PORT", "127.0.0.1:8480", "address to listen on", NULL },
	{ "db", "AGORA_DB", "CONNINFO", "dbname=agora_broker", "PostgreSQL connection string", NULL },
	{ "data-dir", "AGORA_DATA_DIR", "DIR", "var/broker", "directory for the signing key", NULL },
	{ "public-url", "AGORA_PUBLIC_URL", "URL", NULL,
	  "URL clients reach the broker at; its participant id (default http://LISTEN)", NULL },
	{ "admin-key", "AGORA_ADMIN_KEY", "KEY", NULL,
	  "bootstrap admin API key (default: generated on first start, printed once)", NULL },
	{ "threads", "AGORA_THREADS", "N", "4", "HTTP worker threads", NULL },
	{ "max-connections", "AGORA_MAX_CONNECTIONS", "N", "1024", "concurrent connection limit", NULL },
	{ "timeout", "AGORA_TIMEOUT", "SECONDS", "30", "idle connection timeout", NULL },
	{ "log-level", "AGORA_LOG_LEVEL", "LEVEL", "info", "debug, info, warn or error", NULL },
	{ "web-root", "AGORA_WEB_ROOT", "DIR", NULL,
	  "directory of the web UI (default: web/ of the source tree, else the installed share/agora/web)", NULL },
	{ "crawl-interval", "AGORA_CRAWL_INTERVAL", "SECONDS", "300",
	  "seconds between catalog crawls of the participants' connectors (0: never)", NULL },
	{ "outbox-workers", "AGORA_OUTBOX_WORKERS", "N", "8",
	  "threads delivering DSP messages from the outbox", NULL },
	{ "token-lifetime", "AGORA_TOKEN_LIFETIME", "SECONDS", "300",
	  "lifetime of the access tokens issued for transfers (refreshable while STARTED)", NULL },
	{ "search-cache-ttl", "AGORA_SEARCH_CACHE_TTL", "SECONDS", "10",
	  "reuse a catalog search answer while the catalog is unchanged, at most this long (0: off)", NULL },
};

int
main(int argc, char **argv)
{
	switch (agora_config_parse(argc, argv, "agora-broker",
				   "The Agora broker: participant registry, federated catalog, contract "
				   "negotiation,\ntoken issuance and the clearing-house ledger.",
				   opts, ARRAY_LEN(opts))) {
	case AGORA_CONFIG_EXIT:
		return 0;
	case AGORA_CONFIG_ERROR:
		return 2;
	case AGORA_CONFIG_OK:
		break;
	}
#define OPT(n) agora_config_get(opts, ARRAY_LEN(opts), n)
	if (!agora_log_set_level_name(OPT("log-level"))) {
		fprintf(stderr, "agora-broker: --log-level takes debug, info, warn or error\n");
		return 2;
	}
	long threads, maxconn, timeout, crawl, cache_ttl, obw, tokl;
	if (!agora_parse_long(OPT("token-lifetime"), 1, 3600, &tokl)) {
		fprintf(stderr, "agora-broker: --token-lifetime takes 1..3600 seconds\n");
		return 2;
	}
	broker_transfer_token_lifetime((unsigned)tokl);
	if (!agora_parse_long(OPT("crawl-interval"), 0, 86400 * 7, &crawl) ||
	    !agora_parse_long(OPT("search-cache-ttl"), 0, 3600, &cache_ttl) ||
	    !agora_parse_long(OPT("outbox-workers"), 1, 64, &obw)) {
		fprintf(stderr, "agora-broker: --crawl-interval and --search-cache-ttl take 0 or a number of"
				" seconds, --outbox-workers 1..64\n");
		return 2;
	}
	search_cache_set_ttl((unsigned)cache_ttl);
	if (!agora_parse_long(OPT("threads"), 1, 256, &threads) ||
	    !agora_parse_long(OPT("max-connections"), 1, 100000, &maxconn) ||
	    !agora_parse_long(OPT("timeout"), 1, 3600, &timeout)) {
		fprintf(stderr, "agora-broker: --threads, --max-connections and --timeout take positive integers\n");
		return 2;
	}
	const char *dir = OPT("data-dir");
	if (agora_mkdir_p(dir) != 0) {
		fprintf(stderr, "agora-broker: cannot create data dir %s: %s\n", dir, strerror(errno));
		return 1;
	}

	struct broker b = { 0 };
	char err[256];
	bool created = false;
	char *keypath = xasprintf("%s/broker-key.pem", dir);
	b.svc.key = agora_key_load_or_create(keypath, &created, err, sizeof err);
	if (!b.svc.key) {
		fprintf(stderr, "agora-broker: signing key %s: %s\n", keypath, err);
		return 1;
	}
	agora_key_thumbprint(b.svc.key, b.svc.kid);
	agora_log(AGORA_LOG_INFO, created ? "signing key created" : "signing key loaded",
		  json_pack("{s:s, s:s}", "path", keypath, "kid", b.svc.kid));
	free(keypath);

	struct agora_server_config cfg = {
		.listen = OPT("listen"),
		.threads = (unsigned)threads,
		.max_connections = (unsigned)maxconn,
		.timeout_s = (unsigned)timeout,
		.routes = broker_routes,
		.nroutes = broker_nroutes,
		.participant_auth = broker_participant_auth,
		.has_admin_key = true,
		.app = &b,
	};
	if (!agora_admin_key_bootstrap(OPT("admin-key"), dir, "agora-broker", cfg.admin_key_hash))
		return 1;

	if (!agora_db_migrate(OPT("db"), "broker", broker_migrations))
		return 1;
	static const struct agora_stmt *const tables[] = { agora_apikey_stmts, db_participant_stmts,
							   db_catalog_stmts, db_ledger_stmts,
							   db_bneg_stmts, db_btr_stmts, agora_outbox_stmts, NULL };
	agora_db_setup(OPT("db"), tables);

	/* Block the stop signals in every thread; main waits for them. */
	agora_stop_signals_block();
	if (!agora_httpc_global_init())
		return 1;

	/* The public URL is the broker's identity (its participant id and the
	 * audience of tokens sent to it), fixed before the first request. */
	const char *l = OPT("listen");
	const char *colon = strrchr(l, ':');
	if (!OPT("public-url") && colon && !strcmp(colon + 1, "0")) {
		fprintf(stderr, "agora-broker: --listen with port 0 needs --public-url\n");
		return 2;
	}
	char *url = OPT("public-url") ? xstrdup(OPT("public-url")) : xasprintf("http://%s", l);
	for (size_t ul = strlen(url); ul > 0 && url[ul - 1] == '/'; ul--)
		url[ul - 1] = '\0';
	b.svc.public_url = url;
	b.svc.participant_id = url;
	b.svc.name = "Agora broker";
	b.svc.openapi_yaml = agora_openapi_broker_yaml;
	/* The ledger's sequencer signs tree heads with the broker key. */
	if (!ledger_start(b.svc.key, b.svc.kid, OPT("db")))
		return 1;
	/* The UI is optional: without it the API is served all the same. */
	char *web_root = OPT("web-root") ? xstrdup(OPT("web-root")) : agora_webui_default_root();
	agora_webui_init(web_root, "broker");
	free(web_root);
	b.svc.server = agora_server_start(&cfg);
	if (!b.svc.server)
		return 1;
	agora_log(AGORA_LOG_INFO, "listening",
		  json_pack("{s:s, s:i, s:s, s:s}", "listen", OPT("listen"), "port",
			    (int)agora_server_port(b.svc.server), "publicUrl", url, "version",
			    AGORA_VERSION));
	if (!broker_crawler_start(&b, (unsigned)crawl))
		return 1;
	/* Negotiation messages leave through the transactional outbox. */
	if (!broker_neg_outbox_start(&b, OPT("db"), (unsigned)obw))
		return 1;

	int sig = agora_stop_signals_wait();
	agora_log(AGORA_LOG_INFO, "stopping", json_pack("{s:i}", "signal", sig));
	broker_crawler_stop();
	agora_server_stop(b.svc.server);
	agora_webui_cleanup();
	broker_neg_outbox_stop();
	ledger_stop();
	agora_httpc_global_cleanup();
	agora_key_free(b.svc.key);
	free(url);
	return 0;
}
