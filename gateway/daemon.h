/*
 * daemon.h - the skywaved process: one libuv loop owning the queue, the SMTP
 * server, the links and the control socket.
 *
 * Lifecycle (daemon_run):
 *
 *   STARTING --ok--> RUNNING --SIGTERM/SIGINT--> STOPPING --all closed--> exit
 *       |               |  ^
 *       | error         |  | SIGHUP: load the file again; a good config is
 *       v               v  | applied (what can change live), a bad one is
 *     exit code       RELOAD  logged and the old one stays.
 *
 * STOPPING closes the listener first, lets sessions end with 421, waits for
 * every queue request in flight to complete, then closes the queue: nothing
 * half-written. Exit codes follow sysexits(3): 0, EX_CONFIG for a bad
 * configuration, EX_CANTCREAT / EX_OSERR / EX_SOFTWARE for start failures.
 */
#ifndef GW_GATEWAY_DAEMON_H
#define GW_GATEWAY_DAEMON_H

#include "gateway/config.h"

#include <stdbool.h>

struct daemon_opts {
	const char *config_path; /* NULL: the built-in default configuration */
	bool foreground;
	int ready_fd;            /* written when RUNNING (daemonize pipe), -1 */
};

/* Run until stopped. Takes ownership of cfg. Returns a sysexits code. */
int daemon_run(const struct daemon_opts *opts, struct config *cfg);

#endif
