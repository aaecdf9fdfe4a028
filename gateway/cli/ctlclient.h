/*
 * ctlclient.h - the client side of the control socket, used by the
 * `skywave` tool (status, queue, actions, console).
 *
 * Blocking by design: the tool is a short-lived command or an interactive
 * console, not the daemon's loop, and every wait has a timeout. One
 * request at a time per connection; an events stream takes a connection of
 * its own (after "events" the server sends only event lines).
 *
 * Errors: 0 or a negative code. Connecting gives -ENOENT / -ECONNREFUSED
 * when no daemon listens, -EACCES when the socket's permissions exclude the
 * caller (not in the operator group); calls give GW_ETIMEDOUT, GW_ECLOSED
 * (the server hung up), GW_EPROTO (a reply that is not a JSON object line)
 * or GW_ETOOBIG (a reply line longer than CTLCLIENT_LINE_MAX).
 *
 * Thread: a struct ctlclient belongs to one thread.
 */
#ifndef GW_GATEWAY_CTLCLIENT_H
#define GW_GATEWAY_CTLCLIENT_H

#include "gateway/control/status.h"

#include <jansson.h>
#include <stddef.h>

#define CTLCLIENT_DEFAULT_SOCKET "var/control.sock"
#define CTLCLIENT_LINE_MAX (8u << 20)
#define CTLCLIENT_TIMEOUT_MS 5000

struct ctlclient;

/* The socket path to use: explicit if not NULL, else $SKYWAVE_SOCKET, else
 * CTLCLIENT_DEFAULT_SOCKET. */
const char *ctlclient_socket_path(const char *explicit_path);

int ctlclient_connect(const char *path, struct ctlclient **out);
void ctlclient_close(struct ctlclient *c);
/* For poll(2) in the console. */
int ctlclient_fd(const struct ctlclient *c);
/* True if a complete line is already buffered (poll would not show it). */
int ctlclient_has_line(const struct ctlclient *c);

/* Send req (borrowed) as one line. */
int ctlclient_send(struct ctlclient *c, const json_t *req);
/* Read the next line as a JSON object. timeout_ms: 0 only what is already
 * available, < 0 wait forever. Returns 0 and *obj (caller decrefs). */
int ctlclient_read(struct ctlclient *c, int timeout_ms, json_t **obj);
/* send + read with CTLCLIENT_TIMEOUT_MS. */
int ctlclient_call(struct ctlclient *c, const json_t *req, json_t **reply);

/* A whole status round trip. On failure err says why. */
int ctlclient_status(struct ctlclient *c, struct status *st, char *err,
    size_t errlen);

/* An action or query by op name with optional arguments (NULL: absent).
 * Returns 0 when the server said ok, GW_EINVAL-like negative codes when it
 * refused (the server's "code" mapped back where known, else GW_EINVAL),
 * or a transport error. text receives the server's "text" or "error". If
 * reply is not NULL it receives the whole reply (caller decrefs). */
int ctlclient_action(struct ctlclient *c, const char *op, const char *id,
    const char *link, const char *route, char *text, size_t textlen,
    json_t **reply);

/* A one-line explanation of a connect error for the operator. */
void ctlclient_explain(int err, const char *path, char *out, size_t len);

#endif
