/* test_webui.c — lib/webui (the web UI's static files) and the rest-of-path
 * route pattern it relies on, through a real agora_server on a free port. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "http.h"
#include "util.h"
#include "webui.h"

static enum MHD_Result
echo_id(struct agora_req *r)
{
	return agora_reply_json(r, 200, json_pack("{s:s}", "id", agora_req_param(r, "id")));
}

static const struct agora_route routes[] = {
	{ "GET", "/api/things/{id}", echo_id, 0, 0, 0 },
	{ "GET", "/", agora_webui_index, 0, 0, 0 },
	{ "GET", "/ui/{path*}", agora_webui_file, 0, 0, 0 },
};

static char *tmp, *root;
static struct agora_server *srv;
static char base[64];

static void
put(const char *rel, const char *text)
{
	char *p = xasprintf("%s/%s", tmp, rel);
	char *slash = strrchr(p, '/');
	*slash = '\0';
	cr_assert_eq(agora_mkdir_p(p), 0);
	*slash = '/';
	FILE *f = fopen(p, "w");
	cr_assert(f);
	fputs(text, f);
	fclose(f);
	free(p);
}

static void
setup(void)
{
	tmp = harness_tmpdir();
	put("web/broker/index.html", "<!doctype html><title>Agora</title>");
	put("web/common/api.js", "export const x = 1;\n");
	put("web/common/style.css", "body{}\n");
	put("web/.hidden", "no");
	put("secret.txt", "outside the web root");
	root = xasprintf("%s/web", tmp);
	char *target = xasprintf("%s/secret.txt", tmp), *link = xasprintf("%s/common/leak.txt", root);
	cr_assert_eq(symlink(target, link), 0);
	free(target);
	free(link);
	cr_assert(agora_webui_init(root, "broker"));
	struct agora_server_config cfg = { .listen = "127.0.0.1:0", .threads = 2,
					   .routes = routes, .nroutes = ARRAY_LEN(routes) };
	srv = agora_server_start(&cfg);
	cr_assert(srv);
	snprintf(base, sizeof base, "http://127.0.0.1:%u", agora_server_port(srv));
}

static void
teardown(void)
{
	agora_server_stop(srv);
	agora_webui_cleanup();
	harness_rmtree(tmp);
	free(tmp);
	free(root);
}

TestSuite(webui, .init = setup, .fini = teardown);

static struct harness_resp *
get(const char *path, const char *header)
{
	char *url = xasprintf("%s%s", base, path);
	const char *h[] = { header, NULL };
	struct harness_resp *r = harness_http("GET", url, header ? h : NULL, NULL);
	free(url);
	cr_assert_neq(r->status, 0, "GET %s: %s", path, r->err);
	return r;
}

static void
assert_404(const char *path)
{
	struct harness_resp *r = get(path, NULL);
	cr_assert_eq(r->status, 404, "GET %s: %ld %s", path, r->status, r->body);
	cr_assert_str_eq(json_string_value(json_object_get(r->json, "error")), "not_found", "%s", path);
	cr_assert_null(strstr(r->body, "outside"), "%s leaked a file", path);
	harness_resp_free(r);
}

Test(webui, index_with_strict_csp)
{
	struct harness_resp *r = get("/", NULL);
	cr_assert_eq(r->status, 200, "%s", r->body);
	cr_assert_str_eq(r->body, "<!doctype html><title>Agora</title>");
	cr_assert_str_eq(harness_resp_header(r, "Content-Type"), "text/html; charset=utf-8");
	const char *csp = harness_resp_header(r, "Content-Security-Policy");
	cr_assert(csp && strstr(csp, "default-src 'self'"), "CSP: %s", csp ? csp : "(none)");
	cr_assert_str_eq(harness_resp_header(r, "Cache-Control"), "no-cache");
	cr_assert(harness_resp_header(r, "ETag"));
	cr_assert(harness_resp_header(r, "Last-Modified"));
	harness_resp_free(r);
	/* The query string is the page's state: same file. */
	r = get("/?q=air&theme=environment", NULL);
	cr_assert_eq(r->status, 200);
	harness_resp_free(r);
}

Test(webui, files_by_type)
{
	struct harness_resp *r = get("/ui/common/api.js", NULL);
	cr_assert_eq(r->status, 200, "%s", r->body);
	cr_assert_str_eq(r->body, "export const x = 1;\n");
	cr_assert_str_eq(harness_resp_header(r, "Content-Type"), "text/javascript; charset=utf-8");
	harness_resp_free(r);
	r = get("/ui/common/style.css", NULL);
	cr_assert_str_eq(harness_resp_header(r, "Content-Type"), "text/css; charset=utf-8");
	harness_resp_free(r);
	cr_assert_str_eq(agora_webui_content_type("a/b.svg"), "image/svg+xml");
	cr_assert_str_eq(agora_webui_content_type("a.b/noext"), "application/octet-stream");
}

Test(webui, revalidation_answers_304)
{
	struct harness_resp *r = get("/ui/common/api.js", NULL);
	char *inm = xasprintf("If-None-Match: %s", harness_resp_header(r, "ETag"));
	char *ims = xasprintf("If-Modified-Since: %s", harness_resp_header(r, "Last-Modified"));
	harness_resp_free(r);
	r = get("/ui/common/api.js", inm);
	cr_assert_eq(r->status, 304);
	cr_assert_eq(r->body_len, 0);
	harness_resp_free(r);
	r = get("/ui/common/api.js", ims);
	cr_assert_eq(r->status, 304);
	harness_resp_free(r);
	r = get("/ui/common/api.js", "If-None-Match: \"other\"");
	cr_assert_eq(r->status, 200);
	harness_resp_free(r);
	free(inm);
	free(ims);
}

Test(webui, traversal_and_hidden_files_refused)
{
	assert_404("/ui/%2e%2e/secret.txt");
	assert_404("/ui/common/%2e%2e/%2e%2e/secret.txt");
	assert_404("/ui/common/..%2fsecret.txt");
	assert_404("/ui/.hidden");
	assert_404("/ui/common//api.js");
	assert_404("/ui/common/leak.txt");	/* a symlink out of the root */
	assert_404("/ui/common/missing.js");
	assert_404("/ui/common");		/* a directory */
	assert_404("/ui/");
}

Test(webui, rest_of_path_pattern)
{
	/* {name*} takes one or more segments; ordinary {id} still one. */
	struct harness_resp *r = get("/api/things/a", NULL);
	cr_assert_eq(r->status, 200);
	harness_resp_free(r);
	assert_404("/api/things/a/b");
	r = get("/ui/broker/index.html", NULL);
	cr_assert_eq(r->status, 200);
	harness_resp_free(r);
	/* OpenAPI shows it as {path}, one parameter, flagged. */
	char *doc = agora_server_openapi(srv, "t");
	json_t *j = json_loads(doc, 0, NULL);
	free(doc);
	json_t *op = json_object_get(json_object_get(json_object_get(j, "paths"), "/ui/{path}"), "get");
	cr_assert(op, "/ui/{path} is in the OpenAPI document");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(op, "parameters"), 0), "name")), "path");
	cr_assert(json_is_true(json_object_get(op, "x-agora-rest-of-path")));
	cr_assert(json_object_get(json_object_get(j, "paths"), "/"));
	json_decref(j);
}

Test(webui, missing_root_says_so)
{
	agora_webui_cleanup();
	cr_assert_not(agora_webui_init("/nonexistent/agora-web", "broker"));
	struct harness_resp *r = get("/", NULL);
	cr_assert_eq(r->status, 404);
	cr_assert(strstr(r->body, "--web-root"), "%s", r->body);
	harness_resp_free(r);
}
