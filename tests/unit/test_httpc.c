/* test_httpc.c — lib/httpc against a tiny in-test HTTP/1.1 server.
 *
 * The server is a raw socket on 127.0.0.1:0 with a thread per connection
 * that answers canned responses by path, keeping connections alive unless
 * told otherwise, so connection reuse is observable.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strcasestr */
#endif
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "httpc.h"
#include "util.h"

static int srv_fd = -1;
static int srv_port;
static pthread_t srv_thread;
static atomic_int srv_conns;
static atomic_int srv_vanished;	/* requests to /vanish read, never answered */

static void
send_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n > 0) {
		ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
		if (w <= 0)
			return;
		c += w;
		n -= (size_t)w;
	}
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static void
reply(int fd, const char *status, const char *extra, const char *body, size_t len)
{
	char *head = xasprintf("HTTP/1.1 %s\r\nContent-Length: %zu\r\n%s\r\n", status, len,
			       extra ? extra : "");
	send_all(fd, head, strlen(head));
	send_all(fd, body, len);
	free(head);
}

/* Reads one request into buf (head + body); false on EOF or error. */
static bool
read_request(int fd, struct agora_buf *buf, size_t *head_len)
{
	char tmp[4096];
	char *end = NULL;
	while (!(buf->data && (end = strstr(buf->data, "\r\n\r\n")))) {
		ssize_t r = recv(fd, tmp, sizeof tmp, 0);
		if (r <= 0)
			return false;
		agora_buf_append(buf, tmp, (size_t)r);
	}
	*head_len = (size_t)(end - buf->data) + 4;
	size_t body_len = 0;
	for (char *line = strstr(buf->data, "\r\n"); line && line < end;
	     line = strstr(line + 2, "\r\n"))
		if (strncasecmp(line + 2, "Content-Length:", 15) == 0)
			body_len = strtoul(line + 17, NULL, 10);
	while (buf->len < *head_len + body_len) {
		ssize_t r = recv(fd, tmp, sizeof tmp, 0);
		if (r <= 0)
			return false;
		agora_buf_append(buf, tmp, (size_t)r);
	}
	return true;
}

static void *
serve_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	struct agora_buf req;
	agora_buf_init(&req);
	size_t head_len;
	bool keep = true;
	while (keep && read_request(fd, &req, &head_len)) {
		char path[256] = "";
		sscanf(req.data, "%*s %255s", path);
		if (strcmp(path, "/hello") == 0) {
			const char *b = "{\"hello\":\"world\"}";
			reply(fd, "200 OK",
			      "Content-Type: application/json\r\nX-Multi: one\r\nX-Multi: two\r\n"
			      "x-lower:   padded value  \r\n",
			      b, strlen(b));
		} else if (strcmp(path, "/echo") == 0) {
			reply(fd, "200 OK", "Content-Type: text/plain\r\n", req.data, req.len);
		} else if (strcmp(path, "/teapot") == 0) {
			reply(fd, "418 I'm a teapot", NULL, "teapot", 6);
		} else if (strcmp(path, "/redirect") == 0) {
			reply(fd, "302 Found", "Location: /hello\r\n", "", 0);
		} else if (strcmp(path, "/big") == 0) {
			char *b = xmalloc(5000);
			memset(b, 'a', 5000);
			reply(fd, "200 OK", NULL, b, 5000);
			free(b);
		} else if (strcmp(path, "/stream") == 0) {
			/* No Content-Length: only the body callback can stop it. */
			const char *h = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n";
			send_all(fd, h, strlen(h));
			char b[2000];
			memset(b, 'b', sizeof b);
			send_all(fd, b, sizeof b);
			sleep_ms(3000);
			send_all(fd, b, sizeof b);
			keep = false;
		} else if (strcmp(path, "/slow") == 0) {
			sleep_ms(3000);
			reply(fd, "200 OK", NULL, "late", 4);
		} else if (strcmp(path, "/vanish") == 0) {
			/* Processed, but the answer is lost: the connection closes. */
			atomic_fetch_add(&srv_vanished, 1);
			keep = false;
		} else if (strcmp(path, "/cut-headers") == 0) {
			/* The connection drops in the middle of the headers. */
			const char *h = "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nConte";
			send_all(fd, h, strlen(h));
			keep = false;
		} else if (strcmp(path, "/continue") == 0) {
			const char *h = "HTTP/1.1 100 Continue\r\nX-Interim: yes\r\n\r\n";
			send_all(fd, h, strlen(h));
			reply(fd, "201 Created", "X-Final: yes\r\n", "done", 4);
		} else {
			reply(fd, "404 Not Found", NULL, "", 0);
		}
		/* Drop the request just handled. */
		agora_buf_cleanup(&req);
	}
	agora_buf_cleanup(&req);
	close(fd);
	return NULL;
}

static void *
serve(void *arg)
{
	(void)arg;
	for (;;) {
		int fd = accept(srv_fd, NULL, NULL);
		if (fd < 0)
			return NULL;
		atomic_fetch_add(&srv_conns, 1);
		pthread_t t;
		pthread_create(&t, NULL, serve_conn, (void *)(intptr_t)fd);
		pthread_detach(t);
	}
}

static void
setup(void)
{
	cr_assert(agora_httpc_global_init());
	srv_fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert(srv_fd >= 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	cr_assert(bind(srv_fd, (struct sockaddr *)&a, sizeof a) == 0);
	cr_assert(listen(srv_fd, 64) == 0);
	socklen_t len = sizeof a;
	getsockname(srv_fd, (struct sockaddr *)&a, &len);
	srv_port = ntohs(a.sin_port);
	atomic_store(&srv_conns, 0);
	atomic_store(&srv_vanished, 0);
	pthread_create(&srv_thread, NULL, serve, NULL);
}

static void
teardown(void)
{
	shutdown(srv_fd, SHUT_RDWR); /* wakes accept() */
	pthread_join(srv_thread, NULL);
	close(srv_fd);
	agora_httpc_global_cleanup();
}

TestSuite(httpc, .init = setup, .fini = teardown, .timeout = 30);

static char *
url(const char *path)
{
	return xasprintf("http://127.0.0.1:%d%s", srv_port, path);
}

static double
elapsed_s(uint64_t start)
{
	return (double)(agora_mono_ns() - start) / 1e9;
}

Test(httpc, status_body_and_headers)
{
	char *u = url("/hello");
	struct agora_httpc_req req = { .url = u };
	struct agora_httpc_resp resp;
	cr_assert(agora_httpc_request(&req, &resp), "err: %s", resp.err);
	cr_assert_eq(resp.status, 200);
	cr_assert_eq(resp.error, AGORA_HTTPC_OK);
	cr_assert_str_empty(resp.err);
	cr_assert_str_eq(resp.body, "{\"hello\":\"world\"}");
	cr_assert_eq(resp.body_len, strlen("{\"hello\":\"world\"}"));
	cr_assert_str_eq(resp.content_type, "application/json");
	cr_assert_str_eq(agora_httpc_resp_header(&resp, "content-type"), "application/json");
	cr_assert_str_eq(agora_httpc_resp_header(&resp, "x-multi"), "one");
	cr_assert_str_eq(agora_httpc_resp_header(&resp, "X-LOWER"), "padded value");
	cr_assert_null(agora_httpc_resp_header(&resp, "X-Missing"));
	cr_assert_null(agora_httpc_resp_header(&resp, "X-Mult"));
	json_t *j = agora_httpc_json(&resp);
	cr_assert_not_null(j);
	cr_assert_str_eq(json_string_value(json_object_get(j, "hello")), "world");
	json_decref(j);
	agora_httpc_resp_cleanup(&resp);
	cr_assert_null(resp.body);
	agora_httpc_resp_cleanup(NULL);
	free(u);
}

Test(httpc, sends_method_headers_and_body)
{
	char *u = url("/echo");
	const char *hdrs[] = { "X-Test: 42", "Content-Type: application/json", NULL };
	const char *body = "{\"a\":1}";
	struct agora_httpc_req req = { .method = "POST", .url = u, .headers = hdrs,
				       .body = body, .body_len = strlen(body) };
	struct agora_httpc_resp resp;
	cr_assert(agora_httpc_request(&req, &resp), "err: %s", resp.err);
	cr_assert_eq(resp.status, 200);
	cr_assert(strncmp(resp.body, "POST /echo HTTP/1.1\r\n", 21) == 0, "%s", resp.body);
	cr_assert_not_null(strstr(resp.body, "\r\nX-Test: 42\r\n"));
	cr_assert_not_null(strstr(resp.body, "\r\nContent-Type: application/json\r\n"));
	cr_assert_not_null(strstr(resp.body, "\r\nContent-Length: 7\r\n"));
	cr_assert_null(strcasestr(resp.body, "Expect:"));
	cr_assert(strcmp(resp.body + resp.body_len - 7, body) == 0);
	agora_httpc_resp_cleanup(&resp);

	/* PUT with a body but no type: curl must not invent a form type. */
	req = (struct agora_httpc_req){ .method = "PUT", .url = u, .body = "xyz", .body_len = 3 };
	cr_assert(agora_httpc_request(&req, &resp), "err: %s", resp.err);
	cr_assert(strncmp(resp.body, "PUT /echo HTTP/1.1\r\n", 20) == 0, "%s", resp.body);
	cr_assert_null(strcasestr(resp.body, "Content-Type:"), "%s", resp.body);
	cr_assert_not_null(strstr(resp.body, "\r\n\r\nxyz"));
	agora_httpc_resp_cleanup(&resp);

	/* DELETE without a body, and POST with an empty one. */
	req = (struct agora_httpc_req){ .method = "DELETE", .url = u };
	cr_assert(agora_httpc_request(&req, &resp), "err: %s", resp.err);
	cr_assert(strncmp(resp.body, "DELETE /echo HTTP/1.1\r\n", 23) == 0, "%s", resp.body);
	agora_httpc_resp_cleanup(&resp);
	req = (struct agora_httpc_req){ .method = "POST", .url = u };
	cr_assert(agora_httpc_request(&req, &resp), "err: %s", resp.err);
	cr_assert(strncmp(resp.body, "POST /echo HTTP/1.1\r\n", 21) == 0, "%s", resp.body);
	cr_assert_not_null(strstr(resp.body, "\r\nContent-Length: 0\r\n"));
	agora_httpc_resp_cleanup(&resp);
	free(u);
}

Test(httpc, error_status_is_a_response)
{
	char *u = url("/teapot");
	struct agora_httpc_req req = { .url = u };
	struct agora_httpc_resp resp;
	cr_assert(agora_httpc_request(&req, &resp), "err: %s", resp.err);
	cr_assert_eq(resp.status, 418);
	cr_assert_str_eq(resp.body, "teapot");
	cr_assert_null(resp.content_type);
	cr_assert_null(agora_httpc_json(&resp));
	agora_httpc_resp_cleanup(&resp);
	free(u);
}

Test(httpc, redirect_not_followed)
{
	char *u = url("/redirect");
	struct agora_httpc_req req = { .url = u };
	struct agora_httpc_resp resp;
	cr_assert(agora_httpc_request(&req, &resp), "err: %s", resp.err);
	cr_assert_eq(resp.status, 302);
	cr_assert_str_eq(agora_httpc_resp_header(&resp, "Location"), "/hello");
	cr_assert_eq(resp.body_len, 0);
	cr_assert_str_eq(resp.body, "");
	agora_httpc_resp_cleanup(&resp);
	free(u);
}

Test(httpc, interim_response_headers_dropped)
{
	char *u = url("/continue");
	struct agora_httpc_req req = { .url = u };
	struct agora_httpc_resp resp;
	cr_assert(agora_httpc_request(&req, &resp), "err: %s", resp.err);
	cr_assert_eq(resp.status, 201);
	cr_assert_str_eq(agora_httpc_resp_header(&resp, "X-Final"), "yes");
	cr_assert_null(agora_httpc_resp_header(&resp, "X-Interim"));
	agora_httpc_resp_cleanup(&resp);
	free(u);
}

Test(httpc, body_at_limit_accepted)
{
	char *u = url("/big");
	struct agora_httpc_req req = { .url = u, .max_response = 5000 };
	struct agora_httpc_resp resp;
	cr_assert(agora_httpc_request(&req, &resp), "err: %s", resp.err);
	cr_assert_eq(resp.status, 200);
	cr_assert_eq(resp.body_len, 5000);
	agora_httpc_resp_cleanup(&resp);
	free(u);
}

Test(httpc, body_over_limit_by_content_length)
{
	char *u = url("/big");
	struct agora_httpc_req req = { .url = u, .max_response = 4999 };
	struct agora_httpc_resp resp;
	cr_assert_not(agora_httpc_request(&req, &resp));
	cr_assert_eq(resp.error, AGORA_HTTPC_ERR_TOO_LARGE);
	cr_assert_str_eq(resp.err, "response too large: body exceeds 4999 bytes");
	cr_assert_null(resp.body);
	agora_httpc_resp_cleanup(&resp);
	free(u);
}

Test(httpc, body_over_limit_streamed_aborts_at_once)
{
	/* The server sends 2000 bytes, then stalls 3 s: only an abort as soon
	 * as the limit is passed returns quickly. */
	char *u = url("/stream");
	struct agora_httpc_req req = { .url = u, .max_response = 1000, .timeout_ms = 10000 };
	struct agora_httpc_resp resp;
	uint64_t t0 = agora_mono_ns();
	cr_assert_not(agora_httpc_request(&req, &resp));
	double s = elapsed_s(t0);
	cr_assert_eq(resp.error, AGORA_HTTPC_ERR_TOO_LARGE, "err: %s", resp.err);
	cr_assert_str_eq(resp.err, "response too large: body exceeds 1000 bytes");
	cr_assert_lt(s, 1.5, "took %.2f s", s);
	agora_httpc_resp_cleanup(&resp);
	free(u);
}

Test(httpc, head_ignores_limit)
{
	char *u = url("/big");
	struct agora_httpc_req req = { .method = "HEAD", .url = u, .max_response = 10 };
	struct agora_httpc_resp resp;
	cr_assert(agora_httpc_request(&req, &resp), "err: %s", resp.err);
	cr_assert_eq(resp.status, 200);
	cr_assert_eq(resp.body_len, 0);
	cr_assert_str_eq(agora_httpc_resp_header(&resp, "Content-Length"), "5000");
	agora_httpc_resp_cleanup(&resp);
	free(u);
}

Test(httpc, timeout_fires)
{
	char *u = url("/slow");
	struct agora_httpc_req req = { .url = u, .timeout_ms = 300 };
	struct agora_httpc_resp resp;
	uint64_t t0 = agora_mono_ns();
	cr_assert_not(agora_httpc_request(&req, &resp));
	double s = elapsed_s(t0);
	cr_assert_eq(resp.error, AGORA_HTTPC_ERR_TIMEOUT, "err: %s", resp.err);
	cr_assert(strncmp(resp.err, "timeout: ", 9) == 0, "%s", resp.err);
	cr_assert(s >= 0.25 && s < 2.0, "took %.2f s", s);
	cr_assert_eq(resp.status, 0);
	agora_httpc_resp_cleanup(&resp);
	free(u);
}

Test(httpc, connection_refused)
{
	/* A port that was free a moment ago and has no listener. */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	cr_assert(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
	socklen_t len = sizeof a;
	getsockname(fd, (struct sockaddr *)&a, &len);
	close(fd);
	char *u = xasprintf("http://127.0.0.1:%d/", ntohs(a.sin_port));
	struct agora_httpc_req req = { .url = u };
	struct agora_httpc_resp resp;
	cr_assert_not(agora_httpc_request(&req, &resp));
	cr_assert_eq(resp.error, AGORA_HTTPC_ERR_CONNECT, "err: %s", resp.err);
	cr_assert(strncmp(resp.err, "connect: ", 9) == 0, "%s", resp.err);
	cr_assert_eq(resp.status, 0);
	agora_httpc_resp_cleanup(&resp);
	free(u);
}

Test(httpc, only_http_and_https)
{
	struct agora_httpc_req req = { .url = "file:///etc/hostname" };
	struct agora_httpc_resp resp;
	cr_assert_not(agora_httpc_request(&req, &resp));
	cr_assert_eq(resp.error, AGORA_HTTPC_ERR_TRANSPORT, "err: %s", resp.err);
	cr_assert(strncmp(resp.err, "transport: ", 11) == 0, "%s", resp.err);
	agora_httpc_resp_cleanup(&resp);
}

Test(httpc, connection_reused)
{
	char *u = url("/hello");
	struct agora_httpc_req req = { .url = u };
	for (int i = 0; i < 5; i++) {
		struct agora_httpc_resp resp;
		cr_assert(agora_httpc_request(&req, &resp), "err: %s", resp.err);
		cr_assert_eq(resp.status, 200);
		agora_httpc_resp_cleanup(&resp);
	}
	cr_assert_eq(atomic_load(&srv_conns), 1);
	free(u);
}

/* libcurl would resend a request whose reused connection died before any
 * response, with the same (one-time) participant token: the receiver has
 * processed it already and refuses the copy as a replay. */
Test(httpc, not_resent_when_a_reused_connection_dies)
{
	char *hello = url("/hello"), *vanish = url("/vanish");
	struct agora_httpc_req warm = { .url = hello };
	struct agora_httpc_resp resp;
	cr_assert(agora_httpc_request(&warm, &resp), "err: %s", resp.err);
	agora_httpc_resp_cleanup(&resp);
	struct agora_httpc_req req = { .method = "POST", .url = vanish, .body = "{}", .body_len = 2 };
	cr_assert_not(agora_httpc_request(&req, &resp));
	cr_assert_eq(resp.error, AGORA_HTTPC_ERR_TRANSPORT, "err: %s", resp.err);
	cr_assert(strstr(resp.err, "not resent"), "%s", resp.err);
	cr_assert_eq(atomic_load(&srv_vanished), 1, "the request was sent %d times",
		     atomic_load(&srv_vanished));
	agora_httpc_resp_cleanup(&resp);
	/* The next request goes out on a fresh connection as usual. */
	cr_assert(agora_httpc_request(&warm, &resp), "err: %s", resp.err);
	cr_assert_eq(resp.status, 200);
	agora_httpc_resp_cleanup(&resp);
	free(hello);
	free(vanish);
}

/* A GET changes nothing: libcurl's resend on a fresh connection stays (the
 * usual case is a kept-alive connection the server closed for idleness as
 * it was reused).  /vanish never answers, so the resent copy fails too. */
Test(httpc, get_resent_when_a_reused_connection_dies)
{
	char *hello = url("/hello"), *vanish = url("/vanish");
	struct agora_httpc_req warm = { .url = hello };
	struct agora_httpc_resp resp;
	cr_assert(agora_httpc_request(&warm, &resp), "err: %s", resp.err);
	agora_httpc_resp_cleanup(&resp);
	struct agora_httpc_req req = { .url = vanish };
	cr_assert_not(agora_httpc_request(&req, &resp));
	cr_assert_eq(resp.error, AGORA_HTTPC_ERR_TRANSPORT, "err: %s", resp.err);
	cr_assert_eq(atomic_load(&srv_vanished), 2, "the request was sent %d times",
		     atomic_load(&srv_vanished));
	agora_httpc_resp_cleanup(&resp);
	free(hello);
	free(vanish);
}

/* libcurl itself answers such a response as a 201 without a body. */
Test(httpc, response_cut_inside_the_headers_is_an_error)
{
	char *u = url("/cut-headers");
	struct agora_httpc_req req = { .method = "POST", .url = u, .body = "{}", .body_len = 2 };
	struct agora_httpc_resp resp;
	cr_assert_not(agora_httpc_request(&req, &resp), "status %ld", resp.status);
	cr_assert_eq(resp.error, AGORA_HTTPC_ERR_TRANSPORT, "err: %s", resp.err);
	cr_assert(strstr(resp.err, "inside the response headers"), "%s", resp.err);
	cr_assert_null(resp.body);
	agora_httpc_resp_cleanup(&resp);
	free(u);
}

static void *
hammer(void *arg)
{
	const char *u = arg;
	intptr_t ok = 0;
	for (int i = 0; i < 25; i++) {
		struct agora_httpc_req req = { .url = u };
		struct agora_httpc_resp resp;
		if (agora_httpc_request(&req, &resp) && resp.status == 200
		    && strcmp(resp.body, "{\"hello\":\"world\"}") == 0)
			ok++;
		agora_httpc_resp_cleanup(&resp);
	}
	return (void *)ok;
}

Test(httpc, threads_share_the_cache)
{
	char *u = url("/hello");
	pthread_t t[8];
	for (size_t i = 0; i < ARRAY_LEN(t); i++)
		pthread_create(&t[i], NULL, hammer, u);
	for (size_t i = 0; i < ARRAY_LEN(t); i++) {
		void *ok;
		pthread_join(t[i], &ok);
		cr_assert_eq((intptr_t)ok, 25);
	}
	/* Connections went back to the shared pool, so far fewer than 200. */
	cr_assert_leq(atomic_load(&srv_conns), (int)ARRAY_LEN(t));
	free(u);
}
