/* test_broker_limits.c — protocol-level limits of the HTTP server: idle
 * and slow clients are cut off after --timeout, and --max-connections is
 * enforced without hurting the service afterwards. */
#include "harness.h"
#include "util.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static char *dir, *db, *url, *log_path;
static int port;
static struct harness_proc *proc;

static void
setup(void)
{
	dir = harness_tmpdir();
	db = harness_db_create();
	port = harness_free_port();
	url = xasprintf("http://127.0.0.1:%d", port);
	char *listen = xasprintf("127.0.0.1:%d", port), *data = xasprintf("%s/data", dir);
	log_path = xasprintf("%s/broker.log", dir);
	const char *argv[] = { harness_bin("agora-broker"), "--listen", listen, "--db", db,
			       "--data-dir", data, "--public-url", url, "--admin-key", "k-limits",
			       "--timeout", "1", "--max-connections", "4", "--threads", "2",
			       "--crawl-interval", "0", NULL };
	proc = harness_proc_start(argv, NULL, log_path);
	char *h = xasprintf("%s/healthz", url);
	cr_assert(harness_wait_http(h, 15000), "the broker did not come up");
	free(h);
	free(listen);
	free(data);
}

static void
teardown(void)
{
	cr_expect_eq(harness_proc_stop(proc), 0);
	harness_db_drop(db);
	harness_rmtree(dir);
	free(dir);
	free(db);
	free(url);
	free(log_path);
}

TestSuite(limits, .init = setup, .fini = teardown, .timeout = 60);

static int
dial(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
	return fd;
}

/* True when the server closes fd within ms milliseconds. */
static bool
closed_within(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char buf[256];
	while (poll(&p, 1, ms) > 0) {
		ssize_t n = recv(fd, buf, sizeof buf, 0);
		if (n <= 0)
			return true;
	}
	return false;
}

Test(limits, slow_and_idle_clients_are_cut_off)
{
	/* Slowloris: headers that never end. */
	int slow = dial();
	const char *part = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ";
	cr_assert_eq(send(slow, part, strlen(part), 0), (ssize_t)strlen(part));
	/* An idle connection that never sends anything. */
	int idle = dial();
	cr_assert(closed_within(slow, 4000), "the slow client is disconnected after --timeout");
	cr_assert(closed_within(idle, 4000), "the idle client is disconnected after --timeout");
	close(slow);
	close(idle);
	char *h = xasprintf("%s/healthz", url);
	struct harness_resp *r = harness_http("GET", h, NULL, NULL);
	cr_assert_eq(r->status, 200);
	harness_resp_free(r);
	free(h);
}

/* A response to a request written on fd within ms milliseconds? */
static bool
answered_within(int fd, int ms, char *buf, size_t len)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	if (poll(&p, 1, ms) <= 0)
		return false;
	ssize_t n = recv(fd, buf, len - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	return n > 0;
}

Test(limits, connection_limit_then_recovery)
{
	/* Four idle connections fill --max-connections 4: the server stops
	 * accepting, so a fifth client waits in the kernel's backlog ... */
	int fds[4];
	for (int i = 0; i < 4; i++)
		fds[i] = dial();
	usleep(100000);
	int extra = dial();
	const char *req = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	cr_assert_eq(send(extra, req, strlen(req), 0), (ssize_t)strlen(req));
	char buf[512];
	cr_assert_not(answered_within(extra, 500, buf, sizeof buf),
		      "no answer while the connection limit is reached");
	/* ... until the idle ones time out (--timeout 1): then it is served. */
	cr_assert(answered_within(extra, 4000, buf, sizeof buf), "served once slots are free");
	cr_assert(strncmp(buf, "HTTP/1.1 200", 12) == 0, "%s", buf);
	close(extra);
	for (int i = 0; i < 4; i++)
		close(fds[i]);
}

/* A client that writes its whole over-long body before reading (no
 * "Expect: 100-continue") still reads the 413: the server drains the body
 * first.  Answering at once would close the connection under the writes,
 * and the client would get a reset instead (what this test saw before). */
Test(limits, oversized_body_sent_at_once_still_gets_413)
{
	size_t n = 6u * 1024 * 1024;	/* more than loopback's socket buffers hold */
	char *head = xasprintf("POST /api/v1/participants HTTP/1.1\r\nHost: x\r\n"
			       "Authorization: Bearer k-limits\r\nContent-Type: application/json\r\n"
			       "Content-Length: %zu\r\n\r\n", n);
	char *body = xmalloc(n);
	memset(body, ' ', n);
	int fd = dial();
	cr_assert_eq(send(fd, head, strlen(head), MSG_NOSIGNAL), (ssize_t)strlen(head));
	size_t sent = 0;
	while (sent < n) {
		ssize_t w = send(fd, body + sent, n - sent, MSG_NOSIGNAL);
		cr_assert_gt(w, 0, "the connection broke after %zu of %zu body bytes", sent, n);
		sent += (size_t)w;
	}
	char buf[2048];
	size_t got = 0;
	struct pollfd p = { .fd = fd, .events = POLLIN };
	while (got < sizeof buf - 1 && poll(&p, 1, 5000) > 0) {
		ssize_t r = recv(fd, buf + got, sizeof buf - 1 - got, 0);
		if (r <= 0)
			break;
		got += (size_t)r;
		buf[got] = '\0';
		if (strstr(buf, "\r\n\r\n") && strstr(buf, "}"))
			break;
	}
	buf[got] = '\0';
	cr_assert(strncmp(buf, "HTTP/1.1 413", 12) == 0, "%s", buf);
	cr_assert(strstr(buf, "\"body_too_large\""), "%s", buf);
	close(fd);
	free(body);
	free(head);
}
