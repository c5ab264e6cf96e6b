/* webui.c — see webui.h. */
#include "webui.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef AGORA_SHARE_DIR
#define AGORA_SHARE_DIR "/usr/local/share/agora"
#endif

/* Set once at start-up, read by every worker thread afterwards. */
static char *web_root;	/* realpath of the root, or NULL */
static char *web_app;	/* "broker" | "connector" */

static bool
has_index(const char *root, const char *app)
{
	char *p = xasprintf("%s/%s/index.html", root, app);
	struct stat st;
	bool ok = stat(p, &st) == 0 && S_ISREG(st.st_mode);
	free(p);
	return ok;
}

char *
agora_webui_default_root(void)
{
	if (has_index("web", "broker"))
		return xstrdup("web");
	/* build/bin/agora-broker run from elsewhere: the source tree's web/. */
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n > 0) {
		exe[n] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			char *cand = xasprintf("%s/../../web", exe);
			if (has_index(cand, "broker"))
				return cand;
			free(cand);
		}
	}
	return xstrdup(AGORA_SHARE_DIR "/web");
}

bool
agora_webui_init(const char *root, const char *app)
{
	agora_webui_cleanup();
	web_app = xstrdup(app);
	char *real = realpath(root, NULL);
	if (!real || !has_index(real, app)) {
		agora_log(AGORA_LOG_WARN, "web ui not found",
			  json_pack("{s:s, s:s}", "webRoot", root, "missing",
				    real ? "index.html" : strerror(errno)));
		free(real);
		return false;
	}
	web_root = real;
	agora_log(AGORA_LOG_INFO, "web ui", json_pack("{s:s, s:s}", "webRoot", web_root, "app", app));
	return true;
}

void
agora_webui_cleanup(void)
{
	free(web_root);
	free(web_app);
	web_root = NULL;
	web_app = NULL;
}

const char *
agora_webui_content_type(const char *name)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
		{ ".html", "text/html; charset=utf-8" },
		{ ".css", "text/css; charset=utf-8" },
		{ ".js", "text/javascript; charset=utf-8" },
		{ ".mjs", "text/javascript; charset=utf-8" },
		{ ".json", "application/json" },
		{ ".svg", "image/svg+xml" },
		{ ".png", "image/png" },
		{ ".ico", "image/x-icon" },
		{ ".txt", "text/plain; charset=utf-8" },
		{ ".woff2", "font/woff2" },
		{ ".csv", "text/csv; charset=utf-8" },
	};
	const char *dot = strrchr(name, '.');
	const char *slash = strrchr(name, '/');
	if (dot && (!slash || dot > slash))
		for (size_t i = 0; i < ARRAY_LEN(types); i++)
			if (!strcmp(dot, types[i].ext))
				return types[i].type;
	return "application/octet-stream";
}

/* A relative path of plain segments: no empty, ".", ".." or dot-file
 * segment, no backslash (the path arrives percent-decoded). */
static bool
safe_relpath(const char *rel)
{
	if (!*rel || strlen(rel) > 512 || strchr(rel, '\\'))
		return false;
	for (const char *s = rel; s;) {
		const char *e = strchr(s, '/');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		if (n == 0 || s[0] == '.')
			return false;
		s = e ? e + 1 : NULL;
	}
	return true;
}

static enum MHD_Result
not_found(struct agora_req *r)
{
	if (!web_root)
		return agora_reply_error(r, AGORA_E_NOT_FOUND,
					 "the web UI is not installed here (see --web-root)");
	return agora_reply_error(r, AGORA_E_NOT_FOUND, "no resource at this path");
}

/* Serve WEB_ROOT/rel. */
static enum MHD_Result
serve(struct agora_req *r, const char *rel)
{
	if (!web_root || !safe_relpath(rel))
		return not_found(r);
	char *path = xasprintf("%s/%s", web_root, rel);
	/* Symlinks inside the tree may point anywhere: resolve and compare. */
	char *real = realpath(path, NULL);
	free(path);
	size_t rl = strlen(web_root);
	if (!real || strncmp(real, web_root, rl) != 0 || real[rl] != '/') {
		free(real);
		return not_found(r);
	}
	int fd = open(real, O_RDONLY | O_CLOEXEC);
	free(real);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		return not_found(r);
	}
	char etag[64], lastmod[64];
	snprintf(etag, sizeof etag, "\"%llx-%llx\"", (unsigned long long)st.st_size,
		 (unsigned long long)st.st_mtim.tv_sec * 1000000000ull +
			 (unsigned long long)st.st_mtim.tv_nsec);
	struct tm tm;
	gmtime_r(&st.st_mtim.tv_sec, &tm);
	strftime(lastmod, sizeof lastmod, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	const char *ctype = agora_webui_content_type(rel);
	agora_reply_header(r, "Content-Security-Policy", AGORA_WEBUI_CSP);
	agora_reply_header(r, "Referrer-Policy", "no-referrer");
	agora_reply_header(r, "Cache-Control", "no-cache");
	agora_reply_header(r, "ETag", etag);
	agora_reply_header(r, "Last-Modified", lastmod);
	const char *inm = agora_req_header(r, "If-None-Match");
	const char *ims = agora_req_header(r, "If-Modified-Since");
	if ((inm && (strstr(inm, etag) || !strcmp(inm, "*"))) || (!inm && ims && !strcmp(ims, lastmod))) {
		close(fd);
		return agora_reply_text(r, 304, ctype, "");
	}
	return agora_reply_fd(r, ctype, fd, (uint64_t)st.st_size, false);
}

enum MHD_Result
agora_webui_index(struct agora_req *r)
{
	if (!web_app)
		return not_found(r);
	char *rel = xasprintf("%s/index.html", web_app);
	enum MHD_Result ret = serve(r, rel);
	free(rel);
	return ret;
}

enum MHD_Result
agora_webui_file(struct agora_req *r)
{
	const char *rel = agora_req_param(r, "path");
	return serve(r, rel ? rel : "");
}
