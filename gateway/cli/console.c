/*
 * console.c - the ncurses front end of `skywave console` (see console.h).
 *
 * Owner: the `skywave` process; one struct console on main's stack.
 * The screen is a pure rendering (console_render) copied to curses; this
 * file owns only terminal I/O, the two control connections and the UI
 * mode:
 *
 *            h r c f d u                      y
 *   NORMAL -------------> CONFIRM ----------------> (action) -> NORMAL
 *     |  ^                  |  any other key            result line
 *     |  +------------------+  (cancelled)
 *     | R                   ^
 *     v                     | Enter (route typed)
 *   INPUT ------------------+
 *     |  Esc
 *     +----> NORMAL
 *
 * Invariant: in CONFIRM the pending action (op, id/link, route) is
 * complete; in INPUT only the route is missing.
 */
#define NCURSES_WIDECHAR 1

#include "gateway/cli/console.h"

#include "common/err.h"
#include "common/xmalloc.h"
#include "gateway/cli/console_render.h"
#include "gateway/cli/ctlclient.h"

#include <curses.h>
#include <langinfo.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#define CONSOLE_LOG_MAX 500
#define CONSOLE_RECONNECT_MS 2000
#define CONSOLE_BACKLOG 64

enum ui_mode { UI_NORMAL, UI_CONFIRM, UI_INPUT };

struct console {
	const char *path;
	int interval_ms;
	struct ctlclient *req;       /* status and actions */
	struct ctlclient *ev;        /* the events stream */
	struct status *st;
	struct status *scratch;      /* decoding one event */
	bool have_st;
	bool connected;
	char conn_text[160];
	struct status_event *log;    /* oldest first */
	size_t nlog;
	size_t log_scroll;
	enum console_panel focus;
	size_t sel[CONSOLE_P__COUNT];
	enum ui_mode mode;
	char op[16];
	char id[STATUS_ID_MAX];
	char link[STATUS_NAME_MAX];
	char route[STATUS_ADDR_MAX];
	size_t nroute;
	char prompt[STATUS_ADDR_MAX + 128];
	char result[400];
	bool result_bad;
	bool unicode;
	bool colour;
	int64_t next_status_ms;
	int64_t next_connect_ms;
	struct console_grid grid;
	bool quit;
};

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- connections --------------------------------------------------------- */

static void
disconnect(struct console *c, const char *why)
{
	ctlclient_close(c->req);
	ctlclient_close(c->ev);
	c->req = c->ev = NULL;
	if (c->connected || why) {
		/* the reason may be cut to fit the status line */
		int n = snprintf(c->conn_text, sizeof(c->conn_text),
		    "DISCONNECTED: %.*s", (int)sizeof(c->conn_text) - 15,
		    why ? why : "?");
		(void)n;
	}
	c->connected = false;
	c->next_connect_ms = mono_ms() + CONSOLE_RECONNECT_MS;
}

static void
try_connect(struct console *c)
{
	json_t *req, *rep = NULL;
	int rc;

	if (c->req != NULL || mono_ms() < c->next_connect_ms)
		return;
	rc = ctlclient_connect(c->path, &c->req);
	if (rc == 0)
		rc = ctlclient_connect(c->path, &c->ev);
	if (rc != 0) {
		char why[300];
		ctlclient_explain(rc, c->path, why, sizeof(why));
		disconnect(c, why);
		return;
	}
	req = json_pack("{s:s,s:i}", "op", "events", "backlog",
	    CONSOLE_BACKLOG);
	rc = ctlclient_call(c->ev, req, &rep);
	json_decref(req);
	if (rc != 0 || !json_is_true(json_object_get(rep, "ok"))) {
		json_decref(rep);
		disconnect(c, rc ? gw_strerror(rc) : "events refused");
		return;
	}
	json_decref(rep);
	c->nlog = 0; /* the backlog brings the recent history again */
	c->log_scroll = 0;
	c->connected = true;
	snprintf(c->conn_text, sizeof(c->conn_text), "connected");
	c->next_status_ms = 0;
}

static void
log_add(struct console *c, const struct status_event *e)
{
	if (c->nlog == CONSOLE_LOG_MAX) {
		memmove(c->log, c->log + 1, (CONSOLE_LOG_MAX - 1) *
		    sizeof(c->log[0]));
		c->nlog--;
	}
	c->log[c->nlog++] = *e;
	if (c->log_scroll > 0)
		c->log_scroll++; /* keep the reader's place */
}

static void
read_events(struct console *c)
{
	for (;;) {
		json_t *line = NULL, *ej;
		int rc;

		if (c->ev == NULL)
			return;
		rc = ctlclient_read(c->ev, 0, &line);
		if (rc == GW_ETIMEDOUT)
			return;
		if (rc != 0) {
			disconnect(c, gw_strerror(rc));
			return;
		}
		ej = json_object_get(line, "event");
		if (ej != NULL) {
			json_t *wrap = json_pack("{s:[O]}", "events", ej);
			if (status_from_json(wrap, c->scratch, NULL, 0) == 0 &&
			    c->scratch->nevents == 1)
				log_add(c, &c->scratch->events[0]);
			json_decref(wrap);
		}
		json_decref(line);
	}
}

static void
refresh_status(struct console *c)
{
	char err[200];
	int rc;

	try_connect(c);
	if (c->req == NULL)
		return;
	rc = ctlclient_status(c->req, c->st, err, sizeof(err));
	if (rc != 0) {
		disconnect(c, err);
		return;
	}
	c->have_st = true;
}

/* --- actions ------------------------------------------------------------- */

static void
set_result(struct console *c, bool bad, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
set_result(struct console *c, bool bad, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->result, sizeof(c->result), fmt, ap);
	va_end(ap);
	c->result_bad = bad;
}

static const struct console_view *
view_of(const struct console *c, struct console_view *v)
{
	memset(v, 0, sizeof(*v));
	v->st = c->have_st ? c->st : NULL;
	v->conn_text = c->conn_text;
	if (c->nlog > 0 || !c->have_st) {
		v->log = c->log;
		v->nlog = c->nlog;
	} else {
		v->log = c->st->events;
		v->nlog = c->st->nevents;
	}
	v->log_scroll = c->log_scroll;
	v->focus = c->focus;
	memcpy(v->sel, c->sel, sizeof(v->sel));
	v->prompt = c->mode != UI_NORMAL ? c->prompt : NULL;
	v->result = c->result[0] ? c->result : NULL;
	v->result_bad = c->result_bad;
	v->unicode = c->unicode;
	return v;
}

static void
do_action(struct console *c)
{
	const char *what = c->id[0] ? c->id : c->link;
	char text[300];
	int rc;

	c->mode = UI_NORMAL;
	if (c->req == NULL) {
		set_result(c, true, "%s %s: not connected to skywaved", c->op,
		    what);
		return;
	}
	rc = ctlclient_action(c->req, c->op, c->id[0] ? c->id : NULL,
	    c->link[0] ? c->link : NULL, c->route[0] ? c->route : NULL, text,
	    sizeof(text), NULL);
	set_result(c, rc != 0, "%s %s: %s%s", c->op, what, rc ? "FAILED: " :
	    "", text);
	if (rc == GW_ECLOSED || rc == GW_ETIMEDOUT || rc == GW_EPROTO)
		disconnect(c, gw_strerror(rc));
	c->next_status_ms = 0; /* show the effect at once */
}

/* Set up op against the selection and ask for confirmation. */
static void
start_action(struct console *c, const char *op)
{
	struct console_view v;
	bool link_op = strcmp(op, "link_down") == 0 ||
	    strcmp(op, "link_up") == 0;
	char shown[STATUS_ID_MAX + 8];

	view_of(c, &v);
	snprintf(c->op, sizeof(c->op), "%s", op);
	c->id[0] = c->link[0] = c->route[0] = '\0';
	c->nroute = 0;
	if (strcmp(op, "ack") == 0) {
		/* the selected alert, else the first one not acknowledged */
		if (c->focus == CONSOLE_P_ALERTS)
			console_target(&v, CONSOLE_P_ALERTS, c->id,
			    sizeof(c->id));
		for (size_t i = 0; c->id[0] == '\0' && v.st &&
		    i < v.st->nalerts; i++)
			if (v.st->alerts[i].cleared_s == 0 &&
			    !v.st->alerts[i].acked)
				status_strlcpy(c->id, v.st->alerts[i].id,
				    sizeof(c->id));
		if (c->id[0] == '\0') {
			set_result(c, true, "ack: no alert to acknowledge");
			return;
		}
		snprintf(c->prompt, sizeof(c->prompt), "Acknowledge alert %s? "
		    "(y/n)", c->id);
		c->mode = UI_CONFIRM;
		return;
	}
	if (link_op || c->focus == CONSOLE_P_LINKS) {
		console_target(&v, CONSOLE_P_LINKS, c->link, sizeof(c->link));
		if (c->link[0] == '\0') {
			set_result(c, true, "%s: no link selected", op);
			return;
		}
		if (!link_op && (strcmp(op, "cancel") == 0 ||
		    strcmp(op, "requeue") == 0)) {
			set_result(c, true, "%s works on a message: Tab to on "
			    "air, at risk or held first", op);
			return;
		}
	} else {
		console_target(&v, c->focus, c->id, sizeof(c->id));
		if (c->id[0] == '\0') {
			set_result(c, true, "%s: nothing selected in %s", op,
			    console_panel_name(c->focus));
			return;
		}
	}
	snprintf(shown, sizeof(shown), "%s", c->id[0] ? c->id : c->link);
	if (strcmp(op, "requeue") == 0) {
		c->mode = UI_INPUT;
		snprintf(c->prompt, sizeof(c->prompt), "Requeue %s to route "
		    "(e.g. link:hf2), Enter to confirm, Esc to cancel: ",
		    shown);
		return;
	}
	if (strcmp(op, "link_down") == 0)
		snprintf(c->prompt, sizeof(c->prompt), "Take link %s DOWN? "
		    "(y/n)", shown);
	else if (strcmp(op, "link_up") == 0)
		snprintf(c->prompt, sizeof(c->prompt), "Bring link %s UP? "
		    "(y/n)", shown);
	else if (strcmp(op, "cancel") == 0)
		snprintf(c->prompt, sizeof(c->prompt), "Cancel message %s; "
		    "the sender gets a DSN? (y/n)", shown);
	else
		snprintf(c->prompt, sizeof(c->prompt), "%c%s %s %s? (y/n)",
		    op[0] - 32, op + 1, c->id[0] ? "message" : "link", shown);
	c->mode = UI_CONFIRM;
}

static void
key_input(struct console *c, int ch)
{
	size_t base;

	if (ch == 27) {
		c->mode = UI_NORMAL;
		set_result(c, false, "requeue cancelled");
		return;
	}
	if (ch == '\n' || ch == '\r' || ch == KEY_ENTER) {
		if (c->nroute == 0)
			return;
		snprintf(c->prompt, sizeof(c->prompt), "Requeue %s to %s? "
		    "(y/n)", c->id, c->route);
		c->mode = UI_CONFIRM;
		return;
	}
	base = strlen(c->prompt) - c->nroute;
	if ((ch == KEY_BACKSPACE || ch == 127 || ch == 8) && c->nroute > 0) {
		c->route[--c->nroute] = '\0';
		c->prompt[base + c->nroute] = '\0';
		return;
	}
	if (ch > 0x20 && ch < 0x7f && c->nroute + 1 < sizeof(c->route) &&
	    base + c->nroute + 2 < sizeof(c->prompt)) {
		c->route[c->nroute++] = (char)ch;
		c->route[c->nroute] = '\0';
		c->prompt[base + c->nroute - 1] = (char)ch;
		c->prompt[base + c->nroute] = '\0';
	}
}

static void
key_normal(struct console *c, int ch)
{
	size_t n = console_panel_count(c->have_st ? c->st : NULL, c->focus);
	size_t page = c->grid.h > 8 ? (size_t)c->grid.h / 3 : 1;

	switch (ch) {
	case 'q': case 'Q': case 3: /* Ctrl-C in raw mode */
		c->quit = true;
		break;
	case '\t':
	case KEY_BTAB:
		/* the ALERTS panel is only there when there are alerts */
		do {
			c->focus = (enum console_panel)((c->focus + (ch ==
			    '\t' ? 1 : CONSOLE_P__COUNT - 1)) %
			    CONSOLE_P__COUNT);
		} while (c->focus == CONSOLE_P_ALERTS && (!c->have_st ||
		    c->st->nalerts == 0));
		break;
	case KEY_UP: case 'k':
		if (c->sel[c->focus] >= n && n > 0)
			c->sel[c->focus] = n - 1;
		if (c->sel[c->focus] > 0)
			c->sel[c->focus]--;
		break;
	case KEY_DOWN: case 'j':
		if (c->sel[c->focus] + 1 < n)
			c->sel[c->focus]++;
		break;
	case KEY_PPAGE:
		c->log_scroll += page;
		if (c->log_scroll > c->nlog)
			c->log_scroll = c->nlog;
		break;
	case KEY_NPAGE:
		c->log_scroll = c->log_scroll > page ? c->log_scroll - page : 0;
		break;
	case KEY_END: case 'G':
		c->log_scroll = 0;
		break;
	case 'h': start_action(c, "hold"); break;
	case 'r': start_action(c, "release"); break;
	case 'c': start_action(c, "cancel"); break;
	case 'f': start_action(c, "flush"); break;
	case 'R': start_action(c, "requeue"); break;
	case 'd': start_action(c, "link_down"); break;
	case 'u': start_action(c, "link_up"); break;
	case 'a': start_action(c, "ack"); break;
	case 12: /* Ctrl-L */
		clearok(curscr, TRUE);
		break;
	default:
		break;
	}
}

static void
key(struct console *c, int ch)
{
	switch (c->mode) {
	case UI_NORMAL:
		key_normal(c, ch);
		break;
	case UI_INPUT:
		key_input(c, ch);
		break;
	case UI_CONFIRM:
		if (ch == 'y' || ch == 'Y') {
			do_action(c);
		} else {
			c->mode = UI_NORMAL;
			set_result(c, false, "%s cancelled", c->op);
		}
		break;
	}
}

/* --- drawing -------------------------------------------------------------- */

struct look {
	attr_t attr;
	short pair;
};

static void
looks(bool colour, struct look out[CONSOLE_A__COUNT])
{
	memset(out, 0, sizeof(out[0]) * CONSOLE_A__COUNT);
	out[CONSOLE_A_TITLE].attr = A_REVERSE | A_BOLD;
	out[CONSOLE_A_HEADER].attr = A_BOLD;
	out[CONSOLE_A_FOCUS].attr = A_REVERSE | A_BOLD;
	out[CONSOLE_A_DIM].attr = A_DIM;
	out[CONSOLE_A_SELECT].attr = A_REVERSE | A_BOLD;
	out[CONSOLE_A_PROMPT].attr = A_REVERSE | A_BOLD;
	if (colour) {
		out[CONSOLE_A_GOOD].pair = 1;
		out[CONSOLE_A_WARN].pair = 2;
		out[CONSOLE_A_WARN].attr = A_BOLD;
		out[CONSOLE_A_BAD].pair = 3;
		out[CONSOLE_A_BAD].attr = A_BOLD;
		out[CONSOLE_A_BAR].pair = 4;
	} else {
		/* monochrome: trouble is loud, progress is bright */
		out[CONSOLE_A_WARN].attr = A_UNDERLINE;
		out[CONSOLE_A_BAD].attr = A_BOLD | A_UNDERLINE;
		out[CONSOLE_A_BAR].attr = A_BOLD;
	}
}

static void
draw(struct console *c, const struct look *lk)
{
	struct console_view v;
	int h, w;

	getmaxyx(stdscr, h, w);
	if (h < 1 || w < 1)
		return;
	if (c->grid.w != w || c->grid.h != h) {
		console_grid_fini(&c->grid);
		console_grid_init(&c->grid, w, h);
	}
	console_render(view_of(c, &v), &c->grid);
	for (int y = 0; y < h; y++) {
		for (int x = 0; x < w; x++) {
			const struct console_cell *ce =
			    &c->grid.cells[y * w + x];
			const struct look *l = &lk[ce->attr];
			if (ce->ch < 0x80) {
				mvaddch(y, x, (chtype)ce->ch | l->attr |
				    (chtype)COLOR_PAIR(l->pair));
			} else {
				cchar_t cc;
				wchar_t wc[2] = { (wchar_t)ce->ch, 0 };
				setcchar(&cc, wc, l->attr, l->pair, NULL);
				mvadd_wch(y, x, &cc);
			}
		}
	}
	wnoutrefresh(stdscr);
	doupdate();
}

/* --- main ----------------------------------------------------------------- */

static int
usage(FILE *fp, int code)
{
	fprintf(fp, "usage: skywave console [--socket PATH] [--interval MS]\n"
	    "keys: Tab panel, j/k select, h hold, r release, c cancel, "
	    "f flush,\n      R requeue, d/u link down/up, PgUp/PgDn log, "
	    "q quit\n");
	return code;
}

int
console_main(int argc, char **argv)
{
	struct console c;
	struct look lk[CONSOLE_A__COUNT];
	const char *sock = NULL;

	memset(&c, 0, sizeof(c));
	c.interval_ms = 1000;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc) {
			sock = argv[++i];
		} else if (strcmp(argv[i], "--interval") == 0 && i + 1 < argc) {
			c.interval_ms = atoi(argv[++i]);
			if (c.interval_ms < 100 || c.interval_ms > 1000)
				return usage(stderr, EX_USAGE);
		} else if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0) {
			return usage(stdout, 0);
		} else {
			return usage(stderr, EX_USAGE);
		}
	}
	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		fprintf(stderr, "skywave console: needs a terminal (try "
		    "skywave status)\n");
		return EX_UNAVAILABLE;
	}
	c.path = ctlclient_socket_path(sock);
	setlocale(LC_ALL, "");
	c.unicode = strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
	signal(SIGPIPE, SIG_IGN);
	c.st = xmalloc(sizeof(*c.st));
	c.scratch = xmalloc(sizeof(*c.scratch));
	status_init(c.st);
	c.log = xcalloc(CONSOLE_LOG_MAX, sizeof(c.log[0]));
	snprintf(c.conn_text, sizeof(c.conn_text), "connecting to %s",
	    c.path);

	if (initscr() == NULL) {
		fprintf(stderr, "skywave console: cannot start the terminal\n");
		free(c.st);
		free(c.scratch);
		free(c.log);
		return EX_UNAVAILABLE;
	}
	raw();
	noecho();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	set_escdelay(50);
	curs_set(0);
	c.colour = has_colors();
	if (c.colour) {
		short bg = COLOR_BLACK;
		start_color();
		if (use_default_colors() == OK)
			bg = -1;
		init_pair(1, COLOR_GREEN, bg);
		init_pair(2, COLOR_YELLOW, bg);
		init_pair(3, COLOR_RED, bg);
		init_pair(4, COLOR_CYAN, bg);
	}
	looks(c.colour, lk);

	while (!c.quit) {
		int64_t now = mono_ms();
		struct pollfd p[2];
		nfds_t np = 1;
		int wait, ch;

		if (now >= c.next_status_ms) {
			refresh_status(&c);
			c.next_status_ms = mono_ms() + c.interval_ms;
		}
		read_events(&c);
		draw(&c, lk);

		p[0].fd = STDIN_FILENO;
		p[0].events = POLLIN;
		if (c.ev) {
			p[1].fd = ctlclient_fd(c.ev);
			p[1].events = POLLIN;
			np = 2;
		}
		wait = (int)(c.next_status_ms - mono_ms());
		if (wait < 0)
			wait = 0;
		if (c.ev && ctlclient_has_line(c.ev))
			wait = 0;
		/* A resize (SIGWINCH) interrupts poll; getch then reports
		 * KEY_RESIZE and the next draw uses the new size. */
		(void)poll(p, np, wait);
		while ((ch = getch()) != ERR) {
			if (ch != KEY_RESIZE)
				key(&c, ch);
			if (c.quit)
				break;
		}
	}
	endwin();
	disconnect(&c, NULL);
	console_grid_fini(&c.grid);
	free(c.st);
	free(c.scratch);
	free(c.log);
	return 0;
}
