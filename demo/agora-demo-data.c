/* agora-demo-data — plausible smart-city time series for the demo.
 *
 *   agora-demo-data [--seed N] [--end YYYY-MM-DD] [--days N] [--out DIR]
 *
 * Writes six CSV files into DIR (default "."):
 *
 *   air-quality.csv           timestamp,station,no2,pm10,pm25          hourly, 3 stations
 *   traffic-counts.csv        timestamp,counter,vehicles,avg_speed_kmh 15 min, 4 counters
 *   parking-occupancy.csv     timestamp,car_park,occupied,capacity,occupancy_pct  15 min, 5 car parks
 *   scooter-availability.csv  timestamp,zone,available,battery_avg_pct 10 min, 6 zones
 *   bike-trips.csv            trip_id,bike_id,start_time,end_time,start_station,
 *                             end_station,duration_s,distance_m        one row per trip
 *   bike-stations.csv         station_id,name,lon,lat,docks            reference data
 *
 * The series have what real sensor feeds have: daily and weekly cycles
 * (rush hours, quieter weekends and nights), slow weather-like drifts,
 * outages (runs of missing rows), the odd empty cell, a few faulty readings
 * (error codes, stuck or saturated sensors, values no sensor can measure:
 * outside the ranges the demo declares, so the quality metrics show them),
 * an occasional row sent twice, and a very rare unreadable cell ("ERR").
 *
 * Everything follows from the seed, the end date and the number of days:
 * the same arguments give byte-identical files.  The period covers the
 * `days` whole UTC days before `end` (exclusive).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef AGORA_VERSION
#define AGORA_VERSION "dev"
#endif

/* ---- deterministic randomness (splitmix64) ---------------------------- */

static uint64_t rng_state;

static uint64_t
rng_next(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static double
rnd(void)
{
	return (double)(rng_next() >> 11) * (1.0 / 9007199254740992.0);
}

/* Standard normal (Box–Muller; one value per call keeps the stream simple). */
static double
gauss(void)
{
	double u = rnd(), v = rnd();
	if (u < 1e-12)
		u = 1e-12;
	return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

static int
poisson(double lambda)
{
	if (lambda > 30) { /* normal approximation is fine for counts this large */
		int n = (int)lround(lambda + sqrt(lambda) * gauss());
		return n < 0 ? 0 : n;
	}
	double l = exp(-lambda), p = 1.0;
	int k = 0;
	do {
		k++;
		p *= rnd();
	} while (p > l);
	return k - 1;
}

/* ---- time ------------------------------------------------------------- */

static void
fmt_time(time_t t, char out[32])
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Hour of day as a fraction (0 ≤ h < 24) and day of week (0 = Monday). */
static double
hour_of(time_t t)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	return tm.tm_hour + tm.tm_min / 60.0;
}

static int
weekday_of(time_t t)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	return (tm.tm_wday + 6) % 7;
}

/* A bump centred on `at` (hours) with width `w`, wrapping around midnight. */
static double
bump(double h, double at, double w)
{
	double d = fabs(h - at);
	if (d > 12)
		d = 24 - d;
	return exp(-(d * d) / (2 * w * w));
}

/* Commuter profile: morning and evening peaks on weekdays, one broad
 * midday hump at weekends, quiet nights.  Roughly 0.05 … 1. */
static double
traffic_profile(double h, int wd)
{
	if (wd >= 5)
		return 0.08 + 0.55 * bump(h, 14.0, 3.5);
	return 0.06 + 0.9 * bump(h, 8.0, 1.2) + 0.8 * bump(h, 17.75, 1.5) + 0.35 * bump(h, 12.5, 2.5);
}

/* ---- outages: runs of missing rows ------------------------------------ */

#define MAX_OUTAGES 4
struct outages {
	int n;
	long from[MAX_OUTAGES], to[MAX_OUTAGES];	/* sample indices [from, to) */
};

/* Draws up to `max` outages, each `minlen`…`maxlen` samples long. */
static void
outages_draw(struct outages *o, long nsamples, int max, long minlen, long maxlen)
{
	o->n = (int)(rnd() * (max + 1));
	for (int i = 0; i < o->n; i++) {
		long len = minlen + (long)(rnd() * (double)(maxlen - minlen + 1));
		o->from[i] = (long)(rnd() * (double)(nsamples > len ? nsamples - len : 1));
		o->to[i] = o->from[i] + len;
	}
}

static int
outages_hit(const struct outages *o, long i)
{
	for (int k = 0; k < o->n; k++)
		if (i >= o->from[k] && i < o->to[k])
			return 1;
	return 0;
}

/* ---- output ----------------------------------------------------------- */

static FILE *
open_out(const char *dir, const char *name)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "agora-demo-data: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	return f;
}

static void
close_out(FILE *f, const char *name, long rows)
{
	if (ferror(f) || fclose(f) != 0) {
		fprintf(stderr, "agora-demo-data: writing %s failed\n", name);
		exit(1);
	}
	printf("%-26s %6ld rows\n", name, rows);
}

/* Rows are written through this so that the odd one is sent twice. */
static void
emit(FILE *f, const char *row, long *rows, double dup_rate)
{
	fputs(row, f);
	(*rows)++;
	if (rnd() < dup_rate) {
		fputs(row, f);
		(*rows)++;
	}
}

/* ---- the five series -------------------------------------------------- */

static void
air_quality(const char *dir, time_t start, int days)
{
	static const struct {
		const char *id;
		double traffic;	/* how much the station sees road traffic */
		double base_pm;
	} st[] = {
		{ "lyon-3e-garibaldi", 1.0, 18 },
		{ "lyon-7e-jean-mace", 0.75, 16 },
		{ "villeurbanne-tonkin", 0.55, 14 },
	};
	FILE *f = open_out(dir, "air-quality.csv");
	fputs("timestamp,station,no2,pm10,pm25\n", f);
	long rows = 0, n = (long)days * 24;
	for (size_t s = 0; s < sizeof st / sizeof st[0]; s++) {
		struct outages out;
		outages_draw(&out, n, 2, 3, 14);
		double weather = 0;	/* slow drift shared by the PM readings */
		for (long i = 0; i < n; i++) {
			time_t t = start + (time_t)i * 3600;
			weather = 0.97 * weather + 0.25 * gauss();
			if (outages_hit(&out, i))
				continue;
			double h = hour_of(t);
			int wd = weekday_of(t);
			double tp = traffic_profile(h, wd);
			double no2 = 12 + 48 * st[s].traffic * tp + 5 * weather + 4 * gauss();
			double pm10 = st[s].base_pm * (1 + 0.25 * weather) + 10 * st[s].traffic * tp + 3 * gauss();
			double pm25 = 0.62 * pm10 + 1.5 * gauss();
			if (no2 < 2)
				no2 = 2 + rnd();
			if (pm10 < 3)
				pm10 = 3 + rnd();
			if (pm25 < 1)
				pm25 = 1 + rnd();
			char ts[32], c1[32], c2[32], c3[32], row[256];
			fmt_time(t, ts);
			snprintf(c1, sizeof c1, "%.1f", no2);
			snprintf(c2, sizeof c2, "%.1f", pm10);
			snprintf(c3, sizeof c3, "%.1f", pm25);
			double r = rnd();
			if (r < 0.003)
				strcpy(c1, "-999");	/* the analyser's error code */
			else if (r < 0.005)
				strcpy(c2, "1450.0");	/* a saturated optical counter */
			else if (r < 0.0055)
				strcpy(c3, "ERR");	/* unreadable: the row is refused */
			else if (r < 0.02)
				c3[0] = '\0';		/* PM2.5 channel missing this hour */
			snprintf(row, sizeof row, "%s,%s,%s,%s,%s\n", ts, st[s].id, c1, c2, c3);
			emit(f, row, &rows, 0.002);
		}
	}
	close_out(f, "air-quality.csv", rows);
}

static void
traffic_counts(const char *dir, time_t start, int days)
{
	static const struct {
		const char *id;
		double peak;	/* vehicles per 15 min at the busiest moment */
		double free_speed;
	} ct[] = {
		{ "quai-augagneur-n", 420, 48 },
		{ "cours-lafayette-e", 360, 42 },
		{ "avenue-berthelot-s", 300, 45 },
		{ "rue-garibaldi-n", 380, 40 },
	};
	FILE *f = open_out(dir, "traffic-counts.csv");
	fputs("timestamp,counter,vehicles,avg_speed_kmh\n", f);
	long rows = 0, n = (long)days * 96;
	for (size_t c = 0; c < sizeof ct / sizeof ct[0]; c++) {
		struct outages out;
		outages_draw(&out, n, 2, 4, 24);
		long stuck_from = rnd() < 0.5 ? (long)(rnd() * (double)n) : -1;	/* a loop detector that sticks at 0 */
		for (long i = 0; i < n; i++) {
			time_t t = start + (time_t)i * 900;
			if (outages_hit(&out, i))
				continue;
			double tp = traffic_profile(hour_of(t), weekday_of(t));
			int veh = poisson(ct[c].peak * tp);
			double load = tp > 1 ? 1 : tp;
			double speed = ct[c].free_speed * (1 - 0.55 * load * load) + 2.5 * gauss();
			if (speed < 5)
				speed = 5 + rnd() * 3;
			char ts[32], row[256];
			fmt_time(t, ts);
			if (stuck_from >= 0 && i >= stuck_from && i < stuck_from + 12)
				snprintf(row, sizeof row, "%s,%s,0,\n", ts, ct[c].id);
			else if (rnd() < 0.001)
				snprintf(row, sizeof row, "%s,%s,65535,%.1f\n", ts, ct[c].id, speed);	/* counter overflow */
			else
				snprintf(row, sizeof row, "%s,%s,%d,%.1f\n", ts, ct[c].id, veh, speed);
			emit(f, row, &rows, 0.001);
		}
	}
	close_out(f, "traffic-counts.csv", rows);
}

static void
parking(const char *dir, time_t start, int days)
{
	static const struct {
		const char *id;
		int capacity;
		int kind;	/* 0 offices, 1 shopping, 2 station (park and ride) */
	} cp[] = {
		{ "part-dieu-centre", 1200, 1 },
		{ "bellecour", 650, 1 },
		{ "perrache", 1400, 2 },
		{ "gerland-bureaux", 480, 0 },
		{ "vaise-parc-relais", 900, 2 },
	};
	FILE *f = open_out(dir, "parking-occupancy.csv");
	fputs("timestamp,car_park,occupied,capacity,occupancy_pct\n", f);
	long rows = 0, n = (long)days * 96;
	for (size_t c = 0; c < sizeof cp / sizeof cp[0]; c++) {
		struct outages out;
		outages_draw(&out, n, 1, 8, 40);
		double drift = 0;
		for (long i = 0; i < n; i++) {
			time_t t = start + (time_t)i * 900;
			drift = 0.95 * drift + 0.01 * gauss();
			if (outages_hit(&out, i))
				continue;
			double h = hour_of(t);
			int wd = weekday_of(t);
			double occ;
			if (cp[c].kind == 0)
				occ = wd >= 5 ? 0.08 : 0.1 + 0.78 * (bump(h, 11.5, 2.8) > 0.35 ? 1 : bump(h, 11.5, 2.8) / 0.35);
			else if (cp[c].kind == 1)
				occ = 0.12 + (wd == 6 ? 0.25 : 0.7) * bump(h, 16.0, 3.2) + (wd == 5 ? 0.15 : 0) * bump(h, 15, 3);
			else
				occ = wd >= 5 ? 0.2 + 0.15 * bump(h, 13, 4) : 0.15 + 0.75 * (h > 7 && h < 18.5 ? 1 : bump(h, h < 12 ? 7 : 18.5, 0.8));
			occ += drift + 0.02 * gauss();
			if (occ < 0.02)
				occ = 0.02;
			if (occ > 0.99)
				occ = 0.99;
			int used = (int)lround(occ * cp[c].capacity);
			if (rnd() < 0.002)
				used = cp[c].capacity + 40 + (int)(rnd() * 200);	/* miscounted exits */
			char ts[32], row[256];
			fmt_time(t, ts);
			snprintf(row, sizeof row, "%s,%s,%d,%d,%.1f\n", ts, cp[c].id, used, cp[c].capacity,
				 100.0 * used / cp[c].capacity);
			emit(f, row, &rows, 0.001);
		}
	}
	close_out(f, "parking-occupancy.csv", rows);
}

static void
scooters(const char *dir, time_t start, int days)
{
	static const struct {
		const char *id;
		int fleet;
	} z[] = {
		{ "presquile", 140 }, { "part-dieu", 120 }, { "confluence", 80 },
		{ "croix-rousse", 60 }, { "guillotiere", 90 }, { "gerland", 70 },
	};
	FILE *f = open_out(dir, "scooter-availability.csv");
	fputs("timestamp,zone,available,battery_avg_pct\n", f);
	long rows = 0, n = (long)days * 144;
	for (size_t k = 0; k < sizeof z / sizeof z[0]; k++) {
		struct outages out;
		outages_draw(&out, n, 2, 3, 18);
		for (long i = 0; i < n; i++) {
			time_t t = start + (time_t)i * 600;
			if (outages_hit(&out, i))
				continue;
			double h = hour_of(t);
			double use = traffic_profile(h, weekday_of(t)) + 0.4 * bump(h, 21, 1.5);
			/* Batteries drain through the day; the night crew swaps them around 4–6 h. */
			double battery = 95 - 55 * ((h >= 6 ? h - 6 : h + 18) / 24.0) + 4 * gauss();
			int avail = (int)lround(z[k].fleet * (0.85 - 0.45 * (use > 1 ? 1 : use)) + 4 * gauss());
			if (h >= 3.5 && h < 6)	/* collected for charging */
				avail = (int)lround(avail * 0.3);
			if (avail < 0)
				avail = 0;
			char ts[32], row[256];
			fmt_time(t, ts);
			if (rnd() < 0.0015)
				snprintf(row, sizeof row, "%s,%s,%d,255\n", ts, z[k].id, avail);	/* unset battery field */
			else
				snprintf(row, sizeof row, "%s,%s,%d,%.0f\n", ts, z[k].id, avail,
					 battery < 5 ? 5 : battery > 100 ? 100 : battery);
			emit(f, row, &rows, 0.001);
		}
	}
	close_out(f, "scooter-availability.csv", rows);
}

/* The bike-share stations: the trips' ends and a reference file of their own. */
static const struct {
	const char *id, *name;
	double lon, lat;
	int docks;
} stn[] = {
	{ "1001-terreaux", "Place des Terreaux", 4.8337, 45.7675, 24 },
	{ "2004-bellecour", "Bellecour", 4.8320, 45.7578, 40 },
	{ "3010-part-dieu", "Gare Part-Dieu", 4.8597, 45.7606, 36 },
	{ "3082-guillotiere", "Guillotière", 4.8424, 45.7553, 20 },
	{ "4002-croix-rousse", "Croix-Rousse", 4.8313, 45.7743, 18 },
	{ "7024-jean-mace", "Jean Macé", 4.8427, 45.7453, 22 },
	{ "7061-gerland", "Stade de Gerland", 4.8337, 45.7297, 16 },
	{ "2030-perrache", "Perrache", 4.8260, 45.7486, 30 },
	{ "6005-brotteaux", "Brotteaux", 4.8587, 45.7680, 20 },
	{ "9001-vaise", "Gare de Vaise", 4.8045, 45.7745, 26 },
};
#define NSTATIONS (sizeof stn / sizeof stn[0])

static void
bike_stations(const char *dir)
{
	FILE *f = open_out(dir, "bike-stations.csv");
	fputs("station_id,name,lon,lat,docks\n", f);
	for (size_t i = 0; i < NSTATIONS; i++)
		fprintf(f, "%s,%s,%.4f,%.4f,%d\n", stn[i].id, stn[i].name, stn[i].lon, stn[i].lat, stn[i].docks);
	close_out(f, "bike-stations.csv", (long)NSTATIONS);
}

static void
bike_trips(const char *dir, time_t start, int days)
{
	const size_t ns = NSTATIONS;
	FILE *f = open_out(dir, "bike-trips.csv");
	fputs("trip_id,bike_id,start_time,end_time,start_station,end_station,duration_s,distance_m\n", f);
	long rows = 0, trip = 0;
	for (long hr = 0; hr < (long)days * 24; hr++) {
		time_t t0 = start + (time_t)hr * 3600;
		double tp = traffic_profile(hour_of(t0), weekday_of(t0));
		int ntrips = poisson(30 * tp);
		for (int k = 0; k < ntrips; k++) {
			size_t a = (size_t)(rnd() * ns), b = (size_t)(rnd() * ns);
			double dx = (stn[a].lon - stn[b].lon) * 77800, dy = (stn[a].lat - stn[b].lat) * 111200;
			double dist = 1.3 * sqrt(dx * dx + dy * dy) + 300 + 200 * rnd();	/* streets are not straight */
			if (a == b)	/* a round trip */
				dist = 800 + 3000 * rnd();
			double speed = 3.6 + 0.8 * gauss();	/* m/s */
			if (speed < 2)
				speed = 2;
			long dur = (long)(dist / speed) + 30;
			time_t ts0 = t0 + (time_t)(rnd() * 3600);
			char s0[32], s1[32], row[512];
			fmt_time(ts0, s0);
			fmt_time(ts0 + dur, s1);
			trip++;
			if (rnd() < 0.002)	/* a dock that failed to register the return */
				snprintf(row, sizeof row, "T%07ld,B%04d,%s,,%s,,,\n", trip,
					 (int)(rnd() * 3000) + 1, s0, stn[a].id);
			else
				snprintf(row, sizeof row, "T%07ld,B%04d,%s,%s,%s,%s,%ld,%.0f\n", trip,
					 (int)(rnd() * 3000) + 1, s0, s1, stn[a].id, stn[b].id, dur, dist);
			emit(f, row, &rows, 0);
		}
	}
	close_out(f, "bike-trips.csv", rows);
}

/* ---- main ------------------------------------------------------------- */

static void
usage(FILE *f)
{
	fputs("Usage: agora-demo-data [--seed N] [--end YYYY-MM-DD] [--days N] [--out DIR]\n"
	      "Writes the demo's CSV time series (air quality, traffic counts, parking\n"
	      "occupancy, e-scooter availability, bike-share trips and stations) into DIR.\n\n"
	      "  --seed N          random seed (default 42); same arguments, same bytes\n"
	      "  --end YYYY-MM-DD  the series end at 00:00 UTC of this day (default 2026-11-25)\n"
	      "  --days N          number of days before --end (1-366, default 14)\n"
	      "  --out DIR         output directory, which must exist (default .)\n"
	      "  --help, --version\n",
	      f);
}

int
main(int argc, char **argv)
{
	uint64_t seed = 42;
	const char *end = "2026-11-25", *dir = ".";
	long days = 14;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "--version")) {
			printf("agora-demo-data %s\n", AGORA_VERSION);
			return 0;
		} else if (v && !strcmp(a, "--seed")) {
			char *e;
			seed = strtoull(v, &e, 10);
			if (*e || !*v)
				goto bad;
			i++;
		} else if (v && !strcmp(a, "--end")) {
			end = v;
			i++;
		} else if (v && !strcmp(a, "--days")) {
			char *e;
			days = strtol(v, &e, 10);
			if (*e || days < 1 || days > 366)
				goto bad;
			i++;
		} else if (v && !strcmp(a, "--out")) {
			dir = v;
			i++;
		} else {
			goto bad;
		}
	}
	struct tm tm = { 0 };
	const char *rest = strptime(end, "%Y-%m-%d", &tm);
	if (!rest || *rest)
		goto bad;
	time_t start = timegm(&tm) - (time_t)days * 86400;

	/* One stream per series, so adding a series never changes the others. */
	rng_state = seed ^ 0x61697271ull;
	air_quality(dir, start, (int)days);
	rng_state = seed ^ 0x74726166ull;
	traffic_counts(dir, start, (int)days);
	rng_state = seed ^ 0x7061726bull;
	parking(dir, start, (int)days);
	rng_state = seed ^ 0x73636f6full;
	scooters(dir, start, (int)days);
	rng_state = seed ^ 0x62696b65ull;
	bike_trips(dir, start, (int)days);
	bike_stations(dir);
	return 0;
bad:
	usage(stderr);
	return 2;
}
