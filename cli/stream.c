/* stream.c (cli) — request and response bodies that go straight between a
 * file and the connection, never whole in memory.  lib/httpc holds bodies
 * in memory (right for JSON), so these use libcurl directly; they stay in
 * cli/ because only the command line needs them. */
#include "cli.h"

#include <curl/curl.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_ANSWER ((size_t)1 << 20)	/* JSON answers and error bodies */
#define CONNECT_TIMEOUT_MS 5000L
/* A stalled connection: less than 1 byte/s for a minute. */
#define STALL_SECONDS 60L

static void
hex_digest(EVP_MD_CTX *md, char out[static 65])
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned len = 0;
	EVP_DigestFinal_ex(md, d, &len);
	agora_hex(d, len, out);
}

/* Common libcurl settings: URL, key, timeouts, no redirects. */
static CURL *
easy_for(const struct cli_conn *c, const char *path, struct curl_slist **hdrs, char **auth,
	 char *errbuf)
{
	CURL *h = curl_easy_init();
	if (!h)
		abort();
	char *url = xasprintf("%s%s", c->base, path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	free(url);	/* libcurl keeps its own copy */
	*auth = xasprintf("Authorization: Bearer %s", c->key);
	*hdrs = curl_slist_append(*hdrs, *auth);
	/* Uploads ask for 100-continue (set by the caller), so that a refusal
	 * such as 413 arrives before the body instead of a broken pipe. */
	bool expect = false;
	for (const struct curl_slist *l = *hdrs; l; l = l->next)
		expect = expect || !strncmp(l->data, "Expect:", 7);
	if (!expect)
		*hdrs = curl_slist_append(*hdrs, "Expect:");
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, *hdrs);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, STALL_SECONDS);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "agora-cli/" AGORA_VERSION);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	return h;
}

static void
easy_done(CURL *h, struct curl_slist *hdrs, char *auth)
{
	curl_easy_cleanup(h);
	curl_slist_free_all(hdrs);
	memset(auth, 0, strlen(auth));
	free(auth);
}

static int
transport_error(const struct cli_conn *c, CURLcode rc, const char *errbuf)
{
	fprintf(stderr, "agora: cannot reach the connector at %s: %s\n", c->base,
		errbuf[0] ? errbuf : curl_easy_strerror(rc));
	return CLI_EXIT_UNREACHABLE;
}

/* ---- upload -------------------------------------------------------------- */

struct up {
	FILE *f;
	EVP_MD_CTX *md;
	uint64_t sent, size;
	bool read_error;
	struct agora_buf answer;
	struct cli_progress bar;
};

static size_t
up_read(char *buf, size_t size, size_t nmemb, void *ud)
{
	struct up *u = ud;
	size_t n = fread(buf, 1, size * nmemb, u->f);
	if (n == 0 && ferror(u->f)) {
		u->read_error = true;
		return CURL_READFUNC_ABORT;
	}
	EVP_DigestUpdate(u->md, buf, n);
	u->sent += n;
	return n;
}

static size_t
up_answer(char *p, size_t size, size_t nmemb, void *ud)
{
	struct up *u = ud;
	size_t n = size * nmemb;
	if (u->answer.len + n > MAX_ANSWER)
		return 0;
	agora_buf_append(&u->answer, p, n);
	return n;
}

static int
up_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	struct up *u = ud;
	cli_progress_update(&u->bar, (uint64_t)ulnow, u->size, NULL);
	return 0;
}

int
cli_upload(const struct cli_conn *c, const char *method, const char *path, const char *ctype,
	   const char *file, const char *label, char sha256[static 65], uint64_t *size,
	   json_t **out)
{
	*out = NULL;
	*size = 0;
	sha256[0] = '\0';
	struct up u = { 0 };
	u.f = fopen(file, "rb");
	struct stat st;
	if (!u.f || fstat(fileno(u.f), &st) != 0 || !S_ISREG(st.st_mode)) {
		fprintf(stderr, "agora: %s: %s\n", file, u.f ? "not a regular file" : strerror(errno));
		if (u.f)
			fclose(u.f);
		return CLI_EXIT_USAGE;
	}
	u.size = (uint64_t)st.st_size;
	u.md = EVP_MD_CTX_new();
	if (!u.md)
		abort();
	EVP_DigestInit_ex(u.md, EVP_sha256(), NULL);
	agora_buf_init(&u.answer);
	cli_progress_init(&u.bar, label);

	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdrs = NULL;
	char *auth;
	char *ct = xasprintf("Content-Type: %s", ctype);
	hdrs = curl_slist_append(hdrs, ct);
	free(ct);
	hdrs = curl_slist_append(hdrs, "Accept: application/json");
	hdrs = curl_slist_append(hdrs, "Expect: 100-continue");
	CURL *h = easy_for(c, path, &hdrs, &auth, errbuf);
	if (!strcmp(method, "POST")) {
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)u.size);
	} else {
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)u.size);
		if (strcmp(method, "PUT") != 0)
			curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	}
	curl_easy_setopt(h, CURLOPT_READFUNCTION, up_read);
	curl_easy_setopt(h, CURLOPT_READDATA, &u);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, up_answer);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &u);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, up_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, &u);

	CURLcode rc = curl_easy_perform(h);
	long status = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	cli_progress_end(&u.bar, u.sent, u.size);
	int ret;
	if (u.read_error) {
		fprintf(stderr, "agora: %s: read error\n", file);
		ret = CLI_EXIT_USAGE;
	} else if (rc != CURLE_OK && status == 0) {
		ret = transport_error(c, rc, errbuf);
	} else if (status < 200 || status > 299) {
		/* The server may answer (e.g. 413) before it took the whole body. */
		ret = cli_report_http_error(status, u.answer.data, u.answer.len);
	} else if (rc != CURLE_OK) {
		ret = transport_error(c, rc, errbuf);
	} else if (!(*out = json_loadb(u.answer.data ? u.answer.data : "", u.answer.len, 0, NULL))) {
		fprintf(stderr, "agora: %s %s: the connector's answer is not JSON\n", method, path);
		ret = CLI_EXIT_UNREACHABLE;
	} else {
		hex_digest(u.md, sha256);
		*size = u.sent;
		ret = CLI_EXIT_OK;
	}
	easy_done(h, hdrs, auth);
	agora_buf_cleanup(&u.answer);
	EVP_MD_CTX_free(u.md);
	fclose(u.f);
	return ret;
}

/* ---- download ------------------------------------------------------------ */

struct down {
	CURL *h;
	FILE *f;
	EVP_MD_CTX *md;
	uint64_t offset;	/* bytes already in the .part when we asked */
	uint64_t got, total;
	long status;		/* 0 until the first body bytes */
	bool write_error;
	struct agora_buf err;	/* the body of an error answer */
	struct cli_progress bar;
};

static size_t
down_write(char *p, size_t size, size_t nmemb, void *ud)
{
	struct down *d = ud;
	size_t n = size * nmemb;
	if (d->status == 0) {
		curl_easy_getinfo(d->h, CURLINFO_RESPONSE_CODE, &d->status);
		if (d->status == 200 && d->offset > 0) {
			/* The server sent everything: start the file again. */
			if (fflush(d->f) != 0 || ftruncate(fileno(d->f), 0) != 0 ||
			    fseek(d->f, 0, SEEK_SET) != 0) {
				d->write_error = true;
				return 0;
			}
			EVP_DigestInit_ex(d->md, EVP_sha256(), NULL);
			d->offset = 0;
		}
	}
	if (d->status != 200 && d->status != 206) {
		if (d->err.len + n > MAX_ANSWER)
			return 0;
		agora_buf_append(&d->err, p, n);
		return n;
	}
	if (fwrite(p, 1, n, d->f) != n) {
		d->write_error = true;
		return 0;
	}
	EVP_DigestUpdate(d->md, p, n);
	d->got += n;
	cli_progress_update(&d->bar, d->offset + d->got, d->total, NULL);
	return n;
}

/* Hash what a .part already holds; false on a read error. */
static bool
hash_file(FILE *f, EVP_MD_CTX *md, uint64_t *len)
{
	char buf[65536];
	size_t n;
	*len = 0;
	rewind(f);
	while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
		EVP_DigestUpdate(md, buf, n);
		*len += n;
	}
	return !ferror(f);
}

int
cli_download(const struct cli_conn *c, const char *path, const char *file,
	     const char *want_sha256, uint64_t total, char sha256[static 65], uint64_t *size)
{
	sha256[0] = '\0';
	*size = 0;
	char *part = xasprintf("%s.part", file);
	struct down d = { .total = total };
	int ret = CLI_EXIT_OK;
	d.md = EVP_MD_CTX_new();
	if (!d.md)
		abort();
	EVP_DigestInit_ex(d.md, EVP_sha256(), NULL);
	agora_buf_init(&d.err);
	d.f = fopen(part, "a+b");
	if (!d.f) {
		fprintf(stderr, "agora: %s: %s\n", part, strerror(errno));
		ret = CLI_EXIT_USAGE;
		goto out;
	}
	if (!hash_file(d.f, d.md, &d.offset)) {
		fprintf(stderr, "agora: %s: read error\n", part);
		ret = CLI_EXIT_USAGE;
		goto out;
	}
	/* "a+" appends whatever the position; truncation resets it. */
	cli_progress_init(&d.bar, "download");

	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdrs = NULL;
	char *auth;
	if (d.offset > 0) {
		char *range = xasprintf("Range: bytes=%llu-", (unsigned long long)d.offset);
		hdrs = curl_slist_append(hdrs, range);
		free(range);
	}
	d.h = easy_for(c, path, &hdrs, &auth, errbuf);
	curl_easy_setopt(d.h, CURLOPT_WRITEFUNCTION, down_write);
	curl_easy_setopt(d.h, CURLOPT_WRITEDATA, &d);
	CURLcode rc = curl_easy_perform(d.h);
	long status = 0;
	curl_easy_getinfo(d.h, CURLINFO_RESPONSE_CODE, &status);
	easy_done(d.h, hdrs, auth);
	cli_progress_end(&d.bar, d.offset + d.got, d.total);
	if (d.write_error) {
		fprintf(stderr, "agora: %s: %s\n", part, strerror(errno));
		ret = CLI_EXIT_USAGE;
		goto out;
	}
	if (status == 416 && d.offset > 0) {
		/* The .part is not a prefix of this content (or is all of it and
		 * more): start again from nothing. */
		fclose(d.f);
		d.f = NULL;
		unlink(part);
		EVP_MD_CTX_free(d.md);
		d.md = NULL;
		agora_buf_cleanup(&d.err);
		free(part);
		return cli_download(c, path, file, want_sha256, total, sha256, size);
	}
	if (rc != CURLE_OK && status == 0) {
		ret = transport_error(c, rc, errbuf);
		goto out;
	}
	if (status != 200 && status != 206) {
		ret = cli_report_http_error(status, d.err.data, d.err.len);
		goto out;
	}
	if (rc != CURLE_OK) {
		/* The .part stays: the next run resumes it. */
		ret = transport_error(c, rc, errbuf);
		goto out;
	}
	if (fflush(d.f) != 0 || fsync(fileno(d.f)) != 0) {
		fprintf(stderr, "agora: %s: %s\n", part, strerror(errno));
		ret = CLI_EXIT_USAGE;
		goto out;
	}
	hex_digest(d.md, sha256);
	*size = d.offset + d.got;
	if (want_sha256 && strcmp(want_sha256, sha256) != 0) {
		fprintf(stderr, "agora: %s: SHA-256 mismatch: received %s, the transfer says %s\n",
			file, sha256, want_sha256);
		unlink(part);
		ret = CLI_EXIT_FAILED;
		goto out;
	}
	if (rename(part, file) != 0) {
		fprintf(stderr, "agora: rename %s to %s: %s\n", part, file, strerror(errno));
		ret = CLI_EXIT_USAGE;
	}
out:
	if (d.f)
		fclose(d.f);
	EVP_MD_CTX_free(d.md);
	agora_buf_cleanup(&d.err);
	free(part);
	return ret;
}
