/*
 * console_render.c - the console's layout (see console_render.h).
 *
 * Pure: the output depends only on the view and the grid size (times are
 * printed from the snapshot's own values, in UTC). No curses here, so this
 * file links into anything, including skywaved's library, without
 * pulling ncurses in.
 */
#include "gateway/cli/console_render.h"

#include "common/xmalloc.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WIDE_COLS 120
#define ID_SHORT 12
#define EVENTS_MIN 2

void
console_grid_init(struct console_grid *g, int w, int h)
{
	GW_REQUIRE(w >= 1 && h >= 1);
	g->w = w;
	g->h = h;
	g->cells = xcalloc((size_t)w * (size_t)h, sizeof(g->cells[0]));
	for (int i = 0; i < w * h; i++)
		g->cells[i].ch = ' ';
}

void
console_grid_fini(struct console_grid *g)
{
	free(g->cells);
	g->cells = NULL;
	g->w = g->h = 0;
}

static size_t
utf8_put(uint32_t cp, char *p)
{
	if (cp < 0x80) {
		p[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		p[0] = (char)(0xc0 | (cp >> 6));
		p[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		p[0] = (char)(0xe0 | (cp >> 12));
		p[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		p[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	p[0] = (char)(0xf0 | (cp >> 18));
	p[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	p[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	p[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

void
console_grid_row(const struct console_grid *g, int row, char *out,
    size_t len)
{
	size_t n = 0, keep = 0;

	if (len == 0)
		return;
	out[0] = '\0';
	if (row < 0 || row >= g->h)
		return;
	for (int x = 0; x < g->w; x++) {
		char tmp[4];
		uint32_t cp = g->cells[row * g->w + x].ch;
		size_t k = utf8_put(cp, tmp);
		if (n + k + 1 > len)
			break;
		memcpy(out + n, tmp, k);
		n += k;
		if (cp != ' ')
			keep = n;
	}
	out[keep] = '\0';
}

/* --- drawing ------------------------------------------------------------ */

/* Decode one code point from s (at most 4 bytes); bad bytes give '?'. */
static uint32_t
utf8_next(const char **s)
{
	const unsigned char *p = (const unsigned char *)*s;
	uint32_t cp;
	int n;

	if (p[0] < 0x80) {
		*s += 1;
		return p[0];
	}
	if ((p[0] & 0xe0) == 0xc0) {
		cp = p[0] & 0x1f;
		n = 1;
	} else if ((p[0] & 0xf0) == 0xe0) {
		cp = p[0] & 0x0f;
		n = 2;
	} else if ((p[0] & 0xf8) == 0xf0) {
		cp = p[0] & 0x07;
		n = 3;
	} else {
		*s += 1;
		return '?';
	}
	for (int i = 1; i <= n; i++) {
		if ((p[i] & 0xc0) != 0x80) {
			*s += 1;
			return '?';
		}
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	*s += n + 1;
	return cp;
}

static void
cell(struct console_grid *g, int row, int col, uint32_t ch, int attr)
{
	if (row < 0 || row >= g->h || col < 0 || col >= g->w)
		return;
	g->cells[row * g->w + col].ch = ch;
	g->cells[row * g->w + col].attr = (uint8_t)attr;
}

/* Text at (row, col), clipped at column lim; returns the next column.
 * Control characters show as '?', so nothing from the wire can move the
 * cursor. */
static int
put(struct console_grid *g, int row, int col, int lim, int attr,
    const char *s)
{
	if (lim > g->w)
		lim = g->w;
	while (*s && col < lim) {
		uint32_t cp = utf8_next(&s);
		if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0))
			cp = '?';
		cell(g, row, col++, cp, attr);
	}
	return col;
}

static int putf(struct console_grid *g, int row, int col, int lim, int attr,
    const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static int
putf(struct console_grid *g, int row, int col, int lim, int attr,
    const char *fmt, ...)
{
	char tmp[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	return put(g, row, col, lim, attr, tmp);
}

static void
fill_row(struct console_grid *g, int row, int attr)
{
	for (int x = 0; x < g->w; x++)
		cell(g, row, x, ' ', attr);
}

static void
fmt_hms(int64_t t, char *out, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || gmtime_r(&tt, &tm) == NULL)
		snprintf(out, len, "--:--:--Z");
	else
		strftime(out, len, "%H:%M:%SZ", &tm);
}

static const char *
short_id(const char *id, bool wide, char *buf, size_t len)
{
	if (wide || strlen(id) <= ID_SHORT)
		return id;
	snprintf(buf, len, "%.*s", ID_SHORT, id);
	return buf;
}

static int
state_attr(enum status_link_state s)
{
	switch (s) {
	case STATUS_LINK_DOWN: return CONSOLE_A_BAD;
	case STATUS_LINK_CONNECTING:
	case STATUS_LINK_TURNAROUND: return CONSOLE_A_WARN;
	case STATUS_LINK_IDLE: return CONSOLE_A_NORMAL;
	default: return CONSOLE_A_GOOD;
	}
}

/* Sparkline of the newest samples into width columns. */
static void
sparkline(struct console_grid *g, int row, int col, int width,
    const struct status_link *l, bool unicode)
{
	static const char ascii[] = " .:-=+*#";
	uint32_t max = (uint32_t)(l->nominal_bps / 8);
	size_t n = l->nspark, first;

	if (width <= 0)
		return;
	first = n > (size_t)width ? n - (size_t)width : 0;
	for (size_t i = first; i < n; i++)
		if (l->spark[i] > max)
			max = l->spark[i];
	if (max == 0)
		max = 1;
	/* right-aligned: the newest sample is at the right edge */
	col += width - (int)(n - first);
	for (size_t i = first; i < n; i++) {
		uint32_t v = l->spark[i];
		uint32_t ch = ' ';
		if (v > 0 && unicode) {
			/* eight heights: U+2581 .. U+2588 */
			uint64_t lvl = 1 + (uint64_t)(v - 1) * 8 / max;
			ch = 0x2580 + (uint32_t)(lvl > 8 ? 8 : lvl);
		} else if (v > 0) {
			uint64_t lvl = 1 + (uint64_t)(v - 1) * 7 / max;
			ch = (uint32_t)ascii[lvl > 7 ? 7 : lvl];
		}
		cell(g, row, col++, ch, CONSOLE_A_BAR);
	}
}

/* --- panels ------------------------------------------------------------- */

enum section { S_ALERTS, S_LINKS, S_QUEUE, S_ONAIR, S_RISK, S_HELD,
	S_EVENTS, S__COUNT };

struct layout {
	bool wide;
	int per_item[S__COUNT];   /* rows per item */
	size_t items[S__COUNT];
	size_t shown[S__COUNT];
	size_t first[S__COUNT];   /* first item shown */
	int rows_events;          /* event lines (besides the header) */
};

static const enum console_panel section_panel[S__COUNT] = {
	[S_ALERTS] = CONSOLE_P_ALERTS, [S_LINKS] = CONSOLE_P_LINKS, [S_QUEUE] = CONSOLE_P__COUNT,
	[S_ONAIR] = CONSOLE_P_ONAIR, [S_RISK] = CONSOLE_P_RISK,
	[S_HELD] = CONSOLE_P_HELD, [S_EVENTS] = CONSOLE_P__COUNT,
};

size_t
console_panel_count(const struct status *st, enum console_panel p)
{
	if (st == NULL)
		return 0;
	switch (p) {
	case CONSOLE_P_LINKS: return st->nlinks;
	case CONSOLE_P_ONAIR: return st->nonair;
	case CONSOLE_P_RISK: return st->nrisk;
	case CONSOLE_P_HELD: return st->nheld;
	case CONSOLE_P_ALERTS: return st->nalerts;
	default: return 0;
	}
}

const char *
console_panel_name(enum console_panel p)
{
	static const char *const names[] = { "links", "on air", "at risk",
		"held", "alerts" };
	return (unsigned)p < GW_ARRAY_LEN(names) ? names[p] : "?";
}

static size_t
sel_of(const struct console_view *v, enum console_panel p)
{
	size_t n = console_panel_count(v->st, p);

	if (n == 0)
		return 0;
	return v->sel[p] < n ? v->sel[p] : n - 1;
}

void
console_target(const struct console_view *v, enum console_panel p,
    char *out, size_t len)
{
	size_t n = console_panel_count(v->st, p), i = sel_of(v, p);
	const char *s = "";

	if (n > 0) {
		switch (p) {
		case CONSOLE_P_LINKS: s = v->st->links[i].name; break;
		case CONSOLE_P_ONAIR: s = v->st->onair[i].id; break;
		case CONSOLE_P_RISK: s = v->st->risk[i].id; break;
		case CONSOLE_P_HELD: s = v->st->held[i].id; break;
		case CONSOLE_P_ALERTS: s = v->st->alerts[i].id; break;
		default: break;
		}
	}
	snprintf(out, len, "%s", s);
}

static void
plan(const struct console_view *v, int body, struct layout *L)
{
	static const enum section prio[] = { S_ALERTS, S_LINKS, S_ONAIR,
		S_RISK, S_QUEUE, S_HELD };
	const struct status *st = v->st;
	int left;
	bool more = true;

	L->per_item[S_LINKS] = L->wide ? 1 : 2;
	L->per_item[S_ONAIR] = L->wide ? 1 : 2;
	L->per_item[S_QUEUE] = L->per_item[S_RISK] = L->per_item[S_HELD] = 1;
	L->per_item[S_ALERTS] = 1;
	L->items[S_ALERTS] = st->nalerts;
	L->items[S_LINKS] = st->nlinks;
	L->items[S_QUEUE] = st->nbands;
	L->items[S_ONAIR] = st->nonair;
	L->items[S_RISK] = st->nrisk;
	L->items[S_HELD] = st->nheld;
	/* a header row for each of the seven panels, and the log's minimum */
	left = body - S__COUNT - EVENTS_MIN;
	if (st->nalerts == 0)
		left++; /* no ALERTS panel without alerts */
	while (more && left > 0) {
		more = false;
		for (size_t k = 0; k < GW_ARRAY_LEN(prio); k++) {
			enum section s = prio[k];
			if (L->shown[s] < L->items[s] &&
			    L->per_item[s] <= left) {
				L->shown[s]++;
				left -= L->per_item[s];
				more = true;
			}
		}
	}
	L->rows_events = EVENTS_MIN + (left > 0 ? left : 0);
	int headers = S__COUNT - (st->nalerts == 0);
	if (body - headers < EVENTS_MIN)
		L->rows_events = body - headers > 0 ? body - headers : 0;
	for (int s = 0; s < S__COUNT; s++) {
		enum console_panel p = section_panel[s];
		size_t sel = p < CONSOLE_P__COUNT ? sel_of(v, p) : 0;
		L->first[s] = 0;
		if (L->shown[s] > 0 && sel >= L->shown[s])
			L->first[s] = sel - L->shown[s] + 1;
	}
}

/* The header row of a panel; returns the column after the title. */
static int
header(struct console_grid *g, int row, const struct console_view *v,
    enum section s, const struct layout *L, const char *title,
    const char *summary)
{
	enum console_panel p = section_panel[s];
	bool focus = p < CONSOLE_P__COUNT && v->focus == p;
	int col = put(g, row, 0, g->w, focus ? CONSOLE_A_FOCUS :
	    CONSOLE_A_HEADER, title);

	if (summary && summary[0])
		col = putf(g, row, col, g->w, CONSOLE_A_HEADER, " %s", summary);
	if (L->items[s] == 0 && s != S_EVENTS)
		col = put(g, row, col, g->w, CONSOLE_A_DIM, s == S_QUEUE ?
		    "  nothing waiting" : s == S_ONAIR ? "  nothing" : "  none");
	else if (L->shown[s] < L->items[s] && s != S_EVENTS)
		col = putf(g, row, col, g->w, CONSOLE_A_DIM, "  +%zu more",
		    L->items[s] - L->shown[s]);
	return col;
}

static int
marker(struct console_grid *g, int row, const struct console_view *v,
    enum console_panel p, size_t i)
{
	bool on = v->focus == p && sel_of(v, p) == i;

	cell(g, row, 0, on ? '>' : ' ', on ? CONSOLE_A_SELECT :
	    CONSOLE_A_NORMAL);
	return 2;
}

static void
draw_link(struct console_grid *g, int row, const struct console_view *v,
    const struct layout *L, size_t i)
{
	const struct status_link *l = &v->st->links[i];
	char a[32], b[32], c[32], d[32], up[16];
	int col = marker(g, row, v, CONSOLE_P_LINKS, i);
	int w = g->w;

	snprintf(up, sizeof(up), "%s", status_link_state_name(l->state));
	for (char *p = up; *p; p++)
		*p = (char)(*p - ('a' <= *p && *p <= 'z' ? 32 : 0));
	col = putf(g, row, col, w, CONSOLE_A_NORMAL, "%-8.8s ", l->name);
	col = putf(g, row, col, w, state_attr(l->state), "%-10s", up);
	col = put(g, row, col, w, CONSOLE_A_WARN, l->held ? " HELD " :
	    "      ");
	col = putf(g, row, col, w, CONSOLE_A_NORMAL, "%-.14s -> %-.16s",
	    l->profile[0] ? l->profile : "-", l->peer[0] ? l->peer : "-");
	status_fmt_bps(l->nominal_bps, a, sizeof(a));
	if (l->measured_bps > 0) {
		status_fmt_bps(l->measured_bps, b, sizeof(b));
		col = putf(g, row, col, w, CONSOLE_A_NORMAL, "  %s nom %s meas",
		    a, b);
	} else {
		/* not measured yet: what the predictor assumes */
		status_fmt_bps(l->model_bps, b, sizeof(b));
		col = putf(g, row, col, w, CONSOLE_A_NORMAL, "  %s nom %s est",
		    a, b);
	}
	if (l->down_ms > 0 && (l->state == STATUS_LINK_DOWN ||
	    l->state == STATUS_LINK_CONNECTING)) {
		status_fmt_ms(l->down_ms, c, sizeof(c));
		col = putf(g, row, col, w, CONSOLE_A_BAD, "  down %s", c);
	}
	if (!L->wide) {
		row++;
		col = 4;
	} else {
		col += 2;
	}
	status_fmt_bytes(l->tx_bytes, a, sizeof(a));
	status_fmt_bytes(l->rx_bytes, b, sizeof(b));
	col = putf(g, row, col, w, CONSOLE_A_NORMAL, "tx %s/%" PRId64 "f  rx "
	    "%s/%" PRId64 "f  ", a, l->tx_frames, b, l->rx_frames);
	col = putf(g, row, col, w, l->retx_rate >= 0.2 ? CONSOLE_A_WARN :
	    CONSOLE_A_NORMAL, "retx %.1f%%  ", l->retx_rate * 100.0);
	if (l->last_good_ms < 0)
		snprintf(c, sizeof(c), "never");
	else
		status_fmt_ms(l->last_good_ms, c, sizeof(c));
	col = putf(g, row, col, w, l->last_good_ms < 0 ||
	    l->last_good_ms > 60000 ? CONSOLE_A_WARN : CONSOLE_A_NORMAL,
	    "last %s  ", c);
	snprintf(d, sizeof(d), "auth %" PRId64, l->auth_failures);
	col = put(g, row, col, w, l->auth_failures ? CONSOLE_A_BAD :
	    CONSOLE_A_NORMAL, d);
	col += 2;
	if (w - col >= 8)
		sparkline(g, row, col, w - col - 1, l, v->unicode);
}

static void
draw_band(struct console_grid *g, int row, const struct status_band *q,
    bool wide)
{
	char a[32], b[32], c[32];

	status_fmt_bytes(q->bytes, a, sizeof(a));
	status_fmt_ms(q->oldest_age_ms, b, sizeof(b));
	if (q->drain_ms < 0)
		snprintf(c, sizeof(c), "- (link down)");
	else
		status_fmt_ms(q->drain_ms, c, sizeof(c));
	putf(g, row, 2, g->w, CONSOLE_A_NORMAL, wide ?
	    "%-12s %8" PRId64 " msg%s %12s    oldest %-10s  drain %s" :
	    "%-10s %5" PRId64 " msg%s %10s  oldest %-8s drain %s", q->name,
	    q->messages, q->messages == 1 ? " " : "s", a, b, c);
}

static void
draw_xfer(struct console_grid *g, int row, const struct console_view *v,
    const struct layout *L, size_t i)
{
	const struct status_xfer *x = &v->st->onair[i];
	char idb[ID_SHORT + 1], a[32], b[32], c[32];
	int col = marker(g, row, v, CONSOLE_P_ONAIR, i);
	int w = g->w, barw, filled, pct;

	col = putf(g, row, col, w, CONSOLE_A_NORMAL, "%s  P%+d %-6s ",
	    short_id(x->id, L->wide, idb, sizeof(idb)), x->priority, x->link);
	if (L->wide) {
		/* columns: id, priority, link, addresses, bar, figures */
		int aw = w - 47 - 50;
		aw = aw < 20 ? 20 : aw > 60 ? 60 : aw;
		col = 47;
		putf(g, row, col, col + aw, CONSOLE_A_NORMAL, "%s -> %s",
		    x->sender, x->rcpts);
		col += aw + 2;
	} else {
		putf(g, row, col, w, CONSOLE_A_NORMAL, "%s -> %s", x->sender,
		    x->rcpts);
		row++;
		col = 4;
	}
	pct = x->bytes_total > 0 ?
	    (int)(x->bytes_sent * 100 / x->bytes_total) : 0;
	if (pct > 100)
		pct = 100;
	status_fmt_bytes(x->bytes_sent, a, sizeof(a));
	status_fmt_bytes(x->bytes_total, b, sizeof(b));
	if (x->committing)
		snprintf(c, sizeof(c), "committing");
	else if (x->eta_ms < 0)
		snprintf(c, sizeof(c), "?");
	else
		status_fmt_ms(x->eta_ms, c, sizeof(c));
	/* the bar takes what the figures leave, within bounds */
	barw = w - col - 42;
	if (barw > 60)
		barw = 60;
	if (barw < 10)
		barw = 10;
	filled = (int)((int64_t)barw * pct / 100);
	col = put(g, row, col, w, CONSOLE_A_NORMAL, "[");
	for (int k = 0; k < barw && col < w; k++)
		cell(g, row, col++, k < filled ? '#' : '.', k < filled ?
		    CONSOLE_A_BAR : CONSOLE_A_DIM);
	col = put(g, row, col, w, CONSOLE_A_NORMAL, "]");
	col = putf(g, row, col, w, CONSOLE_A_NORMAL, " %3d%%  %s / %s  %s %s",
	    pct, a, b, x->committing ? "" : "ETA", c);
	if (x->ahead_bytes > 0) {
		status_fmt_bytes(x->ahead_bytes, a, sizeof(a));
		putf(g, row, col, w, CONSOLE_A_DIM, "  (+%s ahead)", a);
	}
}

static void
draw_risk(struct console_grid *g, int row, const struct console_view *v,
    const struct layout *L, size_t i)
{
	const struct status_risk *r = &v->st->risk[i];
	char idb[ID_SHORT + 1], dl[16], pr[16], sl[32];
	int col = marker(g, row, v, CONSOLE_P_RISK, i);
	int w = g->w, at = r->slack_ms < 0 ? CONSOLE_A_BAD : CONSOLE_A_WARN;

	fmt_hms(r->deadline_s, dl, sizeof(dl));
	fmt_hms(r->predicted_s, pr, sizeof(pr));
	status_fmt_ms(r->slack_ms, sl, sizeof(sl));
	col = putf(g, row, col, w, CONSOLE_A_NORMAL, "%s  %-4s %s ",
	    short_id(r->id, L->wide, idb, sizeof(idb)), r->kind[0] ? r->kind :
	    "BY", dl);
	if (L->wide)
		col = putf(g, row, col, w, CONSOLE_A_NORMAL, "predicted %s ",
		    pr);
	if (r->slack_ms == INT64_MIN)
		col = put(g, row, col, w, at, "slack ? (no prediction)");
	else
		col = putf(g, row, col, w, at, "slack %s%s", sl,
		    r->slack_ms < 0 ? " LATE" : "");
	const char *when = r->slack_ms < 0 ? "  ->" : "  if missed ->";
	switch (r->action) {
	case STATUS_RISK_REDIRECT:
		col = putf(g, row, col, w, CONSOLE_A_NORMAL,
		    "%s redirect to %s", when, r->target[0] ? r->target :
		    "ARCPT");
		break;
	case STATUS_RISK_FAIL:
		col = putf(g, row, col, w, CONSOLE_A_NORMAL,
		    "%s fail %s, DSN to sender", when, r->status[0] ?
		    r->status : "5.4.7");
		break;
	case STATUS_RISK_DELAY:
		col = putf(g, row, col, w, CONSOLE_A_NORMAL,
		    "%s delayed DSN, delivery goes on", when);
		break;
	default:
		col = put(g, row, col, w, CONSOLE_A_DIM, "  -> nothing");
		break;
	}
	if (L->wide && r->sender[0])
		putf(g, row, col, w, CONSOLE_A_DIM, "  from %s", r->sender);
}

static void
draw_held(struct console_grid *g, int row, const struct console_view *v,
    const struct layout *L, size_t i)
{
	const struct status_held *h = &v->st->held[i];
	char idb[ID_SHORT + 1], a[32], t[16];
	int col = marker(g, row, v, CONSOLE_P_HELD, i);

	status_fmt_bytes(h->bytes, a, sizeof(a));
	fmt_hms(h->since_s, t, sizeof(t));
	col = putf(g, row, col, g->w, CONSOLE_A_NORMAL, "%s  P%+d %9s  ",
	    short_id(h->id, L->wide, idb, sizeof(idb)), h->priority, a);
	col = putf(g, row, col, g->w, CONSOLE_A_DIM, "since %s by %s  ", t,
	    h->by[0] ? h->by : "-");
	putf(g, row, col, g->w, CONSOLE_A_NORMAL, "%s -> %s", h->sender,
	    h->rcpts);
}

static void
draw_alert(struct console_grid *g, int row, const struct console_view *v,
    size_t i)
{
	const struct status_alert *a = &v->st->alerts[i];
	char t[16], d[32];
	int col = marker(g, row, v, CONSOLE_P_ALERTS, i);
	bool active = a->cleared_s == 0;

	fmt_hms(a->since_s, t, sizeof(t));
	col = putf(g, row, col, g->w, active ? (a->acked ? CONSOLE_A_WARN :
	    CONSOLE_A_BAD) : CONSOLE_A_DIM, "%-8s ", active ? (a->acked ?
	    "ACKED" : "ALERT") : "cleared");
	col = putf(g, row, col, g->w, CONSOLE_A_DIM, "%.8s ", t);
	col = putf(g, row, col, g->w, active ? CONSOLE_A_NORMAL :
	    CONSOLE_A_DIM, "%s", a->text);
	if (a->acked)
		col = putf(g, row, col, g->w, CONSOLE_A_DIM, "  (ack %s)",
		    a->acked_by);
	if (!active && a->cleared_s >= a->since_s) {
		status_fmt_ms((a->cleared_s - a->since_s) * 1000, d, sizeof(d));
		putf(g, row, col, g->w, CONSOLE_A_DIM, "  lasted %s", d);
	}
}

static void
draw_event(struct console_grid *g, int row, const struct status_event *e)
{
	char t[16];
	int at = strcmp(e->level, "err") == 0 ? CONSOLE_A_BAD :
	    strcmp(e->level, "warn") == 0 ? CONSOLE_A_WARN : CONSOLE_A_NORMAL;
	int col;

	fmt_hms(e->time_s, t, sizeof(t));
	col = putf(g, row, 1, g->w, CONSOLE_A_DIM, "%.8s ", t);
	col = putf(g, row, col, g->w, at, "%-4.4s ", e->level);
	col = putf(g, row, col, g->w, CONSOLE_A_DIM, "%-8.8s ", e->kind);
	put(g, row, col, g->w, at, e->text);
}

static void
draw_title(struct console_grid *g, const struct console_view *v)
{
	char t[16], up[32];
	const char *conn = v->conn_text ? v->conn_text : "";
	int col;

	fill_row(g, 0, CONSOLE_A_TITLE);
	col = put(g, 0, 1, g->w, CONSOLE_A_TITLE, "skywave console");
	if (v->st) {
		fmt_hms(v->st->now_s, t, sizeof(t));
		status_fmt_ms(v->st->uptime_ms, up, sizeof(up));
		col = putf(g, 0, col, g->w, CONSOLE_A_TITLE,
		    "  %s  %s  up %s", v->st->gateway[0] ? v->st->gateway :
		    "-", t, up);
	}
	/* the connection state, right-aligned, clipped if it must be */
	int len = (int)strlen(conn);
	if (len > 0) {
		int at = g->w - len - 1;
		put(g, 0, at > col + 2 ? at : col + 2, g->w, CONSOLE_A_TITLE,
		    conn);
	}
}

static void
draw_footer(struct console_grid *g, const struct console_view *v)
{
	int r1 = g->h - 2, r2 = g->h - 1;

	if (r1 > 0 && v->result)
		put(g, r1, 1, g->w, v->result_bad ? CONSOLE_A_BAD :
		    CONSOLE_A_GOOD, v->result);
	if (r2 <= 0)
		return;
	if (v->prompt) {
		fill_row(g, r2, CONSOLE_A_PROMPT);
		put(g, r2, 1, g->w, CONSOLE_A_PROMPT, v->prompt);
	} else {
		put(g, r2, 1, g->w, CONSOLE_A_DIM,
		    "q quit  Tab panel  j/k select  h hold  r release  "
		    "c cancel  f flush  R requeue  d/u link down/up  "
		    "a ack alert  PgUp/PgDn log");
	}
}

void
console_render(const struct console_view *v, struct console_grid *g)
{
	const struct status *st = v->st;
	struct layout L;
	int row, body;
	char sum[96], a[32];

	for (int i = 0; i < g->w * g->h; i++) {
		g->cells[i].ch = ' ';
		g->cells[i].attr = CONSOLE_A_NORMAL;
	}
	draw_title(g, v);
	draw_footer(g, v);
	if (st == NULL) {
		if (g->h > 3) {
			put(g, g->h / 2 - 1, 2, g->w, CONSOLE_A_WARN,
			    "waiting for skywaved...");
			/* the reason, wrapped over up to three rows */
			const char *t = v->conn_text ? v->conn_text : "";
			int cols = g->w - 4 > 1 ? g->w - 4 : 1;
			for (int r = 0; r < 3 && *t && g->h / 2 + r < g->h - 2;
			    r++) {
				char chunk[512];
				snprintf(chunk, sizeof(chunk), "%.*s", cols, t);
				put(g, g->h / 2 + r, 2, g->w, CONSOLE_A_NORMAL,
				    chunk);
				t += strlen(chunk);
			}
		}
		return;
	}
	memset(&L, 0, sizeof(L));
	L.wide = g->w >= WIDE_COLS;
	body = g->h - 3;
	plan(v, body, &L);
	row = 1;

	/* ALERTS, only when there are some */
	if (row < g->h - 2 && st->nalerts > 0) {
		size_t active = 0, unacked = 0;
		for (size_t i = 0; i < st->nalerts; i++) {
			active += st->alerts[i].cleared_s == 0;
			unacked += st->alerts[i].cleared_s == 0 &&
			    !st->alerts[i].acked;
		}
		snprintf(sum, sizeof(sum), "(%zu active, %zu not acknowledged)",
		    active, unacked);
		header(g, row++, v, S_ALERTS, &L, "ALERTS", st->nalerts ? sum :
		    "");
	}
	for (size_t k = 0; k < L.shown[S_ALERTS]; k++)
		draw_alert(g, row++, v, L.first[S_ALERTS] + k);

	/* LINKS */
	if (row < g->h - 2) {
		size_t down = 0;
		for (size_t i = 0; i < st->nlinks; i++)
			down += st->links[i].state == STATUS_LINK_DOWN;
		snprintf(sum, sizeof(sum), "(%zu, %zu down)", st->nlinks, down);
		header(g, row++, v, S_LINKS, &L, "LINKS", st->nlinks ? sum :
		    "");
	}
	for (size_t k = 0; k < L.shown[S_LINKS]; k++,
	    row += L.per_item[S_LINKS])
		draw_link(g, row, v, &L, L.first[S_LINKS] + k);

	/* QUEUE */
	if (row < g->h - 2) {
		int64_t msgs = 0, bytes = 0;
		for (size_t i = 0; i < st->nbands; i++) {
			msgs += st->bands[i].messages;
			bytes += st->bands[i].bytes;
		}
		snprintf(sum, sizeof(sum), "(%" PRId64 " msg%s waiting, %s)",
		    msgs, msgs == 1 ? "" : "s",
		    status_fmt_bytes(bytes, a, sizeof(a)));
		header(g, row++, v, S_QUEUE, &L, "QUEUE", st->nbands ? sum :
		    "");
	}
	for (size_t k = 0; k < L.shown[S_QUEUE]; k++)
		draw_band(g, row++, &st->bands[k], L.wide);

	/* ON AIR */
	if (row < g->h - 2)
		header(g, row++, v, S_ONAIR, &L, "ON AIR", "");
	for (size_t k = 0; k < L.shown[S_ONAIR]; k++,
	    row += L.per_item[S_ONAIR])
		draw_xfer(g, row, v, &L, L.first[S_ONAIR] + k);

	/* DEADLINES AT RISK */
	if (row < g->h - 2) {
		char sl[32];
		snprintf(sum, sizeof(sum), "(slack under %s)", status_fmt_ms(
		    st->risk_slack_ms, sl, sizeof(sl)));
		header(g, row++, v, S_RISK, &L, "DEADLINES AT RISK",
		    st->risk_slack_ms > 0 ? sum : "");
	}
	for (size_t k = 0; k < L.shown[S_RISK]; k++)
		draw_risk(g, row++, v, &L, L.first[S_RISK] + k);

	/* HELD */
	if (row < g->h - 2)
		header(g, row++, v, S_HELD, &L, "HELD", "");
	for (size_t k = 0; k < L.shown[S_HELD]; k++)
		draw_held(g, row++, v, &L, L.first[S_HELD] + k);

	/* EVENTS: the newest at the bottom, scrolled back by log_scroll */
	if (row < g->h - 2) {
		size_t n = v->nlog, rows = (size_t)L.rows_events, end, start;
		size_t scroll = v->log_scroll;
		if (n > rows && scroll > n - rows)
			scroll = n - rows;
		if (n <= rows)
			scroll = 0;
		end = n - scroll;
		start = end > rows ? end - rows : 0;
		if (scroll)
			snprintf(sum, sizeof(sum), "(scrolled back %zu)",
			    scroll);
		header(g, row++, v, S_EVENTS, &L, "EVENTS", scroll ? sum : "");
		for (size_t i = start; i < end && row < g->h - 2; i++)
			draw_event(g, row++, &v->log[i]);
	}
}
