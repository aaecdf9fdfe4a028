/*
 * tcp.h - the TCP driver: a modem reached over TCP (soft modems, KISS over
 * TCP from a software TNC, ser2net-style serial bridges).
 *
 * Class "tcp": device is "host:port" or "[v6addr]:port". Host names are
 * resolved with uv_getaddrinfo (off the loop thread). The connect attempt
 * is bounded by the config's open_timeout_ms (the core's OPENING
 * deadline); after a failure or a peer close the core reconnects with
 * exponential backoff when reconnect_min_ms is set. A peer that closes an
 * established connection is reported as carrier lost, a refused or timed
 * out connect as an error. Framing and dialogues are the core's, so a KISS
 * TNC on TCP is this class with framing = kiss (from the profile).
 */
#ifndef GW_LINK_DRIVERS_TCP_H
#define GW_LINK_DRIVERS_TCP_H

#include "link-drivers/drv.h"

#include <stddef.h>

const struct drv_class *tcp_drv_class(void);

/* Split "host:port" / "[v6]:port" into host and port. 0 or GW_EINVAL. */
int tcp_split_hostport(const char *s, char *host, size_t hostlen,
    char *port, size_t portlen);

#endif
