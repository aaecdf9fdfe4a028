/*
 * metrics_http.h - an optional HTTP listener for Prometheus on loopback
 * (`metrics_listen`): GET /metrics answers the text exposition format;
 * anything else is 404 (405 for another method). One request per
 * connection (HTTP/1.0 style, "Connection: close"), at most 16
 * connections, requests bounded at 4 KiB, 10 s to send one.
 *
 * Only loopback addresses are accepted: the metrics say what is queued
 * and who is linked to whom, and there is no authentication.
 *
 * Thread: the loop thread. Owner: ctlops (start .. close; freed after the
 * last handle closed, then done(arg)).
 */
#ifndef GW_GATEWAY_METRICS_HTTP_H
#define GW_GATEWAY_METRICS_HTTP_H

#include "common/buf.h"

#include <uv.h>

struct metrics_http;

/* Appends the current metrics to out. */
typedef void (*metrics_http_fn)(void *arg, struct buf *out);

/* listen: "127.0.0.1:9120" or "[::1]:9120". 0, GW_EINVAL (not a loopback
 * host:port) or a negative libuv/errno code from bind/listen. */
int metrics_http_start(uv_loop_t *loop, const char *listen,
    metrics_http_fn fn, void *arg, struct metrics_http **out);
void metrics_http_close(struct metrics_http *h, void (*done)(void *),
    void *arg);

/* Split and check a listen address (also for configuration checks): 0 or
 * GW_EINVAL. host gets the address without brackets. */
int metrics_http_parse(const char *listen, char *host, size_t hostlen,
    int *port);

#endif
