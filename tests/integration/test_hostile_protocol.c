/* test_hostile_protocol.c — the hostile-input suite (issue 9), protocol
 * abuse on raw sockets: request smuggling (Content-Length with
 * Transfer-Encoding, two Content-Lengths), obs-fold, oversized headers and
 * request lines, NUL bytes on the request line, broken chunking, and slow
 * clients.  Each request is answered with a 4xx or the connection is
 * closed; a smuggled second request is never answered; nothing is a 5xx;
 * the processes stay up and the databases unchanged.
 *
 * The stage runs with AGORA_TIMEOUT=2 (every process inherits it: the
 * fixture passes no --timeout), so the slow clients are cut off within a
 * few seconds and the test stays short. */
#include "hostile_fixture.h"
#include "util.h"

#include <criterion/criterion.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

static void
stage(void)
{
	setenv("AGORA_TIMEOUT", "2", 1);
	nfx_start();
	hfx_settle();
}

TestSuite(hostile_protocol, .init = stage, .fini = nfx_stop, .timeout = 120);

struct abuse {
	const char *what;
	const char *req;	/* NULL: built by the test (see below) */
	size_t len;		/* 0: strlen(req) */
	/* libmicrohttpd 0.9.75 reads a NUL on the request line or in a header
	 * value as the end of the string and serves the truncated request;
	 * nothing of ours sees the NUL (reported, not fixed here): for these
	 * only "no 5xx, no crash" is asserted. */
	bool truncated;
};

#define SMUGGLED "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
#define LIT(s) s, sizeof s - 1	/* a literal with NULs inside */
#define AUTHZ "Authorization: Bearer " ADMIN_KEY "\r\n"

static const struct abuse abuses[] = {
	{ "Content-Length and Transfer-Encoding (CL.TE)",
	  "POST /api/v1/api-keys HTTP/1.1\r\nHost: x\r\n" AUTHZ "Content-Type: application/json\r\n"
	  "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" SMUGGLED, 0, false },
	{ "Transfer-Encoding and Content-Length (TE.CL)",
	  "POST /api/v1/api-keys HTTP/1.1\r\nHost: x\r\n" AUTHZ "Content-Type: application/json\r\n"
	  "Transfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n2\r\n{}\r\n0\r\n\r\n" SMUGGLED, 0, false },
	{ "two different Content-Lengths",
	  "POST /api/v1/api-keys HTTP/1.1\r\nHost: x\r\n" AUTHZ "Content-Type: application/json\r\n"
	  "Content-Length: 2\r\nContent-Length: 38\r\n\r\n{}" SMUGGLED, 0, false },
	{ "Content-Length with a list",
	  "POST /api/v1/api-keys HTTP/1.1\r\nHost: x\r\n" AUTHZ "Content-Type: application/json\r\n"
	  "Content-Length: 2, 38\r\n\r\n{}" SMUGGLED, 0, false },
	{ "Transfer-Encoding: xchunked",
	  "POST /api/v1/api-keys HTTP/1.1\r\nHost: x\r\n" AUTHZ "Content-Type: application/json\r\n"
	  "Transfer-Encoding: xchunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", 0, false },
	{ "Transfer-Encoding: identity, chunked",
	  "POST /api/v1/api-keys HTTP/1.1\r\nHost: x\r\n" AUTHZ "Content-Type: application/json\r\n"
	  "Transfer-Encoding: identity, chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", 0, false },
	{ "obs-fold continuing a header",
	  "POST /api/v1/api-keys HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer\r\n " ADMIN_KEY "\r\n"
	  "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}", 0, false },
	{ "a space before the colon",
	  "GET /api/v1/api-keys HTTP/1.1\r\nHost: x\r\nAuthorization : Bearer " ADMIN_KEY "\r\n\r\n", 0, false },
	{ "a header line without a colon",
	  "GET /api/v1/api-keys HTTP/1.1\r\nHost: x\r\nThis is not a header\r\n" AUTHZ "\r\n", 0, false },
	{ "NUL in the request line", LIT("GET /api/v1/api-keys\0/x HTTP/1.1\r\nHost: x\r\n" AUTHZ "\r\n"), true },
	{ "NUL in a header value", LIT("GET /api/v1/api-keys HTTP/1.1\r\nHost: x\0y\r\n" AUTHZ "\r\n"), true },
	{ "bare CR line ends", "GET /api/v1/api-keys HTTP/1.1\rHost: x\r" AUTHZ "\r\r", 0, false },
	{ "chunk size not hex",
	  "POST /api/v1/api-keys HTTP/1.1\r\nHost: x\r\n" AUTHZ "Content-Type: application/json\r\n"
	  "Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", 0, false },
	{ "chunk size past 2^64",
	  "POST /api/v1/api-keys HTTP/1.1\r\nHost: x\r\n" AUTHZ "Content-Type: application/json\r\n"
	  "Transfer-Encoding: chunked\r\n\r\n1ffffffffffffffff\r\n{}\r\n0\r\n\r\n", 0, false },
	{ "negative Content-Length",
	  "POST /api/v1/api-keys HTTP/1.1\r\nHost: x\r\n" AUTHZ "Content-Type: application/json\r\n"
	  "Content-Length: -2\r\n\r\n{}", 0, false },
	{ "Content-Length not a number",
	  "POST /api/v1/api-keys HTTP/1.1\r\nHost: x\r\n" AUTHZ "Content-Type: application/json\r\n"
	  "Content-Length: 2x\r\n\r\n{}", 0, false },
	{ "Content-Length past 2^64",
	  "POST /api/v1/api-keys HTTP/1.1\r\nHost: x\r\n" AUTHZ "Content-Type: application/json\r\n"
	  "Content-Length: 99999999999999999999999\r\n\r\n{}", 0, false },
	{ "a request line with no version", "GET /api/v1/api-keys\r\n\r\n", 0, false },
	{ "HTTP/1.1 without Host", "GET /api/v1/api-keys HTTP/1.1\r\n" AUTHZ "\r\n", 0, false },
	{ "two Host headers", "GET /api/v1/api-keys HTTP/1.1\r\nHost: a\r\nHost: b\r\n" AUTHZ "\r\n", 0, false },
	{ "an unknown method", "BREW /api/v1/api-keys HTTP/1.1\r\nHost: x\r\n" AUTHZ "\r\n", 0, false },
	{ "a method with a control character", "GE\x01T /api/v1/api-keys HTTP/1.1\r\nHost: x\r\n" AUTHZ "\r\n", 0, false },
	{ "garbage", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 0, false },
	{ "a 100 KiB header", NULL, 0, false },
	{ "a 100 KiB request line", NULL, 1, false },
	{ "4000 small headers", NULL, 2, false },
};

/* Build the generated abuses (heap, *len). */
static char *
generated(size_t kind, size_t *len)
{
	struct agora_buf b;
	agora_buf_init(&b);
	if (kind == 0) {
		agora_buf_printf(&b, "GET /api/v1/api-keys HTTP/1.1\r\nHost: x\r\n%sX-Big: ", AUTHZ);
		for (int i = 0; i < 100 * 1024; i++)
			agora_buf_append(&b, "a", 1);
		agora_buf_append(&b, "\r\n\r\n", 4);
	} else if (kind == 1) {
		agora_buf_printf(&b, "GET /api/v1/api-keys?");
		for (int i = 0; i < 100 * 1024; i++)
			agora_buf_append(&b, "a", 1);
		agora_buf_printf(&b, " HTTP/1.1\r\nHost: x\r\n%s\r\n", AUTHZ);
	} else {
		agora_buf_printf(&b, "GET /api/v1/api-keys HTTP/1.1\r\nHost: x\r\n%s", AUTHZ);
		for (int i = 0; i < 4000; i++)
			agora_buf_printf(&b, "X-H%d: v\r\n", i);
		agora_buf_append(&b, "\r\n", 2);
	}
	*len = b.len;
	char *s = xmalloc(b.len + 1);
	memcpy(s, b.data, b.len);
	s[b.len] = '\0';
	agora_buf_cleanup(&b);
	return s;
}

/* Does any response in a raw stream have a status of class c ('2', '5')? */
static bool
any_status(const char *text, char c)
{
	for (const char *p = text; (p = strstr(p, "HTTP/1.")); p += 7)
		if ((p == text || p[-1] == '\n') && strlen(p) > 9 && p[9] == c)
			return true;
	return false;
}

static void
expect_refused(const char *target, const char *what, long st, const char *text)
{
	if (st == -1) {
		cr_expect_fail("%s, %s: neither answered nor closed within 5 s", target, what);
		return;
	}
	cr_expect(st == 0 || (st >= 400 && st < 500), "%s, %s: want a 4xx or a closed connection, got %ld: %.300s",
		  target, what, st, text);
	cr_expect(!any_status(text, '2') && !any_status(text, '5'),
		  "%s, %s: a 2xx or 5xx in the answers: %.600s", target, what, text);
	cr_expect(!strstr(text, "\"status\":\"ok\""), "%s, %s: the smuggled request ran: %.600s", target, what,
		  text);
	cr_expect(!strstr(text, "\"results\""), "%s, %s: the request was served: %.300s", target, what, text);
}

static double
now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

Test(hostile_protocol, abuse)
{
	const char *bases[] = { fx.url, city.url, mobi.url };
	const char *names[] = { "broker", "city", "mobility" };
	struct hfx_group g;
	hfx_group_begin(&g, "protocol abuse");
	for (size_t t = 0; t < 3; t++) {
		for (size_t i = 0; i < ARRAY_LEN(abuses); i++) {
			const struct abuse *a = &abuses[i];
			size_t len = a->len;
			char *owned = NULL;
			const char *req = a->req;
			if (!req) {
				owned = generated(a->len, &len);
				req = owned;
			} else if (!len) {
				len = strlen(req);
			}
			char *text = NULL;
			double t0 = now_s();
			long st = hfx_raw(bases[t], req, len, 5000, &text);
			if (now_s() - t0 > 1)
				cr_log_info("%s, %s: %.1f s", names[t], a->what, now_s() - t0);
			if (a->truncated)
				cr_expect(st != -1 && !any_status(text, '5'), "%s, %s: %ld %.300s", names[t], a->what,
					  st, text);
			else
				expect_refused(names[t], a->what, st, text);
			free(text);
			free(owned);
		}
	}
	hfx_group_end(&g);
	hfx_report("protocol abuse");
}

static int
dial(const char *base)
{
	int port = atoi(strrchr(base, ':') + 1);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
	return fd;
}


/* Slowloris against every process at once: a header byte per second
 * (headers) or a body byte per second (body), never idle for --timeout,
 * must still be cut off — within 4 × --timeout, and without a 2xx. */
Test(hostile_protocol, slow_clients_are_cut_off)
{
	const char *bases[] = { fx.url, city.url, mobi.url };
	enum { N = 6 };
	int fd[N];
	bool closed[N] = { false };
	double cut[N] = { 0 };
	char got[N][256];
	struct hfx_group g;
	hfx_group_begin(&g, "slow clients");
	for (int i = 0; i < N; i++) {
		fd[i] = dial(bases[i % 3]);
		hfx_requests++;
		got[i][0] = '\0';
		const char *head = i < 3 ? "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "
					 : "POST /api/v1/api-keys HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
					   "Content-Length: 1000\r\n\r\n{\"name\":\"";
		cr_assert_eq(send(fd[i], head, strlen(head), MSG_NOSIGNAL), (ssize_t)strlen(head));
	}
	double start = now_s();
	int open = N;
	while (open > 0 && now_s() - start < 10) {
		for (int i = 0; i < N; i++) {
			if (closed[i])
				continue;
			struct pollfd p = { .fd = fd[i], .events = POLLIN };
			if (poll(&p, 1, 0) > 0) {
				ssize_t n = recv(fd[i], got[i], sizeof got[i] - 1, 0);
				if (n > 0)
					got[i][n] = '\0';
				closed[i] = true;
				cut[i] = now_s() - start;
				open--;
				continue;
			}
			if (send(fd[i], "a", 1, MSG_NOSIGNAL) != 1) {
				closed[i] = true;
				cut[i] = now_s() - start;
				open--;
			}
		}
		usleep(1000000);
	}
	for (int i = 0; i < N; i++) {
		cr_expect(closed[i], "slow client %d (%s, %s) was not cut off within 10 s", i, bases[i % 3],
			  i < 3 ? "headers" : "body");
		cr_expect(strncmp(got[i], "HTTP/1.1 2", 10) != 0 && strncmp(got[i], "HTTP/1.1 5", 10) != 0,
			  "slow client %d answered: %s", i, got[i]);
		close(fd[i]);
	}
	cr_log_info("slow clients cut off after %.1f %.1f %.1f %.1f %.1f %.1f s", cut[0], cut[1], cut[2], cut[3],
		    cut[4], cut[5]);
	hfx_group_end(&g);
	hfx_report("slow clients");
}
