/* catalog_gen.c — catalog benchmark client.
 *
 *   catalog_gen push URL ADMIN_KEY FIRST COUNT DATASETS SEED
 *       register participants bench-FIRST … bench-(FIRST+COUNT-1) (if new)
 *       and push DATASETS synthetic datasets for each through
 *       PUT /api/v1/catalogs/{id}; prints one line per push with its time.
 *   catalog_gen query URL N
 *       N sequential text+facet searches (anonymous), prints median and
 *       p95 latency in ms.
 *
 * Datasets are deterministic in SEED: titles, keywords and themes from small
 * vocabularies (so text queries and facets have realistic selectivity), a
 * bbox in Europe, a temporal range, one public offer, and for one dataset
 * in five a second offer behind an access policy on agora:country.
 */
#include "crypto.h"
#include "httpc.h"
#include "jose.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const topics[] = {
	"air quality", "traffic", "parking", "noise", "water level", "energy use", "bike sharing",
	"bus positions", "weather", "waste collection", "street lighting", "footfall",
	"charging stations", "soil moisture", "river temperature", "pollen", "heat islands",
	"tram delays", "building occupancy", "solar output",
};
static const char *const places[] = {
	"Lyon", "Paris", "Berlin", "Munich", "Madrid", "Lisbon", "Milan", "Vienna", "Ghent",
	"Utrecht", "Aarhus", "Tallinn", "Porto", "Turin", "Lille", "Bremen",
};
static const char *const grains[] = { "hourly", "daily", "real-time", "monthly", "15-minute" };
static const char *const words[] = {
	"sensor", "station", "district", "network", "open", "municipal", "hourly", "forecast",
	"measurement", "counts", "index", "emissions", "no2", "pm10", "pm2.5", "co2", "humidity",
	"occupancy", "mobility", "transport", "grid", "load", "temperature", "rain", "wind",
	"flood", "zone", "lane", "junction", "meter",
};
static const char *const themes[] = {
	"environment", "mobility", "energy", "health", "economy", "government", "science",
	"transport", "agriculture", "tourism", "education", "housing",
};
static const char *const licenses[] = {
	"https://creativecommons.org/licenses/by/4.0/",
	"https://creativecommons.org/publicdomain/zero/1.0/",
	"https://opendatacommons.org/licenses/odbl/1-0/",
	"https://www.etalab.gouv.fr/licence-ouverte-open-licence",
};
static const char *const media[] = { "text/csv", "application/json", "application/geo+json",
				     "application/x-ndjson" };
static const char *const countries[] = { "FR", "DE", "ES", "IT", "NL", "BE", "AT", "PT" };
static const char *const industries[] = { "public-sector", "mobility", "energy", "research" };

#define N(a) (sizeof(a) / sizeof((a)[0]))

static unsigned long long rng;
static unsigned
rnd(unsigned n)
{
	rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
	return (unsigned)((rng >> 33) % n);
}

static char *
iso(long long t)
{
	char buf[32];
	agora_time_rfc3339(t, buf);
	return xstrdup(buf);
}

static json_t *
gen_dataset(const char *pid, unsigned p, unsigned i, bool *restricted)
{
	char id[128], title[256], oid[160];
	snprintf(id, sizeof id, "urn:bench:%u:%u", p, i);
	const char *topic = topics[rnd(N(topics))];
	snprintf(title, sizeof title, "%s %s, %s", grains[rnd(N(grains))], topic,
		 places[rnd(N(places))]);
	title[0] = (char)(title[0] - 32 * (title[0] >= 'a' && title[0] <= 'z'));
	struct agora_buf d;
	agora_buf_init(&d);
	for (int k = 0; k < 12; k++)
		agora_buf_printf(&d, "%s%s", k ? " " : "", words[rnd(N(words))]);
	agora_buf_append(&d, "", 0);
	json_t *kw = json_pack("[s]", topic);
	for (int k = 0; k < 2; k++)
		json_array_append_new(kw, json_string(words[rnd(N(words))]));
	json_t *th = json_pack("[s]", themes[rnd(N(themes))]);
	if (rnd(2))
		json_array_append_new(th, json_string(themes[rnd(N(themes))]));
	double lon = -9 + rnd(3000) / 100.0, lat = 36 + rnd(2000) / 100.0;
	long long start = 1577836800LL + rnd(6 * 365) * 86400LL;
	char *ts = iso(start), *mod = iso(start + rnd(400) * 86400LL);
	const char *mt = media[rnd(N(media))];
	snprintf(oid, sizeof oid, "%s:offer", id);
	json_t *offers = json_pack("[{s:s, s:s, s:[{s:s}]}]", "@id", oid, "@type", "Offer",
				   "permission", "action", "use");
	*restricted = rnd(5) == 0;
	if (*restricted) {
		snprintf(oid, sizeof oid, "%s:members", id);
		json_array_append_new(offers, json_pack("{s:s, s:s, s:[{s:s}]}", "@id", oid, "@type",
							"Offer", "permission", "action", "use"));
	}
	char *svc = xasprintf("%s#dsp", pid);
	json_t *ds = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:s, s:s, s:s,"
			       " s:{s:[f,f,f,f]}, s:{s:s, s:n}, s:s, s:s, s:{s:i, s:f},"
			       " s:o, s:[{s:s, s:s, s:s, s:i, s:s}]}",
			       "@id", id, "@type", "Dataset", "title", title, "description", d.data,
			       "keyword", kw, "theme", th, "license", licenses[rnd(N(licenses))],
			       "issued", ts, "modified", mod, "spatial", "bbox", lon, lat, lon + 0.2,
			       lat + 0.1, "temporal", "start", ts, "end", "accrualPeriodicity",
			       "PT1H", "mediaType", mt, "quality", "recordCount", (int)rnd(100000),
			       "completeness", rnd(100) / 100.0, "hasPolicy", offers, "distribution",
			       "@type", "Distribution", "format", "HttpData-PULL", "mediaType", mt,
			       "byteSize", (int)rnd(1 << 24), "accessService", svc);
	free(svc);
	free(ts);
	free(mod);
	agora_buf_cleanup(&d);
	return ds;
}

static bool
call(const char *method, const char *url, const char *auth, const char *body, long *status,
     char **out)
{
	char *h = xasprintf("Authorization: Bearer %s", auth);
	const char *headers[] = { h, "Content-Type: application/json", NULL };
	struct agora_httpc_req req = { .method = method, .url = url, .headers = headers,
				       .body = body, .body_len = body ? strlen(body) : 0,
				       .timeout_ms = 600000, .max_response = 64u << 20 };
	struct agora_httpc_resp resp;
	bool ok = agora_httpc_request(&req, &resp);
	*status = resp.status;
	if (out)
		*out = ok ? xstrdup(resp.body) : xstrdup(resp.err);
	agora_httpc_resp_cleanup(&resp);
	free(h);
	return ok;
}

static int
push(const char *base, const char *admin, unsigned first, unsigned count, unsigned nds,
     unsigned seed)
{
	for (unsigned p = first; p < first + count; p++) {
		char pid[64];
		snprintf(pid, sizeof pid, "urn:agora:participant:bench-%03u", p);
		/* The key is derived from nothing: a fresh one each run, so the
		 * participant's key set is replaced (PATCH) when it exists. */
		struct agora_key *k = agora_key_generate();
		char kid[44];
		agora_key_thumbprint(k, kid);
		json_t *reg = json_pack("{s:s, s:s, s:s, s:{s:[o]}, s:{s:s, s:s}}", "id", pid, "name",
					pid + 22, "endpoint", "http://127.0.0.1:9", "jwks", "keys",
					agora_jwk_from_key(k), "attributes", "country",
					countries[p % N(countries)], "industry",
					industries[p % N(industries)]);
		char *rb = json_dumps(reg, JSON_COMPACT);
		char *url = xasprintf("%s/api/v1/participants", base);
		long st;
		char *out;
		call("POST", url, admin, rb, &st, &out);
		free(out);
		if (st == 409) {
			json_t *patch = json_pack("{s:O}", "jwks", json_object_get(reg, "jwks"));
			char *pb = json_dumps(patch, JSON_COMPACT);
			char *purl = xasprintf("%s/%s", url, pid);
			call("PATCH", purl, admin, pb, &st, &out);
			free(out);
			free(pb);
			free(purl);
			json_decref(patch);
		}
		free(url);
		free(rb);
		json_decref(reg);
		if (st != 200 && st != 201) {
			fprintf(stderr, "register %s: HTTP %ld\n", pid, st);
			return 1;
		}
		rng = seed * 1000003ULL + p;
		json_t *ds = json_array(), *access = json_object();
		for (unsigned i = 0; i < nds; i++) {
			bool restricted;
			json_t *d = gen_dataset(pid, p, i, &restricted);
			if (restricted) {
				const char *oid = json_string_value(json_object_get(
					json_array_get(json_object_get(d, "hasPolicy"), 1), "@id"));
				json_object_set_new(access, oid,
						    json_pack("{s:s, s:[{s:s, s:[{s:s, s:s, s:s}]}]}",
							      "@type", "Set", "permission", "action", "use",
							      "constraint", "leftOperand", "agora:country",
							      "operator", "eq", "rightOperand",
							      countries[rnd(N(countries))]));
			}
			json_array_append_new(ds, d);
		}
		char *svc = xasprintf("%s#dsp", pid);
		json_t *body = json_pack("{s:{s:[s], s:s, s:s, s:s, s:[{s:s, s:s, s:s}], s:o}, s:o}",
					 "catalog", "@context",
					 "https://w3id.org/dspace/2025/1/context.jsonld", "@id", svc,
					 "@type", "Catalog", "participantId", pid, "service", "@id", svc,
					 "@type", "DataService", "endpointURL", "http://127.0.0.1:9/dsp",
					 "dataset", ds, "accessPolicies", access);
		free(svc);
		char *b = json_dumps(body, JSON_COMPACT);
		json_decref(body);
		char *purl = xasprintf("%s/api/v1/catalogs/%s", base, pid);
		uint8_t h[32];
		agora_sha256(b, strlen(b), h);
		char *bh = agora_b64url_encode(h, 32);
		char jti[46];
		agora_urn_uuid(jti);
		long long now = agora_now();
		json_t *claims = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:s, s:s}", "iss", pid,
					   "sub", pid, "aud", base, "iat", now, "exp", now + 290,
					   "jti", jti, "htm", "PUT", "htu", purl, "bh", bh);
		char *tok = agora_jwt_sign(k, kid, "JWT", claims);
		uint64_t t0 = agora_mono_ns();
		bool ok = call("PUT", purl, tok, b, &st, &out);
		double ms = (double)(agora_mono_ns() - t0) / 1e6;
		printf("push %s datasets=%u bytes=%zu status=%ld ms=%.1f\n", pid, nds, strlen(b), st, ms);
		fflush(stdout);
		if (!ok || st != 200) {
			fprintf(stderr, "push %s: %s\n", pid, out);
			return 1;
		}
		free(out);
		free(tok);
		free(bh);
		free(purl);
		free(b);
		json_decref(claims);
		agora_key_free(k);
	}
	return 0;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int
query(const char *base, unsigned n)
{
	double *lat = xcalloc(n, sizeof *lat);
	for (unsigned i = 0; i < n; i++) {
		const char *t = topics[i % N(topics)];
		char q[64];
		snprintf(q, sizeof q, "%s", t);
		for (char *s = q; *s; s++)
			if (*s == ' ')
				*s = '+';
		char *url = xasprintf("%s/api/v1/catalog/datasets?q=%s&theme=%s", base, q,
				      themes[i % N(themes)]);
		struct agora_httpc_req req = { .url = url };
		struct agora_httpc_resp resp;
		uint64_t t0 = agora_mono_ns();
		bool ok = agora_httpc_request(&req, &resp);
		lat[i] = (double)(agora_mono_ns() - t0) / 1e6;
		if (!ok || resp.status != 200) {
			fprintf(stderr, "query %s: %ld %s\n", url, resp.status, resp.err);
			return 1;
		}
		agora_httpc_resp_cleanup(&resp);
		free(url);
	}
	qsort(lat, n, sizeof *lat, cmp_double);
	printf("queries=%u median_ms=%.2f p95_ms=%.2f max_ms=%.2f\n", n, lat[n / 2],
	       lat[(size_t)(n * 0.95)], lat[n - 1]);
	free(lat);
	return 0;
}

int
main(int argc, char **argv)
{
	if (!agora_httpc_global_init())
		return 1;
	int rc = 2;
	if (argc == 8 && !strcmp(argv[1], "push"))
		rc = push(argv[2], argv[3], (unsigned)atoi(argv[4]), (unsigned)atoi(argv[5]),
			  (unsigned)atoi(argv[6]), (unsigned)atoi(argv[7]));
	else if (argc == 4 && !strcmp(argv[1], "query"))
		rc = query(argv[2], (unsigned)atoi(argv[3]));
	else
		fprintf(stderr, "usage: catalog_gen push URL ADMIN_KEY FIRST COUNT DATASETS SEED\n"
				"       catalog_gen query URL N\n");
	agora_httpc_global_cleanup();
	return rc;
}
