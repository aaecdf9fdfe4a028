/*
 * fuzz_smtp.c - libFuzzer target for the SMTP parser and session.
 *
 * The input's first byte picks the mode; the rest is either one command
 * line for the pure parser (commands, MAIL/RCPT arguments with every
 * extension offered or none, paths, BY, xtext, header scan) or a byte stream
 * fed to a sans-I/O session in pieces cut at 0x00 bytes, with the queue
 * completing every submission. Built with -DSKYWAVE_FUZZ=ON (clang).
 */
#include "common/err.h"
#include "common/log.h"
#include "gateway/mail/policy.h"
#include "gateway/smtp/received.h"
#include "gateway/smtp/smtp_parse.h"
#include "gateway/smtp/smtp_session.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static queue_submit_cb pend_cb;
static void *pend_arg;

static int
submit(void *io, struct queue_envelope *env, struct buf *content,
    queue_submit_cb cb, void *arg)
{
	(void)io;
	queue_envelope_free(env);
	buf_reset(content);
	pend_cb = cb;
	pend_arg = arg;
	return 0;
}

static const struct smtp_session_io io = { submit, NULL };

static void
fuzz_parse(const char *s, size_t n)
{
	struct smtp_cmd c;
	struct smtp_mail_args m;
	struct smtp_rcpt_args r;
	struct smtp_perr e;
	char out[SMTP_PATH_MAX + 1];
	size_t used;
	int64_t t;
	char mode;
	bool tr;
	struct received_scan sc;

	smtp_parse_cmd(s, n, &c);
	smtp_parse_mail(c.arg, c.arglen, SMTP_EXT_ALL, &m, &e);
	smtp_parse_mail(c.arg, c.arglen, 0, &m, &e);
	smtp_parse_rcpt(c.arg, c.arglen, SMTP_EXT_ALL, &r, &e);
	smtp_parse_path(s, n, true, out, &used);
	smtp_parse_by(s, n, &t, &mode, &tr);
	smtp_line_allowance(s, n);
	smtp_helo_valid(s, n);
	received_scan((const uint8_t *)s, n, &sc);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct policy *pol;
	static struct clk_virtual clk;
	char err[64];

	if (pol == NULL) {
		struct policy_config pc;
		policy_config_init(&pc);
		pc.trusted_networks = "127.0.0.0/8";
		pc.size_limits = "6=4K";
		if (policy_new(&pc, &pol, err, sizeof(err)) != 0)
			abort();
		clk_virtual_init(&clk, 0, 1795469534);
		gw_log_set_stderr(false);
	}
	if (size == 0)
		return 0;
	if (data[0] & 1) {
		fuzz_parse((const char *)data + 1, size - 1);
		return 0;
	}
	struct smtp_session_cfg cfg = {
		.hostname = "gw.example", .max_message_size = 2048,
		.max_recipients = 100, .max_errors = 30,
		.command_timeout_ms = 1000, .data_timeout_ms = 1000,
		.deliverby_min_s = 60, .policy = pol, .altrecip = true,
		.conneg = true, .conperm = true, .clock = &clk.base,
		.max_input = 4096,
	};
	struct sockaddr_in peer = { .sin_family = AF_INET };
	peer.sin_addr.s_addr = htonl((data[0] & 2) ? INADDR_LOOPBACK :
	    0x0a000001);
	struct smtp_session *s = smtp_session_new(&cfg, &io, NULL,
	    (const struct sockaddr *)&peer, "f");
	smtp_session_greet(s);
	size_t off = 1;
	while (off < size && !smtp_session_closing(s)) {
		const uint8_t *z = memchr(data + off, 0, size - off);
		size_t n = z ? (size_t)(z - (data + off)) : size - off;
		smtp_session_feed(s, data + off, n);
		smtp_session_check_state(s);
		off += n + 1;
		if (pend_cb != NULL) {
			uint8_t id[QUEUE_ID_LEN] = { 1 };
			queue_submit_cb cb = pend_cb;
			pend_cb = NULL;
			cb((data[0] & 4) ? GW_EIO : 0, id, pend_arg);
		}
		buf_reset(smtp_session_out(s));
	}
	if (pend_cb != NULL) {
		uint8_t id[QUEUE_ID_LEN] = { 1 };
		queue_submit_cb cb = pend_cb;
		pend_cb = NULL;
		smtp_session_free(s); /* orphan, then complete */
		cb(0, id, pend_arg);
	} else {
		smtp_session_free(s);
	}
	return 0;
}
