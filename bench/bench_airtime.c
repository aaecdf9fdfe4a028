/*
 * bench_airtime.c - B1: a batch of real mail over HF (BENCHMARKS.md).
 *
 *   bench_airtime CORPUS_DIR NAME COUNT [JSON_OUT [SEG_BYTES]]
 *   bench_airtime --packing CORPUS_DIR NAME COUNT [JSON_OUT]
 *   bench_airtime --noisy CORPUS_DIR NAME COUNT [JSON_OUT [PROFILE]]
 *
 * Loads the first COUNT messages (*.txt in name order) of CORPUS_DIR, with
 * CRLF line ends as on the air, and measures in one run, on hw-sim's channel
 * model for the firmware profile hf-2400-hd (2400 bit/s, half duplex,
 * 2000 ms turnaround, 120 s maximum transmission, MTU 1024), frames carried
 * by skywave's byte-stream framing as over a raw serial modem:
 *   skywave  both gateways in process (xfer_sim), all messages submitted at
 *            t=0 to A; channel time from the first byte on air to the last
 *            commit at B; every byte on air; direction changes. Both
 *            gateways offer zstd (as skywave does); skywave-deflate is the
 *            same run with a peer that does not (deflate, header
 *            dictionary), skywave-nodict deflate without a dictionary.
 *   smtp     SMTP with PIPELINING over the link: exact dialogue bytes and 9
 *            direction changes per message.
 *   b2f      each message raw-deflated on its own (-9) plus 250 bytes of
 *            framing; proposals in blocks of 5, 6 direction changes a block.
 *   limit    the batch as one xz -9e stream, one burst, no turnarounds.
 * Also prints the compression alternatives measured on the same messages
 * (per-message deflate, with the preset dictionary, one stream, one stream
 * with the dictionary) that docs/air-protocol.md s7 cites.
 *
 * Prints a table; with JSON_OUT writes one JSON object (appends nothing).
 *
 * Lossless re-encoding (docs/air-protocol.md s6, flag 16): the row
 * skywave-packed sends each message in mime_pack form where the sender
 * would (shorter, and unpacks to the original octet for octet). With
 * --packing only such messages are taken (the first COUNT of the corpus
 * that pack: messages with base64/QP attachments), and the batch is sent
 * as stored and packed. xfer_sim hashes what it is given, so the packed
 * stream travels unflagged here: the real envelope is 1-4 bytes longer
 * per packed message (the orig_size varint), which is counted in.
 */
#include "common/buf.h"
#include "common/xmalloc.h"
#include "gateway/air/air_dict.h"
#include "gateway/air/mime_reencode.h"
#include "gateway/conneg/conv.h"
#include "tests/air/air_hwchan.h"
#include "tests/lib/xfer_sim.h"

#include <dirent.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#define RATE_BPS 2400
#define TURN_MS 2000
#define BYTES_PER_S (RATE_BPS / 8)

struct msg {
	char *name;
	struct buf data; /* CRLF */
	char from[256], to[256];
};

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
header_addr(const struct buf *b, const char *field, char *out, size_t cap,
    const char *dflt)
{
	size_t fl = strlen(field);
	const char *p = (const char *)b->data;
	snprintf(out, cap, "%s", dflt);
	while (p && *p && !(p[0] == '\r' && p[1] == '\n')) {
		if (strncasecmp(p, field, fl) == 0) {
			const char *lt = strchr(p, '<'), *eol = strstr(p, "\r\n");
			const char *v = p + fl;
			if (lt && eol && lt < eol) {
				const char *gt = memchr(lt, '>', (size_t)(eol - lt));
				if (gt && gt > lt + 1) {
					snprintf(out, cap, "%.*s",
					    (int)(gt - lt - 1), lt + 1);
					return;
				}
			}
			while (*v == ' ')
				v++;
			if (eol && eol > v && !memchr(v, ' ', (size_t)(eol - v))) {
				snprintf(out, cap, "%.*s", (int)(eol - v), v);
				return;
			}
		}
		p = strstr(p, "\r\n");
		if (p)
			p += 2;
	}
}

static size_t
load(const char *dir, size_t want, struct msg **out)
{
	DIR *d = opendir(dir);
	if (!d) {
		perror(dir);
		exit(2);
	}
	char **names = NULL;
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (l > 4 && strcmp(de->d_name + l - 4, ".txt") == 0) {
			names = xrealloc(names, (n + 1) * sizeof(*names));
			names[n++] = xstrdup(de->d_name);
		}
	}
	closedir(d);
	qsort(names, n, sizeof(*names), cmp_str);
	size_t nnames = n;
	if (n > want)
		n = want;
	struct msg *m = xcalloc(n, sizeof(*m));
	for (size_t i = 0; i < n; i++) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		FILE *f = fopen(path, "rb");
		if (!f) {
			perror(path);
			exit(2);
		}
		int c, prev = 0;
		while ((c = getc(f)) != EOF) {
			if (c == '\n' && prev != '\r')
				buf_append_byte(&m[i].data, '\r');
			buf_append_byte(&m[i].data, (uint8_t)c);
			prev = c;
		}
		fclose(f);
		m[i].name = names[i];
		header_addr(&m[i].data, "Return-Path:", m[i].from,
		    sizeof(m[i].from), "sender@field.example");
		header_addr(&m[i].data, "Delivered-To:", m[i].to,
		    sizeof(m[i].to), "rcpt@base.example");
	}
	for (size_t i = n; names && i < nnames; i++)
		free(names[i]);
	free(names);
	*out = m;
	return n;
}

/* hw-sim's channel for the firmware profile hf-2400-hd (2400 bit/s, half
 * duplex, 2000 ms turnaround, 120 s max_tx, MTU 1024, no errors). */
static const char *g_profile = "hf-2400-hd";
static bool g_clean; /* the profile's channel without its faults */

static void
attach_profile(struct xsim_config *c)
{
	char dir[4096], err[512];
	const char *src = getenv("SKYWAVE_SRC");
	snprintf(dir, sizeof(dir), "%s/firmware-profiles", src ? src : ".");
	if (air_hwchan_from_profile_clean(c, g_profile, dir, c->seed, g_clean,
	    err, sizeof(err)) < 0) {
		fprintf(stderr, "bench: profile %s: %s\n", g_profile, err);
		exit(2);
	}
	if (strcmp(g_profile, "hf-2400-hd") != 0)
		return;
	if (c->caps.rate_bps != RATE_BPS ||
	    c->caps.turnaround_ms != TURN_MS) {
		fprintf(stderr, "bench: hf-2400-hd is not 2400 bit/s with a "
		    "2000 ms turnaround any more\n");
		exit(2);
	}
}

struct fig {
	double channel_s;
	uint64_t air_bytes, turns;
	uint64_t retx_frames, retx_bytes; /* both sides */
};

static bool
all_done(struct xsim *s, void *arg)
{
	(void)arg;
	return xsim_all_done(s, XSIM_A);
}

/* Codec figures of the last zstd run: heap bytes of both directions'
 * contexts at the end of the batch, and A's stream bytes. */
static size_t g_codec_bytes;
/* Fixed costs of the last zstd run: record plaintext beyond the messages,
 * rounds (flushes), A's frames, B's stream (acknowledgements). */
static uint64_t g_rec_plain, g_rounds, g_frames_a, g_frames_b, g_b_stream;
/* Envelope digest bytes the last zstd run agreed on (16 with 0x10). */
static int g_digest_bytes = XFER_SHA_BYTES;

static struct fig
run_skywave(const struct msg *m, size_t n, double *wall_s, uint16_t dict,
    size_t seg_bytes, bool zstd)
{
	struct xsim_config c = {
		.seed = 1,
		.dict_id = dict,
		.seg_bytes = seg_bytes,
		.quiet = true,
		.zstd = zstd,
	};
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	attach_profile(&c);
	struct xsim *s = xsim_new(&c);
	for (size_t i = 0; i < n; i++) {
		struct xfer_env e;
		xfer_env_init(&e);
		for (int k = 0; k < XFER_ID_BYTES; k++)
			e.id[k] = (uint8_t)((i * 131 + (size_t)k * 7 + 1) >> (k % 3));
		memcpy(e.id, &i, sizeof(i));
		e.from = xstrdup(m[i].from);
		xfer_env_add_rcpt(&e, m[i].to, 0, NULL, NULL);
		xsim_submit(s, XSIM_A, &e, m[i].data.data, m[i].data.len);
		xfer_env_fini(&e);
	}
	xsim_start(s);
	if (!xsim_run(s, 24LL * 3600 * 1000, all_done, NULL)) {
		fprintf(stderr, "bench_airtime: batch not done in 24 h\n");
		exit(1);
	}
	char why[200];
	if (xsim_check(s, why, sizeof(why)) != 0) {
		fprintf(stderr, "bench_airtime: invariant: %s\n", why);
		exit(1);
	}
	int64_t last = 0;
	for (size_t i = 0; i < n; i++) {
		const struct xsim_msg *d = xsim_delivered(s, XSIM_A, i);
		if (d && d->commit_ms > last)
			last = d->commit_ms;
	}
	if (zstd) {
		const struct xfer_stats *xa = xfer_get_stats(xsim_xfer(s,
		    XSIM_A));
		uint64_t raw = 0;
		for (size_t i = 0; i < n; i++)
			raw += m[i].data.len;
		g_codec_bytes = xfer_codec_bytes(xsim_xfer(s, XSIM_A));
		g_rec_plain = xa->plain_out - raw;
		g_rounds = xa->rounds;
		g_frames_a = link_get_stats(xsim_link(s, XSIM_A))->frames_out;
		g_frames_b = link_get_stats(xsim_link(s, XSIM_B))->frames_out;
		g_b_stream = xfer_get_stats(xsim_xfer(s, XSIM_B))->comp_out;
		g_digest_bytes = (link_features(xsim_link(s, XSIM_A)) &
		    LINK_FEAT_SHA128) ? XFER_SHA_SHORT : XFER_SHA_BYTES;
	}
	struct fig f = {
		.channel_s = (double)(last - xsim_first_air_ms(s)) / 1000.0,
		.air_bytes = xsim_chan(s)->air_bytes,
		.turns = xsim_chan(s)->turns,
	};
	for (int side = 0; side < 2; side++) {
		const struct link_stats *ls = link_get_stats(xsim_link(s, side));
		f.retx_frames += ls->retransmits;
		f.retx_bytes += ls->retx_bytes;
	}
	xsim_free(s);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	*wall_s = (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	return f;
}

static struct fig
run_smtp(const struct msg *m, size_t n)
{
	/* One session: greeting, EHLO and its reply, then per message the
	 * PIPELINING group and replies, the dot-stuffed content, the final
	 * reply; QUIT at the end. Direction changes per message: 9 (the
	 * figure BENCHMARKS.md fixes for SMTP with PIPELINING). */
	uint64_t bytes = strlen("220 gw-b.example ESMTP skywave\r\n") +
	    strlen("EHLO gw-a.example\r\n") +
	    strlen("250-gw-b.example\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n"
		   "250-8BITMIME\r\n250-DSN\r\n250 ENHANCEDSTATUSCODES\r\n") +
	    strlen("QUIT\r\n") + strlen("221 2.0.0 Bye\r\n");
	uint64_t turns = 2;
	for (size_t i = 0; i < n; i++) {
		char line[700];
		bytes += (uint64_t)snprintf(line, sizeof(line),
		    "MAIL FROM:<%s> SIZE=%zu\r\nRCPT TO:<%s>\r\nDATA\r\n",
		    m[i].from, m[i].data.len, m[i].to);
		bytes += strlen("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
		    "354 End data with <CR><LF>.<CR><LF>\r\n");
		const uint8_t *p = m[i].data.data;
		size_t len = m[i].data.len;
		bytes += len;
		/* dot-stuffing */
		if (len && p[0] == '.')
			bytes++;
		for (size_t k = 0; k + 2 < len; k++)
			if (p[k] == '\r' && p[k + 1] == '\n' && p[k + 2] == '.')
				bytes++;
		if (len < 2 || p[len - 2] != '\r' || p[len - 1] != '\n')
			bytes += 2;
		bytes += strlen(".\r\n");
		bytes += strlen("250 2.0.0 Ok: queued as 4Bx7Yz1234\r\n");
		turns += 9;
	}
	struct fig f = { .air_bytes = bytes, .turns = turns };
	f.channel_s = (double)bytes / BYTES_PER_S + (double)turns * TURN_MS /
	    1000.0;
	return f;
}

static size_t
deflate_size(const uint8_t *p, size_t n, const uint8_t *dict, size_t dl)
{
	z_stream z;
	memset(&z, 0, sizeof(z));
	deflateInit2(&z, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY);
	if (dict)
		deflateSetDictionary(&z, dict, (uInt)dl);
	uLong bound = deflateBound(&z, (uLong)n);
	uint8_t *out = xmalloc(bound + 64);
	z.next_in = (Bytef *)(uintptr_t)p;
	z.avail_in = (uInt)n;
	z.next_out = out;
	z.avail_out = (uInt)bound + 64;
	deflate(&z, Z_FINISH);
	size_t r = z.total_out;
	deflateEnd(&z);
	free(out);
	return r;
}

static struct fig
run_b2f(const struct msg *m, size_t n)
{
	uint64_t bytes = 0;
	for (size_t i = 0; i < n; i++)
		bytes += deflate_size(m[i].data.data, m[i].data.len, NULL, 0) +
		    250;
	uint64_t blocks = (n + 4) / 5;
	struct fig f = { .air_bytes = bytes, .turns = blocks * 6 };
	f.channel_s = (double)bytes / BYTES_PER_S + (double)f.turns * TURN_MS /
	    1000.0;
	return f;
}

static struct fig
run_limit(const struct msg *m, size_t n)
{
	char tmpl[] = "/tmp/bench_airtime_XXXXXX";
	int fd = mkstemp(tmpl);
	if (fd < 0) {
		perror("mkstemp");
		exit(2);
	}
	FILE *f = fdopen(fd, "wb");
	for (size_t i = 0; i < n; i++)
		fwrite(m[i].data.data, 1, m[i].data.len, f);
	fclose(f);
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "xz -9e -c %s | wc -c", tmpl);
	FILE *p = popen(cmd, "r");
	unsigned long long sz = 0;
	if (!p || fscanf(p, "%llu", &sz) != 1) {
		fprintf(stderr, "bench_airtime: xz failed\n");
		exit(2);
	}
	pclose(p);
	unlink(tmpl);
	struct fig r = { .air_bytes = sz, .turns = 0 };
	r.channel_s = (double)sz / BYTES_PER_S;
	return r;
}

/* Speed of the transfer layer with zstd, CPU only: the batch from one
 * xfer to another back to back (records, zstd level and window as on the
 * air, SHA-256, decompression): raw message bytes per second of wall
 * time. */
static long
cs_read(void *a, const uint8_t *id, uint64_t off, uint8_t *p, size_t len)
{
	const struct msg *m = a;
	size_t i;
	memcpy(&i, id, sizeof(i));
	const struct buf *b = &m[i].data;
	if (off > b->len)
		return -1;
	if (len > b->len - off)
		len = (size_t)(b->len - off);
	memcpy(p, b->data + off, len);
	return (long)len;
}
static void
cs_rel(void *a, const uint8_t *id, bool d)
{
	(void)a, (void)id, (void)d;
}
static bool
cs_com(void *a, const uint8_t *id)
{
	(void)a, (void)id;
	return false;
}
static void
cs_part(void *a, const struct xfer_env *e, uint64_t o, const uint8_t *p,
    size_t l)
{
	(void)a, (void)e, (void)o, (void)p, (void)l;
}
static struct xfer *cs_rx;
static void
cs_commit(void *a, const struct xfer_env *e, const uint8_t *c, size_t l)
{
	(void)a, (void)c, (void)l;
	xfer_commit_done(cs_rx, e->id, 0);
}

static double
codec_speed(const struct msg *m, size_t n)
{
	struct xfer_store st = { cs_read, cs_rel, cs_com, cs_part, cs_commit,
		(void *)(uintptr_t)m };
	struct xfer_config xc = { .name = "speed" };
	struct xfer *a = xfer_new(&xc, &st), *b = xfer_new(&xc, &st);
	uint8_t p[4096];
	size_t k;
	uint64_t raw = 0;
	struct timespec t0, t1;
	cs_rx = b;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	xfer_link_up(a, XFER_CODEC_ZSTD, 0);
	xfer_link_up(b, XFER_CODEC_ZSTD, 0);
	for (size_t i = 0; i < n; i++) {
		struct xfer_env e;
		xfer_env_init(&e);
		memcpy(e.id, &i, sizeof(i));
		e.from = xstrdup(m[i].from);
		e.size = m[i].data.len;
		xfer_sha256(e.sha256, m[i].data.data, m[i].data.len);
		xfer_env_add_rcpt(&e, m[i].to, 0, NULL, NULL);
		xfer_out_add(a, &e);
		xfer_env_fini(&e);
		raw += m[i].data.len;
	}
	while ((k = xfer_pull(b, p, sizeof(p))) > 0)
		xfer_deliver(a, p, k);
	while ((k = xfer_pull(a, p, sizeof(p))) > 0)
		xfer_deliver(b, p, k);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (xfer_get_stats(b)->committed != n)
		fprintf(stderr, "bench_airtime: speed run committed %llu of "
		    "%zu\n", (unsigned long long)xfer_get_stats(b)->committed,
		    n);
	xfer_free(a);
	xfer_free(b);
	double s = (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	return (double)raw / s;
}

static void
ratios(const struct msg *m, size_t n, uint64_t raw)
{
	size_t dl;
	const uint8_t *dict = air_dict_get(AIR_DICT_HEADERS, &dl);
	uint64_t per = 0, perd = 0;
	struct buf all = BUF_INIT;
	for (size_t i = 0; i < n; i++) {
		per += deflate_size(m[i].data.data, m[i].data.len, NULL, 0);
		perd += deflate_size(m[i].data.data, m[i].data.len, dict, dl);
		buf_append(&all, m[i].data.data, m[i].data.len);
	}
	uint64_t st = deflate_size(all.data, all.len, NULL, 0);
	uint64_t std = deflate_size(all.data, all.len, dict, dl);
	printf("compression (raw/compressed): per-message %.2fx, per-message"
	    "+dict %.2fx, stream %.2fx, stream+dict %.2fx\n",
	    (double)raw / (double)per, (double)raw / (double)perd,
	    (double)raw / (double)st, (double)raw / (double)std);
	buf_fini(&all);
}

/* The air form of m: the mime_pack form when the sender would use it
 * (shorter, and unpacks to m octet for octet), else a copy of m. Returns
 * true when packed. */
static bool
air_form(const struct msg *m, struct msg *out)
{
	struct buf packed = BUF_INIT, back = BUF_INIT;
	struct mime_pack_stats st;
	bool use = false;

	*out = *m;
	out->name = xstrdup(m->name);
	buf_init(&out->data);
	mime_pack(m->data.data, m->data.len, &packed, &st);
	if (st.parts_packed > 0 && packed.len < m->data.len &&
	    mime_unpack(packed.data, packed.len, &back) == 0 &&
	    back.len == m->data.len &&
	    memcmp(back.data, m->data.data, back.len) == 0)
		use = true;
	if (use)
		buf_swap(&out->data, &packed);
	else
		buf_append(&out->data, m->data.data, m->data.len);
	buf_fini(&packed);
	buf_fini(&back);
	return use;
}

static size_t
varint_len(uint64_t v)
{
	size_t n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

/* The batch in air form; *npacked messages packed, *extra the envelope
 * bytes the real protocol adds for them (orig_size). */
static struct msg *
pack_batch(const struct msg *m, size_t n, size_t *npacked, uint64_t *extra)
{
	struct msg *p = xcalloc(n ? n : 1, sizeof(*p));
	*npacked = 0;
	*extra = 0;
	for (size_t i = 0; i < n; i++) {
		if (air_form(&m[i], &p[i])) {
			(*npacked)++;
			*extra += varint_len(m[i].data.len);
		}
	}
	return p;
}

static void
free_batch(struct msg *m, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		buf_fini(&m[i].data);
		free(m[i].name);
	}
	free(m);
}

/* Add the envelope bytes xfer_sim did not carry, as airtime. */
static void
fig_add_bytes(struct fig *f, uint64_t extra)
{
	f->air_bytes += extra;
	f->channel_s += (double)extra / BYTES_PER_S;
}

static void
json_fig(FILE *f, const char *name, const struct fig *x, bool last)
{
	fprintf(f, "\"%s\": {\"channel_s\": %.1f, \"air_bytes\": %llu, "
	    "\"turns\": %llu}%s", name, x->channel_s,
	    (unsigned long long)x->air_bytes, (unsigned long long)x->turns,
	    last ? "" : ", ");
}

static void
json_fig(FILE *f, const char *name, const struct fig *x, bool last);

/* --noisy (B7): the batch over a profile with its [sim] faults and over
 * the same channel without them; goodput is message bytes committed per
 * second of channel time. */
static int
main_noisy(int argc, char **argv)
{
	struct msg *m;
	size_t n = load(argv[1], (size_t)strtoul(argv[3], NULL, 10), &m);
	uint64_t raw = 0;
	double w;
	for (size_t i = 0; i < n; i++)
		raw += m[i].data.len;
	g_profile = argc > 5 ? argv[5] : "hf-300-hd-noisy";
	g_clean = false;
	struct fig no = run_skywave(m, n, &w, AIR_DICT_HEADERS, 0, true);
	g_clean = true;
	struct fig cl = run_skywave(m, n, &w, AIR_DICT_HEADERS, 0, true);
	double gn = (double)raw / no.channel_s, gc = (double)raw / cl.channel_s;
	printf("B7 noisy: %s, %zu messages, %llu raw bytes, %s with and "
	    "without its errors\n", argv[2], n, (unsigned long long)raw,
	    g_profile);
	printf("%-8s %10s %10s %6s %11s %10s %10s\n", "channel", "channel_s",
	    "air_bytes", "turns", "goodput_Bps", "retx_frm", "retx_bytes");
	const struct fig *all[] = { &no, &cl };
	const char *names[] = { "noisy", "clean" };
	for (int i = 0; i < 2; i++)
		printf("%-8s %10.1f %10llu %6llu %11.1f %10llu %10llu\n",
		    names[i], all[i]->channel_s,
		    (unsigned long long)all[i]->air_bytes,
		    (unsigned long long)all[i]->turns,
		    (double)raw / all[i]->channel_s,
		    (unsigned long long)all[i]->retx_frames,
		    (unsigned long long)all[i]->retx_bytes);
	printf("noisy/clean goodput %.3f (goal >= 0.80)\n", gn / gc);
	if (argc > 4) {
		FILE *f = fopen(argv[4], "w");
		if (!f) {
			perror(argv[4]);
			return 2;
		}
		fprintf(f, "{\"corpus\": \"%s\", \"messages\": %zu, "
		    "\"raw_bytes\": %llu, \"profile\": \"%s\", ", argv[2], n,
		    (unsigned long long)raw, g_profile);
		for (int i = 0; i < 2; i++)
			fprintf(f, "\"%s\": {\"channel_s\": %.1f, \"air_bytes\": "
			    "%llu, \"turns\": %llu, \"goodput_Bps\": %.2f, "
			    "\"retx_frames\": %llu, \"retx_bytes\": %llu}, ",
			    names[i], all[i]->channel_s,
			    (unsigned long long)all[i]->air_bytes,
			    (unsigned long long)all[i]->turns,
			    (double)raw / all[i]->channel_s,
			    (unsigned long long)all[i]->retx_frames,
			    (unsigned long long)all[i]->retx_bytes);
		fprintf(f, "\"goodput_ratio\": %.3f}\n", gn / gc);
		fclose(f);
	}
	free_batch(m, n);
	return 0;
}

/* --packing: only messages that pack; stored against packed. */
static int
main_packing(int argc, char **argv)
{
	struct msg *all, *m;
	size_t want = (size_t)strtoul(argv[3], NULL, 10), n = 0, np;
	size_t nall = load(argv[1], (size_t)-1, &all);
	uint64_t raw = 0, rawp = 0, extra;

	m = xcalloc(want ? want : 1, sizeof(*m));
	for (size_t i = 0; i < nall && n < want; i++) {
		struct msg t;
		bool ok = air_form(&all[i], &t);
		buf_fini(&t.data);
		free(t.name);
		if (!ok)
			continue;
		m[n++] = all[i];
		all[i].name = NULL;
		buf_init(&all[i].data);
	}
	free_batch(all, nall);
	struct msg *p = pack_batch(m, n, &np, &extra);
	for (size_t i = 0; i < n; i++) {
		raw += m[i].data.len;
		rawp += p[i].data.len;
	}
	double wall, wallp;
	struct fig st = run_skywave(m, n, &wall, AIR_DICT_HEADERS, 0, true);
	struct fig pk = run_skywave(p, n, &wallp, AIR_DICT_HEADERS, 0, true);
	fig_add_bytes(&pk, extra);
	printf("lossless re-encoding on the air: %s, the first %zu messages "
	    "that pack (of %zu), hf-2400-hd\n", argv[2], n, nall);
	printf("%-18s %10s %10s %10s %6s\n", "method", "msg_bytes",
	    "channel_s", "air_bytes", "turns");
	printf("%-18s %10llu %10.1f %10llu %6llu\n", "skywave-stored",
	    (unsigned long long)raw, st.channel_s,
	    (unsigned long long)st.air_bytes, (unsigned long long)st.turns);
	printf("%-18s %10llu %10.1f %10llu %6llu\n", "skywave-packed",
	    (unsigned long long)rawp, pk.channel_s,
	    (unsigned long long)pk.air_bytes, (unsigned long long)pk.turns);
	double saved = 100.0 * (1.0 - pk.channel_s / st.channel_s);
	printf("airtime saved by packing: %.1f%% (air bytes %.1f%%; message "
	    "octets %.1f%%)\n", saved, 100.0 * (1.0 - (double)pk.air_bytes /
	    (double)st.air_bytes), 100.0 * (1.0 - (double)rawp / (double)raw));
	if (argc > 4) {
		FILE *f = fopen(argv[4], "w");
		if (!f) {
			perror(argv[4]);
			return 2;
		}
		fprintf(f, "{\"corpus\": \"%s\", \"messages\": %zu, "
		    "\"raw_bytes\": %llu, \"packed_bytes\": %llu, ", argv[2], n,
		    (unsigned long long)raw, (unsigned long long)rawp);
		json_fig(f, "stored", &st, false);
		json_fig(f, "packed", &pk, false);
		fprintf(f, "\"airtime_saved_pct\": %.1f}\n", saved);
		fclose(f);
	}
	free_batch(m, n);
	free_batch(p, n);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--noisy") == 0) {
		if (argc < 5) {
			fprintf(stderr, "usage: bench_airtime --noisy CORPUS_DIR "
			    "NAME COUNT [JSON_OUT [PROFILE]]\n");
			return 64;
		}
		if (sodium_init() < 0)
			return 1;
		return main_noisy(argc - 1, argv + 1);
	}
	if (argc > 1 && strcmp(argv[1], "--packing") == 0) {
		if (argc < 5) {
			fprintf(stderr, "usage: bench_airtime --packing "
			    "CORPUS_DIR NAME COUNT [JSON_OUT]\n");
			return 64;
		}
		if (sodium_init() < 0)
			return 1;
		conv_init();
		int rc = main_packing(argc - 1, argv + 1);
		conv_shutdown();
		return rc;
	}
	if (argc < 4) {
		fprintf(stderr, "usage: bench_airtime CORPUS_DIR NAME COUNT "
		    "[JSON_OUT] [SEG_BYTES]\n");
		return 64;
	}
	if (sodium_init() < 0)
		return 1;
	struct msg *m;
	size_t n = load(argv[1], (size_t)strtoul(argv[3], NULL, 10), &m);
	size_t seg = argc > 5 ? (size_t)strtoul(argv[5], NULL, 10) : 0;
	uint64_t raw = 0;
	for (size_t i = 0; i < n; i++)
		raw += m[i].data.len;

	double wall, wall_df, wall_nd, wall_pk;
	struct fig sw = run_skywave(m, n, &wall, AIR_DICT_HEADERS, seg, true);
	size_t codec_bytes = g_codec_bytes;
	printf("fixed costs (skywave): %llu bytes of records besides the "
	    "messages before compression (%zu x %d of id and digest); %llu "
	    "rounds (one flush each); frames %llu + %llu (28 bytes each with "
	    "the byte-stream framing: %.1f s); the other direction's stream "
	    "%llu bytes; %llu direction changes (%.0f s)\n",
	    (unsigned long long)g_rec_plain, n, g_digest_bytes + XFER_ID_BYTES,
	    (unsigned long long)g_rounds,
	    (unsigned long long)g_frames_a, (unsigned long long)g_frames_b,
	    (double)(g_frames_a + g_frames_b) * 28 / BYTES_PER_S,
	    (unsigned long long)g_b_stream, (unsigned long long)sw.turns,
	    (double)sw.turns * TURN_MS / 1000.0);
	struct fig df = run_skywave(m, n, &wall_df, AIR_DICT_HEADERS, seg,
	    false);
	struct fig nd = run_skywave(m, n, &wall_nd, AIR_DICT_NONE, seg, false);
	size_t npk;
	uint64_t extra;
	conv_init();
	struct msg *pm = pack_batch(m, n, &npk, &extra);
	struct fig pk = run_skywave(pm, n, &wall_pk, AIR_DICT_HEADERS, seg,
	    true);
	fig_add_bytes(&pk, extra);
	free_batch(pm, n);
	conv_shutdown();
	struct fig sm = run_smtp(m, n), bf = run_b2f(m, n),
		   lim = run_limit(m, n);

	printf("B1 airtime: %s, %zu messages, %llu raw bytes, hf-2400-hd\n",
	    argv[2], n, (unsigned long long)raw);
	printf("%-18s %10s %10s %6s %9s\n", "method", "channel_s", "air_bytes",
	    "turns", "ratio");
	const struct fig *all[] = { &sw, &df, &nd, &pk, &sm, &bf, &lim };
	const char *names[] = { "skywave", "skywave-deflate", "skywave-nodict",
		"skywave-packed", "smtp", "b2f", "limit" };
	for (int i = 0; i < 7; i++)
		printf("%-18s %10.1f %10llu %6llu %8.3fx\n", names[i],
		    all[i]->channel_s, (unsigned long long)all[i]->air_bytes,
		    (unsigned long long)all[i]->turns,
		    all[i]->channel_s / sw.channel_s);
	printf("skywave/smtp %.3f (goal <= 0.12), skywave/b2f %.3f (goal <= "
	    "0.30), skywave/limit %.2f (goal <= 1.30); deflate peer: "
	    "b2f %.3f, limit %.2f; wall %.2f s\n",
	    sw.channel_s / sm.channel_s, sw.channel_s / bf.channel_s,
	    sw.channel_s / lim.channel_s, df.channel_s / bf.channel_s,
	    df.channel_s / lim.channel_s, wall);
	double cspeed = codec_speed(m, n);
	printf("zstd codec: %.2f MB/s through compress+decompress+records on "
	    "this machine (%.0fx the 19200 bit/s line rate of los-19200); "
	    "contexts of one link session, both directions: %.2f MB\n",
	    cspeed / 1e6, cspeed / 2400.0, (double)codec_bytes / 1e6);
	printf("skywave-packed: %zu of %zu messages packed; airtime %.1f%% "
	    "less than skywave\n", npk, n, 100.0 * (1.0 - pk.channel_s /
	    sw.channel_s));
	ratios(m, n, raw);

	if (argc > 4) {
		FILE *f = fopen(argv[4], "w");
		if (!f) {
			perror(argv[4]);
			return 2;
		}
		fprintf(f, "{\"corpus\": \"%s\", \"messages\": %zu, "
		    "\"raw_bytes\": %llu, ", argv[2], n,
		    (unsigned long long)raw);
		json_fig(f, "skywave", &sw, false);
		json_fig(f, "skywave_deflate", &df, false);
		json_fig(f, "skywave_nodict", &nd, false);
		fprintf(f, "\"zstd_bytes_per_s\": %.0f, \"codec_heap_bytes\": "
		    "%zu, ", cspeed, codec_bytes);
		json_fig(f, "skywave_packed", &pk, false);
		json_fig(f, "smtp", &sm, false);
		json_fig(f, "b2f", &bf, false);
		json_fig(f, "limit", &lim, false);
		fprintf(f, "\"wall_s\": %.2f}\n", wall);
		fclose(f);
	}
	for (size_t i = 0; i < n; i++) {
		buf_fini(&m[i].data);
		free(m[i].name);
	}
	free(m);
	return 0;
}
