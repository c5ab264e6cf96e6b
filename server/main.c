/* main.c — agora-broker: configuration, keys, migrations, the HTTP server. */
#include "apikeys.h"
#include "broker.h"
#include "config.h"
#include "db_catalog.h"
#include "db_ledger.h"
#include "db_participants.h"
#include "httpc.h"
#include "jose.h"
#include "ledger.h"
#include "log.h"
#include "search_cache.h"
#include "util.h"

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
	{ "crawl-interval", "AGORA_CRAWL_INTERVAL", "SECONDS", "300",
	  "seconds between catalog crawls of the participants' connectors (0: never)", NULL },
	{ "search-cache-ttl", "AGORA_SEARCH_CACHE_TTL", "SECONDS", "10",
	  "reuse a catalog search answer while the catalog is unchanged, at most this long (0: off)", NULL },
};

static int
mkdir_p(const char *dir)
{
	char *p = xstrdup(dir);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0700) != 0 && errno != EEXIST) {
			free(p);
			return -1;
		}
		*s = '/';
	}
	int rc = (mkdir(p, 0700) != 0 && errno != EEXIST) ? -1 : 0;
	free(p);
	return rc;
}

/* The admin key's hash: from --admin-key, else from DIR/admin-key.sha256,
 * else a new key whose secret is printed once on stdout (never logged). */
static bool
admin_key(const char *given, const char *dir, uint8_t hash[32])
{
	if (given && *given) {
		agora_sha256(given, strlen(given), hash);
		return true;
	}
	char *path = xasprintf("%s/admin-key.sha256", dir);
	bool ok = false;
	FILE *f = fopen(path, "r");
	if (f) {
		char hex[80] = "";
		if (fgets(hex, sizeof hex, f) && strlen(hex) >= 64) {
			for (int i = 0; i < 32; i++) {
				unsigned v;
				if (sscanf(hex + 2 * i, "%2x", &v) != 1)
					goto close;
				hash[i] = (uint8_t)v;
			}
			ok = true;
		}
close:
		fclose(f);
		if (!ok)
			agora_logf(AGORA_LOG_ERROR, "config", "%s is not a SHA-256 hex digest", path);
		free(path);
		return ok;
	}
	uint8_t secret[32];
	agora_random(secret, sizeof secret);
	char *b64 = agora_b64url_encode(secret, sizeof secret);
	char *key = xasprintf("agk_%s", b64);
	free(b64);
	agora_sha256(key, strlen(key), hash);
	char hex[65];
	agora_hex(hash, 32, hex);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd >= 0 && write(fd, hex, 64) == 64 && write(fd, "\n", 1) == 1) {
		ok = true;
		printf("agora-broker: generated admin API key (shown once, keep it): %s\n", key);
		fflush(stdout);
	} else {
		agora_logf(AGORA_LOG_ERROR, "config", "cannot write %s: %s", path, strerror(errno));
	}
	if (fd >= 0)
		close(fd);
	free(key);
	free(path);
	return ok;
}

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
	const char *lvl = OPT("log-level");
	enum agora_log_level level = !strcmp(lvl, "debug") ? AGORA_LOG_DEBUG
				     : !strcmp(lvl, "warn") ? AGORA_LOG_WARN
				     : !strcmp(lvl, "error") ? AGORA_LOG_ERROR : AGORA_LOG_INFO;
	agora_log_set_level(level);
	long threads, maxconn, timeout, crawl, cache_ttl;
	if (!agora_parse_long(OPT("crawl-interval"), 0, 86400 * 7, &crawl) ||
	    !agora_parse_long(OPT("search-cache-ttl"), 0, 3600, &cache_ttl)) {
		fprintf(stderr, "agora-broker: --crawl-interval and --search-cache-ttl take 0 or a number of seconds\n");
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
	if (mkdir_p(dir) != 0) {
		fprintf(stderr, "agora-broker: cannot create data dir %s: %s\n", dir, strerror(errno));
		return 1;
	}

	struct broker b = { 0 };
	char err[256];
	bool created = false;
	char *keypath = xasprintf("%s/broker-key.pem", dir);
	b.key = agora_key_load_or_create(keypath, &created, err, sizeof err);
	if (!b.key) {
		fprintf(stderr, "agora-broker: signing key %s: %s\n", keypath, err);
		return 1;
	}
	agora_key_thumbprint(b.key, b.kid);
	agora_log(AGORA_LOG_INFO, created ? "signing key created" : "signing key loaded",
		  json_pack("{s:s, s:s}", "path", keypath, "kid", b.kid));
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
	if (!admin_key(OPT("admin-key"), dir, cfg.admin_key_hash))
		return 1;

	if (!agora_db_migrate(OPT("db"), "broker", broker_migrations))
		return 1;
	static const struct agora_stmt *const tables[] = { agora_apikey_stmts, db_participant_stmts,
							   db_catalog_stmts, db_ledger_stmts, NULL };
	agora_db_setup(OPT("db"), tables);

	/* Block the stop signals in every thread; main waits for them. */
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (!agora_httpc_global_init())
		return 1;

	/* The public URL is the broker's identity; with port 0 it is known
	 * only once bound, so requests that race the start see it unset and
	 * authentication answers 503 until then. */
	const char *l = OPT("listen");
	const char *colon = strrchr(l, ':');
	bool port0 = colon && !strcmp(colon + 1, "0");
	char *url = OPT("public-url") ? xstrdup(OPT("public-url"))
		    : port0 ? NULL : xasprintf("http://%s", l);
	b.public_url = url;
	/* The ledger's sequencer signs tree heads with the broker key. */
	if (!ledger_start(b.key, b.kid, OPT("db")))
		return 1;
	b.server = agora_server_start(&cfg);
	if (!b.server)
		return 1;
	if (!url)
		url = xasprintf("http://%.*s:%u", (int)(colon - l), l, agora_server_port(b.server));
	size_t ul = strlen(url);
	while (ul > 0 && url[ul - 1] == '/')
		url[--ul] = '\0';
	b.public_url = url;
	agora_log(AGORA_LOG_INFO, "listening",
		  json_pack("{s:s, s:i, s:s, s:s}", "listen", OPT("listen"), "port",
			    (int)agora_server_port(b.server), "publicUrl", url, "version",
			    AGORA_VERSION));
	if (!broker_crawler_start(&b, (unsigned)crawl))
		return 1;

	int sig = 0;
	sigwait(&stop, &sig);
	agora_log(AGORA_LOG_INFO, "stopping", json_pack("{s:i}", "signal", sig));
	broker_crawler_stop();
	ledger_stop();
	agora_server_stop(b.server);
	agora_httpc_global_cleanup();
	agora_key_free(b.key);
	free(url);
	return 0;
}
