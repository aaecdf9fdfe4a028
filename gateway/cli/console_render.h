/*
 * console_render.h - the console's screen as a pure function:
 *
 *   console_render(view, grid)   view = snapshot + event log + UI state,
 *                                grid = the terminal size
 *
 * fills a grid of cells (code point + attribute role). The ncurses front
 * end (console.c) only copies the grid to the terminal and maps roles to
 * colours or, without colour, to monochrome attributes; tests render at
 * any size with no terminal at all.
 *
 * Layout, top to bottom: a title row; panels ALERTS, LINKS, QUEUE (waiting
 * traffic per band), ON AIR (what the link transmits now), DEADLINES AT
 * RISK (slack below the daemon's risk_slack), HELD, EVENTS; a result row and a key-help/prompt row.
 * Rows are shared out item by item in priority order (alerts, links, on
 * air, at risk, queue, held) after every panel has its header and the event log
 * its minimum; a panel that does not fit says "+N more" in its header and
 * scrolls to keep its selection visible. From 120 columns each link and
 * each transfer takes one row instead of two and ids are shown whole.
 */
#ifndef GW_GATEWAY_CONSOLE_RENDER_H
#define GW_GATEWAY_CONSOLE_RENDER_H

#include "gateway/control/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Attribute roles; console.c maps each to a colour pair or attribute. */
#define CONSOLE_ATTR_MAP(XX) \
	XX(NORMAL)           \
	XX(TITLE)            \
	XX(HEADER)           \
	XX(FOCUS)            \
	XX(GOOD)             \
	XX(WARN)             \
	XX(BAD)              \
	XX(DIM)              \
	XX(SELECT)           \
	XX(BAR)              \
	XX(PROMPT)

enum console_attr {
#define CONSOLE__A_ENUM(n) CONSOLE_A_##n,
	CONSOLE_ATTR_MAP(CONSOLE__A_ENUM)
#undef CONSOLE__A_ENUM
	CONSOLE_A__COUNT
};

struct console_cell {
	uint32_t ch;   /* Unicode code point, one column wide */
	uint8_t attr;  /* enum console_attr */
};

/* Owner: whoever renders. cells has w*h entries, row-major. */
struct console_grid {
	int w, h;
	struct console_cell *cells;
};

/* The panels that have a selection. */
enum console_panel {
	CONSOLE_P_LINKS,
	CONSOLE_P_ONAIR,
	CONSOLE_P_RISK,
	CONSOLE_P_HELD,
	CONSOLE_P_ALERTS,
	CONSOLE_P__COUNT
};

struct console_view {
	const struct status *st;    /* NULL: no snapshot yet */
	const char *conn_text;      /* "connected", "reconnecting: ..." */
	const struct status_event *log; /* event log, oldest first */
	size_t nlog;
	size_t log_scroll;          /* lines scrolled back from the newest */
	enum console_panel focus;
	size_t sel[CONSOLE_P__COUNT]; /* selected item per panel */
	const char *prompt;         /* a question or input line; NULL none */
	const char *result;         /* the last action's outcome; NULL none */
	bool result_bad;
	bool unicode;               /* block characters for sparklines */
};

/* Allocate a blank w x h grid (w, h >= 1) / free it. */
void console_grid_init(struct console_grid *g, int w, int h);
void console_grid_fini(struct console_grid *g);
/* Row as UTF-8 text without trailing blanks. */
void console_grid_row(const struct console_grid *g, int row, char *out,
    size_t len);

void console_render(const struct console_view *v, struct console_grid *g);

/* Items in a panel of a snapshot (0 when st is NULL). */
size_t console_panel_count(const struct status *st, enum console_panel p);
/* The selected item's message id (ONAIR, RISK, HELD) or link name (LINKS)
 * after clamping the selection; "" when the panel is empty. */
void console_target(const struct console_view *v, enum console_panel p,
    char *out, size_t len);
const char *console_panel_name(enum console_panel p);

#endif
