/*
 * console.h - `skywave console`: the operator's live ncurses console.
 *
 *   skywave console [--socket PATH] [--interval MS]
 *
 * Polls skywaved's status over the control socket (every second by
 * default), follows the events stream on a second connection, and draws
 * the layout of console_render.h. Keys act on the selected item after a
 * y/n confirmation and show the daemon's answer on the result line:
 *
 *   Tab / Shift-Tab   next / previous panel (links, on air, at risk, held)
 *   j k, arrows       select within the panel
 *   h r               hold / release the selected message, or link
 *   c                 cancel the selected message (the sender gets a DSN)
 *   f                 flush (retry now) the selected message, or link
 *   R                 requeue the selected message to a route (typed in)
 *   d u               take the selected link (links panel) down / up
 *   PgUp PgDn End     scroll the event log
 *   q, Ctrl-C         quit
 *
 * Handles terminal resizes (KEY_RESIZE) and works in colour or, where the
 * terminal has none, with monochrome attributes. If the daemon goes away
 * the last snapshot stays on screen marked as disconnected, and the
 * console reconnects every two seconds.
 *
 * Returns a sysexits(3) code: 0 on quit, EX_USAGE, or EX_UNAVAILABLE when
 * there is no terminal.
 *
 * Only this module and the `skywave` executable use ncurses.
 */
#ifndef GW_GATEWAY_CONSOLE_H
#define GW_GATEWAY_CONSOLE_H

int console_main(int argc, char **argv);

#endif
