/* progress.c (cli) — a one-line progress bar on stderr, drawn only when
 * stderr is a terminal, so scripts and logs see nothing of it. */
#include "cli.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define REDRAW_NS 100000000ull	/* at most 10 redraws a second */

void
cli_human_bytes(uint64_t n, char buf[static 16])
{
	static const char *const unit[] = { "KiB", "MiB", "GiB", "TiB" };
	if (n < 1024) {
		snprintf(buf, 16, "%u B", (unsigned)n);
		return;
	}
	double v = (double)n / 1024.0;
	size_t u = 0;
	while (v >= 1024.0 && u + 1 < ARRAY_LEN(unit)) {
		v /= 1024.0;
		u++;
	}
	snprintf(buf, 16, v < 10.0 ? "%.2f %s" : v < 100.0 ? "%.1f %s" : "%.0f %s", v, unit[u]);
}

void
cli_progress_init(struct cli_progress *p, const char *label)
{
	memset(p, 0, sizeof *p);
	p->on = isatty(STDERR_FILENO) == 1;
	p->label = label;
	p->start_ns = agora_mono_ns();
}

static void
draw(struct cli_progress *p, uint64_t done, uint64_t total, const char *note, uint64_t now)
{
	char line[160], a[16], b[16], r[16];
	size_t n = 0;
	cli_human_bytes(done, a);
	if (total) {
		cli_human_bytes(total, b);
		unsigned pct = done >= total ? 100u : (unsigned)(done * 100 / total);
		/* A 20-cell bar. */
		char bar[21];
		unsigned cells = pct / 5;
		for (unsigned i = 0; i < 20; i++)
			bar[i] = i < cells ? '#' : '.';
		bar[20] = '\0';
		n = (size_t)snprintf(line, sizeof line, "%s [%s] %s / %s %3u%%", p->label, bar, a, b, pct);
	} else {
		n = (size_t)snprintf(line, sizeof line, "%s %s", p->label, a);
	}
	double secs = (double)(now - p->start_ns) / 1e9;
	uint64_t got = done > p->first ? done - p->first : 0;
	if (secs >= 0.5 && n < sizeof line) {
		double rate = (double)got / secs;
		cli_human_bytes((uint64_t)rate, r);
		n += (size_t)snprintf(line + n, sizeof line - n, "  %s/s", r);
		if (total && rate > 0 && done < total && n < sizeof line) {
			uint64_t eta = (uint64_t)((double)(total - done) / rate + 0.5);
			if (eta >= 3600)
				n += (size_t)snprintf(line + n, sizeof line - n, "  ETA %u:%02u:%02u",
						      (unsigned)(eta / 3600), (unsigned)(eta / 60 % 60),
						      (unsigned)(eta % 60));
			else
				n += (size_t)snprintf(line + n, sizeof line - n, "  ETA %u:%02u",
						      (unsigned)(eta / 60), (unsigned)(eta % 60));
		}
	}
	if (note && n < sizeof line)
		n += (size_t)snprintf(line + n, sizeof line - n, "  %s", note);
	if (n >= sizeof line)
		n = sizeof line - 1;
	/* Overwrite the previous line, and blank what is left of it. */
	fprintf(stderr, "\r%s", line);
	for (size_t i = n; i < p->drawn; i++)
		fputc(' ', stderr);
	fflush(stderr);
	p->drawn = n;
	p->last_ns = now;
}

void
cli_progress_update(struct cli_progress *p, uint64_t done, uint64_t total, const char *note)
{
	if (!p->on)
		return;
	uint64_t now = agora_mono_ns();
	if (!p->seen) {
		p->seen = true;
		p->first = done;
		p->start_ns = now;
	}
	if (p->drawn && now - p->last_ns < REDRAW_NS)
		return;
	draw(p, done, total, note, now);
}

void
cli_progress_end(struct cli_progress *p, uint64_t done, uint64_t total)
{
	if (!p->on || !p->seen)
		return;
	draw(p, done, total, NULL, agora_mono_ns());
	fputc('\n', stderr);
	p->drawn = 0;
	p->seen = false;
}
