/*
 * fakesmtp.h - a scripted SMTP/LMTP server for tests, on the test's libuv
 * loop, bound to 127.0.0.1 on a port the kernel picks.
 *
 * It records a transcript ("C: line" / "S: line"), the commands that
 * arrived in each read (to see pipelined groups), the message content as
 * received (dot-stuffing undone, BDAT chunks joined), and connection counts.
 * Replies default to success; the reply hook overrides any of them.
 */
#ifndef GW_TESTS_FAKESMTP_H
#define GW_TESTS_FAKESMTP_H

#include "common/buf.h"

#include <stdbool.h>
#include <uv.h>

struct fake_smtp;

/* Return the reply for cmd ("MAIL FROM:<a@x> SIZE=3", "." after the data,
 * "BDAT" after a LAST chunk), lines separated by "\r\n" without a final
 * one; NULL = the default reply; "" = no reply at all (the client waits). */
typedef const char *(*fake_reply_fn)(struct fake_smtp *f, const char *cmd,
    int nth_dot_reply);

struct fake_smtp {
	/* behaviour (set before start) */
	const char *greeting;   /* NULL = "220 fake.test ESMTP"; "" = silent */
	const char *ehlo;       /* whole EHLO/LHLO reply; NULL = "250 fake" */
	bool lmtp;              /* one reply per accepted RCPT after data */
	fake_reply_fn reply;
	void *user;
	/* RCPT ... CONNEG (RFC 4141), when the reply hook leaves it: reply
	 * conneg_reply (e.g. "450 4.3.0 later") if set; else, if
	 * conneg_caps(f, address) gives a filter, "250-2.1.5 ok" followed by
	 * "250-CONNEG <piece>" lines of at most conneg_split octets (0 = 24),
	 * the last one "250 CONNEG <piece>"; else the default reply. */
	const char *conneg_reply;
	const char *(*conneg_caps)(struct fake_smtp *f, const char *addr);
	size_t conneg_split;

	/* observations */
	struct buf transcript;
	struct buf batches;     /* one line per read: "CMD|CMD|CMD\n" */
	struct buf data;        /* the last message's content */
	struct buf all;         /* every message, each followed by "\n.\n" */
	int conns, cur_conc, max_conc, messages;
	int conneg_queries;     /* RCPT ... CONNEG received */

	/* internals */
	uv_loop_t *loop;
	uv_tcp_t srv;
	int port;
	bool stopped;
	struct fake_conn *clients;
};

/* Start listening; returns 0 and f->port. */
int fake_smtp_start(struct fake_smtp *f, uv_loop_t *loop);
/* Close the listener and every client connection (handles close on the
 * loop; run it afterwards). Frees the observation buffers too. */
void fake_smtp_stop(struct fake_smtp *f);

#endif
