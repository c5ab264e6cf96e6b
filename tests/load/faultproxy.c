/* agora-faultproxy — a TCP proxy that injects network faults (issue 9).
 *
 *   agora-faultproxy --listen HOST:PORT --backend HOST:PORT [--backend HOST:PORT]...
 *                    [--delay-ms N --delay-prob P] [--drop-prob P]
 *                    [--truncate-prob P] [--seed N] [--help]
 *
 * Accepts TCP connections on --listen, gives each to the next backend in
 * turn (round robin; a backend that refuses the connection is skipped) and
 * relays bytes both ways.  Without fault options it is the tiny
 * round-robin proxy in front of two broker replicas.
 *
 * Faults hit the response of one request/response exchange.  An exchange
 * starts when the client sends bytes while no exchange is open — at the
 * accept, and again for every later request on a kept-alive connection —
 * and its fate is drawn then, from a PRNG seeded with --seed, so the same
 * seed gives the same sequence of decisions.  (Per exchange rather than
 * per connection because libcurl keeps connections alive: a connection
 * that drew "no fault" would otherwise carry every later request of that
 * client untouched, and the fault rate would fall towards zero.)
 *
 *   delay     the first response byte is held back for --delay-ms;
 *   drop      when the first response byte arrives — the backend has
 *             processed the request — both connections are closed and the
 *             client gets nothing: the case a retry must be idempotent for;
 *   truncate  the response is collected (until the backend closes, goes
 *             quiet for TRUNCATE_QUIET_MS or fills the buffer) and only a
 *             random, strictly shorter prefix of it is forwarded; then both
 *             connections are closed.
 * Drop and truncate exclude each other (their probabilities must add up
 * to at most 1); a delay can come with either.
 *
 * The proxy knows nothing of HTTP: it only counts who spoke last.  One
 * thread, poll(); at most MAX_CONNS connections at once (more wait in the
 * listen backlog).  SIGTERM and SIGINT stop it; the counters are printed
 * on stderr at exit and on SIGUSR1, as one line of name=value pairs.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef AGORA_VERSION
#define AGORA_VERSION "dev"
#endif

#define PROG "agora-faultproxy"
#define MAX_BACKENDS 16
#define MAX_CONNS 256
#define UP_BUF (16 * 1024)	/* client → backend */
#define DOWN_BUF (64 * 1024)	/* backend → client; also the truncation window */
#define TRUNCATE_QUIET_MS 30
#define MAX_DELAY_MS 3600000L

/* ---- small helpers ------------------------------------------------------- */

static void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);
	if (!p) {
		fputs(PROG ": out of memory\n", stderr);
		abort();
	}
	return p;
}

static int64_t
now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* splitmix64: tiny, seedable with any value, good enough for fault dice. */
static uint64_t rng_state;

static double
rng_uniform(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

/* ---- configuration --------------------------------------------------------- */

struct endpoint {
	char host[256];		/* without IPv6 brackets */
	char port[8];
	struct sockaddr_storage addr;
	socklen_t addrlen;
};

static struct {
	struct endpoint listen;
	struct endpoint backend[MAX_BACKENDS];
	int nbackends;
	long delay_ms;
	double delay_prob, drop_prob, truncate_prob;
	uint64_t seed;
	int max_conns;
} cfg = { .seed = 1, .max_conns = MAX_CONNS };

/* What happened; printed at exit and on SIGUSR1. */
static struct {
	unsigned long connections, exchanges, delayed, dropped, truncated, backend_errors;
	unsigned long per_backend[MAX_BACKENDS];
} count;

static void
print_counts(void)
{
	char per[MAX_BACKENDS * 24] = "";
	size_t off = 0;
	for (int i = 0; i < cfg.nbackends; i++)
		off += (size_t)snprintf(per + off, sizeof per - off, "%s%lu", i ? "," : "",
					count.per_backend[i]);
	fprintf(stderr,
		PROG ": connections=%lu exchanges=%lu delayed=%lu dropped=%lu truncated=%lu"
		" backend_errors=%lu per_backend=%s\n",
		count.connections, count.exchanges, count.delayed, count.dropped, count.truncated,
		count.backend_errors, per);
	fflush(stderr);
}

/* Splits "HOST:PORT" or "[V6]:PORT" into e->host and e->port.  Returns
 * false when the form is wrong (no port, port not 0-65535). */
static bool
endpoint_parse(struct endpoint *e, const char *s)
{
	const char *colon, *h = s;
	size_t hlen;
	if (*s == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':')
			return false;
		h = s + 1;
		hlen = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return false;
		hlen = (size_t)(colon - s);
	}
	const char *p = colon + 1;
	char *end;
	errno = 0;
	long port = strtol(p, &end, 10);
	if (hlen == 0 || hlen >= sizeof e->host || !*p || *end || errno || port < 0 || port > 65535)
		return false;
	memcpy(e->host, h, hlen);
	e->host[hlen] = '\0';
	snprintf(e->port, sizeof e->port, "%ld", port);
	return true;
}

/* Resolves e to its first address.  Prints the reason and returns false
 * when the name does not resolve. */
static bool
endpoint_resolve(struct endpoint *e, bool passive)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = passive ? AI_PASSIVE : 0 }, *res;
	int rc = getaddrinfo(e->host, e->port, &hints, &res);
	if (rc) {
		fprintf(stderr, PROG ": %s: %s\n", e->host, gai_strerror(rc));
		return false;
	}
	memcpy(&e->addr, res->ai_addr, res->ai_addrlen);
	e->addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	return true;
}

static bool
parse_prob(const char *v, double *out)
{
	char *end;
	errno = 0;
	double d = strtod(v, &end);
	if (!*v || *end || errno || !(d >= 0 && d <= 1))
		return false;
	*out = d;
	return true;
}

/* ---- connections ------------------------------------------------------------- */

enum fault { FAULT_NONE, FAULT_DROP, FAULT_TRUNCATE };

/* One direction of a relay: bytes read from one socket, not yet all
 * written to the other. */
struct pipe {
	size_t len, off;	/* buf[off, len) is still to be written */
	bool eof;		/* the source closed its side */
	bool shut;		/* and we passed that on (shutdown SHUT_WR) */
};

struct conn {
	int cfd, bfd;
	int backend, tries;	/* current backend; how many were tried */
	bool connected;
	struct pipe up, down;
	/* the current exchange */
	bool drawn;		/* its fate was drawn at the accept, not yet used */
	bool open;		/* request bytes went up, the response has not begun */
	bool delay, delayed;	/* hold the response; holding has been done */
	enum fault fault;
	double cut;		/* where a truncation cuts, as a fraction */
	int64_t hold_until;	/* delay in progress when > 0 */
	bool collecting;	/* truncation: reading the response into down */
	int64_t quiet_until;	/* ... until then, if nothing more arrives */
	bool closing;		/* write out down, then close both */
	char upbuf[UP_BUF];
	char downbuf[DOWN_BUF];
};

static struct conn *conns[MAX_CONNS];
static int nconns;
static unsigned long next_backend;

static void
set_nodelay(int fd)
{
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* Draws the fate of a new exchange: always three numbers, so the stream of
 * decisions does not depend on which faults are switched on. */
static void
exchange_roll(struct conn *c)
{
	double d = rng_uniform(), f = rng_uniform();
	c->cut = rng_uniform();
	c->delay = cfg.delay_ms > 0 && d < cfg.delay_prob;
	c->delayed = false;
	c->fault = f < cfg.drop_prob ? FAULT_DROP
		 : f < cfg.drop_prob + cfg.truncate_prob ? FAULT_TRUNCATE : FAULT_NONE;
}

/* Starts a non-blocking connect to c->backend.  Returns false when the
 * socket could not even be created or the connect failed at once. */
static bool
backend_connect(struct conn *c)
{
	const struct endpoint *b = &cfg.backend[c->backend];
	c->bfd = socket(b->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->bfd < 0)
		return false;
	set_nodelay(c->bfd);
	if (connect(c->bfd, (const struct sockaddr *)&b->addr, b->addrlen) == 0 ||
	    errno == EINPROGRESS)
		return true;
	return false;
}

/* The backend did not take the connection: try the next one, unless all
 * were tried.  Returns false when there is none left. */
static bool
backend_next(struct conn *c, int err)
{
	const struct endpoint *b = &cfg.backend[c->backend];
	fprintf(stderr, PROG ": backend %s:%s: %s\n", b->host, b->port, strerror(err));
	if (c->bfd >= 0)
		close(c->bfd);
	c->bfd = -1;
	while (++c->tries < cfg.nbackends) {
		c->backend = (c->backend + 1) % cfg.nbackends;
		if (backend_connect(c))
			return true;
		b = &cfg.backend[c->backend];
		fprintf(stderr, PROG ": backend %s:%s: %s\n", b->host, b->port, strerror(errno));
		if (c->bfd >= 0)
			close(c->bfd);
		c->bfd = -1;
	}
	count.backend_errors++;
	return false;
}

static void
conn_free(struct conn *c)
{
	if (!c)
		return;
	if (c->cfd >= 0)
		close(c->cfd);
	if (c->bfd >= 0)
		close(c->bfd);
	free(c);
}

static void
accept_one(int lfd)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
		    errno != ECONNABORTED)
			fprintf(stderr, PROG ": accept: %s\n", strerror(errno));
		return;
	}
	set_nodelay(fd);
	struct conn *c = xcalloc(1, sizeof *c);
	c->cfd = fd;
	c->bfd = -1;
	c->backend = (int)(next_backend++ % (unsigned long)cfg.nbackends);
	count.connections++;
	exchange_roll(c);
	c->drawn = true;
	if (!backend_connect(c) && !backend_next(c, errno)) {
		conn_free(c);
		return;
	}
	conns[nconns++] = c;
}

/* Reads from fd into buf after p's bytes, up to cap.  Returns -1 on a
 * socket error, 0 at the end of the stream (p->eof set), else a positive
 * number — 1 also when nothing was there to read. */
static ssize_t
pipe_read(struct pipe *p, int fd, char *buf, size_t cap)
{
	ssize_t n = recv(fd, buf + p->len, cap - p->len, 0);
	if (n > 0) {
		p->len += (size_t)n;
		return n;
	}
	if (n == 0) {
		p->eof = true;
		return 0;
	}
	return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 1 : -1;
}

/* Writes what p holds to fd; passes an end of stream on once all is
 * written.  Returns false on a socket error. */
static bool
pipe_write(struct pipe *p, int fd, const char *buf)
{
	if (p->off < p->len) {
		ssize_t n = send(fd, buf + p->off, p->len - p->off, MSG_NOSIGNAL);
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
		p->off += (size_t)n;
		if (p->off == p->len)
			p->off = p->len = 0;
	}
	if (p->eof && p->len == 0 && !p->shut) {
		shutdown(fd, SHUT_WR);
		p->shut = true;
	}
	return true;
}

/* The truncation window is complete: keep a strictly shorter prefix. */
static void
truncate_now(struct conn *c)
{
	size_t n = c->down.len;
	size_t cut = n <= 1 ? 0 : 1 + (size_t)(c->cut * (double)(n - 1));
	if (cut >= n && n > 0)
		cut = n - 1;
	c->down.len = cut;
	c->down.eof = false;
	c->collecting = false;
	c->closing = true;
	count.truncated++;
}

/* What to poll for on each socket of c. */
static void
conn_events(const struct conn *c, int64_t now, short *cev, short *bev)
{
	*cev = *bev = 0;
	if (!c->connected) {
		*bev = POLLOUT;
		return;
	}
	if (c->closing) {
		*cev = POLLOUT;
		return;
	}
	if (c->up.len == 0 && !c->up.eof)
		*cev |= POLLIN;
	if (c->up.len > c->up.off)
		*bev |= POLLOUT;
	bool holding = c->hold_until > 0 && now < c->hold_until;
	if (c->collecting) {
		if (c->down.len < DOWN_BUF && !c->down.eof)
			*bev |= POLLIN;
	} else {
		if (c->down.len == 0 && !c->down.eof && !holding)
			*bev |= POLLIN;
		if (c->down.len > c->down.off)
			*cev |= POLLOUT;
	}
}

/* The earliest time c needs attention without socket events, or -1. */
static int64_t
conn_deadline(const struct conn *c)
{
	if (c->hold_until > 0)
		return c->hold_until;
	if (c->collecting)
		return c->quiet_until;
	return -1;
}

/* Response bytes (or the backend's end of stream) are waiting while an
 * exchange is open: apply its fault.  Returns false when the connection
 * is to be closed now. */
static bool
response_begins(struct conn *c, int64_t now)
{
	if (c->delay && !c->delayed) {
		c->delayed = true;
		c->hold_until = now + cfg.delay_ms;
		count.delayed++;
		return true;	/* read it once the hold is over */
	}
	c->open = false;
	if (c->fault == FAULT_DROP) {
		count.dropped++;
		return false;
	}
	if (c->fault == FAULT_TRUNCATE) {
		c->collecting = true;
		c->quiet_until = now + TRUNCATE_QUIET_MS;
	}
	return true;
}

/* Handles the events of c.  Returns false when c is finished. */
static bool
conn_handle(struct conn *c, short crev, short brev, int64_t now)
{
	if (!c->connected) {
		if (!brev)
			return true;
		int err = 0;
		socklen_t len = sizeof err;
		if (getsockopt(c->bfd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err)
			return backend_next(c, err);
		c->connected = true;
		count.per_backend[c->backend]++;
		return true;
	}
	if (c->hold_until > 0 && now >= c->hold_until)
		c->hold_until = 0;
	if (c->closing) {
		if ((crev & (POLLERR | POLLHUP)) || !pipe_write(&c->down, c->cfd, c->downbuf))
			return false;
		return c->down.len > c->down.off;
	}

	/* client → backend; bytes after a response began open a new exchange */
	if (crev & (POLLIN | POLLHUP | POLLERR)) {
		if (crev & POLLERR)
			return false;
		if (c->up.len == 0 && !c->up.eof &&
		    pipe_read(&c->up, c->cfd, c->upbuf, UP_BUF) < 0)
			return false;
		if (c->up.len > 0 && !c->open) {
			if (!c->drawn)
				exchange_roll(c);
			c->drawn = false;
			c->open = true;
			count.exchanges++;
		}
	}
	if ((brev & POLLOUT) && !pipe_write(&c->up, c->bfd, c->upbuf))
		return false;
	if (c->up.eof && c->up.len == 0 && !c->up.shut && !pipe_write(&c->up, c->bfd, c->upbuf))
		return false;

	/* backend → client */
	if (c->collecting) {
		if (brev & (POLLIN | POLLHUP | POLLERR)) {
			if (pipe_read(&c->down, c->bfd, c->downbuf, DOWN_BUF) < 0)
				return false;
			c->quiet_until = now + TRUNCATE_QUIET_MS;
		}
		if (c->down.eof || c->down.len == DOWN_BUF || now >= c->quiet_until)
			truncate_now(c);
		return true;
	}
	if ((brev & (POLLIN | POLLHUP | POLLERR)) && c->down.len == 0 && !c->down.eof &&
	    c->hold_until == 0) {
		if (c->open) {
			if (!response_begins(c, now))
				return false;
			if (c->hold_until > 0 || c->collecting)
				return true;
		}
		if (pipe_read(&c->down, c->bfd, c->downbuf, DOWN_BUF) < 0)
			return false;
	}
	if (((crev & POLLOUT) || c->down.eof) && !pipe_write(&c->down, c->cfd, c->downbuf))
		return false;
	/* both ends closed and everything passed on */
	return !(c->up.shut && c->down.shut);
}

/* ---- main loop ----------------------------------------------------------------- */

/* Signals reach the loop through a pipe: one byte per signal, its number. */
static int sigpipe_w = -1;

static void
on_signal(int sig)
{
	int saved = errno;
	unsigned char b = (unsigned char)sig;
	if (write(sigpipe_w, &b, 1) < 0) {
		/* the pipe is full: the loop has signals enough to read */
	}
	errno = saved;
}

static int
listen_socket(void)
{
	struct endpoint *l = &cfg.listen;
	int fd = socket(l->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(fd, (struct sockaddr *)&l->addr, l->addrlen) < 0 || listen(fd, 128) < 0) {
		fprintf(stderr, PROG ": cannot listen on %s:%s: %s\n", l->host, l->port,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	struct sockaddr_storage a;
	socklen_t alen = sizeof a;
	if (getsockname(fd, (struct sockaddr *)&a, &alen) == 0)
		snprintf(l->port, sizeof l->port, "%u",
			 ntohs(a.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&a)->sin6_port
						       : ((struct sockaddr_in *)&a)->sin_port));
	return fd;
}

/* At most MAX_CONNS, and no more than two descriptors each that the
 * process may open (leaving some for the listener, the pipe, stdio). */
static void
limit_conns(void)
{
	struct rlimit r;
	if (getrlimit(RLIMIT_NOFILE, &r) != 0)
		return;
	if (r.rlim_cur < r.rlim_max && r.rlim_cur < 2 * MAX_CONNS + 16) {
		r.rlim_cur = r.rlim_max < 2 * MAX_CONNS + 16 ? r.rlim_max : 2 * MAX_CONNS + 16;
		setrlimit(RLIMIT_NOFILE, &r);
		getrlimit(RLIMIT_NOFILE, &r);
	}
	if (r.rlim_cur != RLIM_INFINITY && r.rlim_cur < 2 * MAX_CONNS + 16)
		cfg.max_conns = r.rlim_cur > 18 ? (int)(r.rlim_cur - 16) / 2 : 1;
}

/* Runs until SIGTERM or SIGINT.  Returns the exit status. */
static int
run(int lfd, int sigpipe_r)
{
	static struct pollfd pfd[2 + 2 * MAX_CONNS];
	bool stop = false;
	while (!stop) {
		int64_t now = now_ms(), next = -1;
		int n = 0;
		pfd[n++] = (struct pollfd){ sigpipe_r, POLLIN, 0 };
		pfd[n++] = (struct pollfd){ lfd, nconns < cfg.max_conns ? POLLIN : 0, 0 };
		for (int i = 0; i < nconns; i++) {
			short cev, bev;
			conn_events(conns[i], now, &cev, &bev);
			pfd[n++] = (struct pollfd){ conns[i]->cfd, cev, 0 };
			pfd[n++] = (struct pollfd){ conns[i]->bfd, bev, 0 };
			int64_t d = conn_deadline(conns[i]);
			if (d >= 0 && (next < 0 || d < next))
				next = d;
		}
		int timeout = next < 0 ? -1 : next <= now ? 0 : (int)(next - now);
		if (poll(pfd, (nfds_t)n, timeout) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, PROG ": poll: %s\n", strerror(errno));
			return 1;
		}
		now = now_ms();
		if (pfd[0].revents & POLLIN) {
			unsigned char sig[16];
			ssize_t k = read(sigpipe_r, sig, sizeof sig);
			for (ssize_t j = 0; j < k; j++) {
				if (sig[j] == SIGUSR1)
					print_counts();
				else
					stop = true;
			}
		}
		/* Connections first, in the order of pfd; new ones after. */
		int m = nconns;
		for (int i = 0, slot = 2; i < m; i++, slot += 2) {
			struct conn *c = conns[i];
			if (c && !conn_handle(c, pfd[slot].revents, pfd[slot + 1].revents, now)) {
				conn_free(c);
				conns[i] = NULL;
			}
		}
		int k = 0;
		for (int i = 0; i < m; i++)
			if (conns[i])
				conns[k++] = conns[i];
		nconns = k;
		if (pfd[1].revents & POLLIN)
			while (nconns < cfg.max_conns) {
				int before = nconns;
				unsigned long tried = count.connections;
				accept_one(lfd);
				if (nconns == before && count.connections == tried)
					break;	/* nothing more to accept */
			}
	}
	return 0;
}

static void
usage(FILE *f)
{
	fputs("Usage: agora-faultproxy --listen HOST:PORT --backend HOST:PORT [--backend HOST:PORT]...\n"
	      "                        [--delay-ms N --delay-prob P] [--drop-prob P]\n"
	      "                        [--truncate-prob P] [--seed N] [--help]\n"
	      "A TCP proxy for tests: relays each accepted connection to the next backend\n"
	      "(round robin; a backend refusing the connection is skipped) and injects faults\n"
	      "into responses.  Each request/response exchange draws its fate from a PRNG\n"
	      "seeded with --seed: the same seed gives the same sequence of decisions.\n\n"
	      "  --listen HOST:PORT   where to accept connections; PORT 0 picks a free port.\n"
	      "                       Once ready, \"listening on HOST:PORT\" is printed on stdout\n"
	      "  --backend HOST:PORT  where to relay to; up to 16, used in turn\n"
	      "  --delay-ms N         hold the response back for N ms (0-3600000) ...\n"
	      "  --delay-prob P       ... with probability P (0-1; default 1 with --delay-ms)\n"
	      "  --drop-prob P        close both connections when the response begins (the\n"
	      "                       backend has processed the request; the client gets nothing)\n"
	      "  --truncate-prob P    forward only a random, strictly shorter prefix of the\n"
	      "                       response, then close (drop + truncate probabilities <= 1)\n"
	      "  --seed N             PRNG seed (default 1)\n"
	      "  --help, --version\n\n"
	      "SIGTERM and SIGINT stop the proxy; SIGUSR1 prints the counters on stderr, as it\n"
	      "does at exit: connections exchanges delayed dropped truncated backend_errors\n"
	      "per_backend (connections relayed to each backend, in --backend order).\n",
	      f);
}

int
main(int argc, char **argv)
{
	const char *listen_arg = NULL;
	bool delay_prob_set = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		}
		if (!strcmp(a, "--version")) {
			printf(PROG " %s\n", AGORA_VERSION);
			return 0;
		}
		if (!v || strncmp(a, "--", 2)) {
			fprintf(stderr, PROG ": %s: %s\n", a,
				strncmp(a, "--", 2) ? "unexpected argument" : "missing value");
			goto bad;
		}
		i++;
		if (!strcmp(a, "--listen")) {
			listen_arg = v;
			if (!endpoint_parse(&cfg.listen, v)) {
				fprintf(stderr, PROG ": --listen %s: want HOST:PORT\n", v);
				goto bad;
			}
		} else if (!strcmp(a, "--backend")) {
			if (cfg.nbackends == MAX_BACKENDS) {
				fprintf(stderr, PROG ": at most %d backends\n", MAX_BACKENDS);
				goto bad;
			}
			struct endpoint *b = &cfg.backend[cfg.nbackends++];
			if (!endpoint_parse(b, v) || !strcmp(b->port, "0")) {
				fprintf(stderr, PROG ": --backend %s: want HOST:PORT, PORT 1-65535\n", v);
				goto bad;
			}
		} else if (!strcmp(a, "--delay-ms")) {
			char *end;
			errno = 0;
			cfg.delay_ms = strtol(v, &end, 10);
			if (!*v || *end || errno || cfg.delay_ms < 0 || cfg.delay_ms > MAX_DELAY_MS) {
				fprintf(stderr, PROG ": --delay-ms %s: want 0-%ld\n", v, MAX_DELAY_MS);
				goto bad;
			}
		} else if (!strcmp(a, "--delay-prob") || !strcmp(a, "--drop-prob") ||
			   !strcmp(a, "--truncate-prob")) {
			double *p = a[2] == 'd' && a[3] == 'e' ? &cfg.delay_prob
				  : a[2] == 'd' ? &cfg.drop_prob : &cfg.truncate_prob;
			if (!parse_prob(v, p)) {
				fprintf(stderr, PROG ": %s %s: want a probability, 0-1\n", a, v);
				goto bad;
			}
			delay_prob_set |= p == &cfg.delay_prob;
		} else if (!strcmp(a, "--seed")) {
			char *end;
			errno = 0;
			cfg.seed = strtoull(v, &end, 10);
			if (!*v || *end || errno || *v == '-') {
				fprintf(stderr, PROG ": --seed %s: want a non-negative integer\n", v);
				goto bad;
			}
		} else {
			fprintf(stderr, PROG ": unknown option %s\n", a);
			goto bad;
		}
	}
	if (!listen_arg || cfg.nbackends == 0) {
		fprintf(stderr, PROG ": --listen and at least one --backend are required\n");
		goto bad;
	}
	if (delay_prob_set && cfg.delay_ms == 0) {
		fprintf(stderr, PROG ": --delay-prob needs --delay-ms\n");
		goto bad;
	}
	if (!delay_prob_set && cfg.delay_ms > 0)
		cfg.delay_prob = 1;
	if (cfg.drop_prob + cfg.truncate_prob > 1 + 1e-9) {
		fprintf(stderr, PROG ": --drop-prob plus --truncate-prob exceeds 1\n");
		goto bad;
	}
	if (!endpoint_resolve(&cfg.listen, true))
		return 1;
	for (int i = 0; i < cfg.nbackends; i++)
		if (!endpoint_resolve(&cfg.backend[i], false))
			return 1;
	rng_state = cfg.seed;
	limit_conns();

	int sp[2];
	if (pipe2(sp, O_NONBLOCK | O_CLOEXEC) < 0) {
		fprintf(stderr, PROG ": pipe: %s\n", strerror(errno));
		return 1;
	}
	sigpipe_w = sp[1];
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	int lfd = listen_socket();
	if (lfd < 0)
		return 1;
	bool v6 = strchr(cfg.listen.host, ':') != NULL;
	printf("listening on %s%s%s:%s\n", v6 ? "[" : "", cfg.listen.host, v6 ? "]" : "",
	       cfg.listen.port);
	fflush(stdout);

	int rc = run(lfd, sp[0]);
	for (int i = 0; i < nconns; i++)
		conn_free(conns[i]);
	close(lfd);
	print_counts();
	return rc;
bad:
	usage(stderr);
	return 2;
}
