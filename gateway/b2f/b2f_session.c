/*
 * b2f_session.c - the B2F session state machine (see b2f_session.h).
 *
 * Lines end in a bare CR (an LF after it is skipped). Data travels as
 *   SOH len title NUL offset NUL      (len = bytes of title+offset+2)
 *   STX len bytes...                  (len 0 means 256), repeated
 *   EOT chk                           (sum of the data bytes + chk = 0
 *                                      mod 256)
 * A proposal block is up to five "FC EM MID size csize 0" lines and
 * "F> XX", XX the two's complement of the sum of the proposal bytes (CRs
 * included). It is answered "FS " with one character per proposal
 * (+ accept, - have it, = later, !N accept from compressed offset N).
 * After the accepted data the turn passes to the receiver without a word;
 * "FF" passes it with nothing to send, "FQ" ends the session when neither
 * side has anything left.
 *
 *   master:  LOGIN_CALL -> LOGIN_PASS -> RECV (handshake pending)
 *   slave:   SLAVE_LOGIN (prompts, handshake up to '>') -> TURN
 *
 *   TURN --offer none, peer had none--> END ("FQ")
 *   TURN --offer none--> RECV ("FF")
 *   TURN --offer n--> WAIT_FS --FS, some accepted--> (data sent) RECV
 *                             --FS, none accepted--> TURN
 *   RECV --FC.. F>--> ANSWER --answer, some accepted--> SOH -> DATA
 *                            --none accepted--> RECV
 *   DATA --EOT, more accepted--> SOH;  --EOT, last--> COMMIT
 *   COMMIT --all committed--> TURN;  --a commit failed--> END
 *   RECV --FF--> TURN;  --FQ--> END
 *   any --protocol error, abort--> END
 *
 * Invariants: TURN, ANSWER and COMMIT wait for the glue and consume no
 * input (it stays buffered); offers awaiting the peer's confirmation are
 * reported exactly once (sent, rejected, deferred), deferred on an end.
 */
#include "gateway/b2f/b2f_session.h"

#include "common/err.h"
#include "common/xmalloc.h"
#include "gateway/b2f/lzhuf.h"

#include <ctype.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LINE_MAX_BYTES 1024
#define PROPS_MAX 16
#define SID "[SKYWAVE-0.1-B2FHM$]"

enum b2f_state { S_LOGIN_CALL, S_LOGIN_PASS, S_SLAVE_LOGIN, S_RECV,
	S_ANSWER, S_SOH, S_DATA, S_COMMIT, S_TURN, S_WAIT_FS, S_END };

struct out_msg {
	struct b2f_offer o;
	uint8_t *data;
	uint32_t offset;
	bool confirm;            /* data sent, awaiting the peer's turn */
	bool reported;           /* its outcome was given */
};

struct b2f_session {
	struct b2f_session_cfg cfg;
	char mycall[B2F_CALL_MAX + 1];
	char password[128];
	char locator[16];
	struct b2f_session_cbs cb;
	void *arg;
	enum b2f_state st;
	struct buf in, out;
	char remote[B2F_CALL_MAX + 1];
	char fw[128];
	char remote_sid[64];
	char pq[16];             /* challenge the peer sent us */
	char pr[16];             /* response the peer sent us */
	bool hs_pending;         /* master: slave's handshake not yet done */
	bool remote_ff;          /* the peer said FF last */
	/* receiving */
	struct b2f_proposal props[PROPS_MAX];
	char answers[PROPS_MAX];
	uint32_t offsets[PROPS_MAX];
	struct buf prefix[PROPS_MAX];
	size_t nprops;
	unsigned sum;            /* proposal checksum so far */
	size_t cur;              /* proposal being received */
	struct buf rx;
	unsigned rxsum;
	size_t commits_wait;
	bool rx_done;            /* every accepted message of the block in */
	/* sending */
	struct out_msg outq[B2F_BLOCK_MAX];
	size_t nout;
	bool ended;
};

static const uint8_t b2f_salt[64] = {
	77, 197, 101, 206, 190, 249, 93, 200, 51, 243, 93, 237, 71, 94, 239,
	138, 68, 108, 70, 185, 225, 137, 217, 16, 51, 122, 193, 48, 194, 195,
	198, 175, 172, 169, 70, 84, 61, 62, 104, 186, 114, 52, 61, 168, 66,
	129, 192, 208, 187, 249, 232, 193, 41, 113, 41, 45, 240, 16, 29, 228,
	208, 228, 61, 20,
};

void
b2f_secure_response(const char *challenge, const char *password,
    char out[9])
{
	GChecksum *md = g_checksum_new(G_CHECKSUM_MD5);
	uint8_t d[16];
	gsize dl = sizeof(d);
	char num[16];

	g_checksum_update(md, (const guchar *)challenge, strlen(challenge));
	g_checksum_update(md, (const guchar *)password, strlen(password));
	g_checksum_update(md, b2f_salt, sizeof(b2f_salt));
	g_checksum_get_digest(md, d, &dl);
	g_checksum_free(md);
	uint32_t v = (uint32_t)(d[3] & 0x3f) << 24 | (uint32_t)d[2] << 16 |
	    (uint32_t)d[1] << 8 | d[0];
	snprintf(num, sizeof(num), "%08u", v);
	snprintf(out, 9, "%s", num + strlen(num) - 8);
}

static void
upper_copy(char *dst, size_t cap, const char *src, size_t n)
{
	size_t j = 0;

	for (size_t i = 0; i < n && j + 1 < cap; i++)
		if (!isspace((unsigned char)src[i]))
			dst[j++] = (char)toupper((unsigned char)src[i]);
	dst[j] = '\0';
}

struct b2f_session *
b2f_session_new(const struct b2f_session_cfg *cfg,
    const struct b2f_session_cbs *cbs, void *arg)
{
	struct b2f_session *s = xcalloc(1, sizeof(*s));

	s->cfg = *cfg;
	upper_copy(s->mycall, sizeof(s->mycall), cfg->mycall,
	    strlen(cfg->mycall));
	snprintf(s->password, sizeof(s->password), "%s",
	    cfg->password ? cfg->password : "");
	snprintf(s->locator, sizeof(s->locator), "%s",
	    cfg->locator ? cfg->locator : "");
	s->cfg.mycall = s->mycall;
	s->cfg.password = s->password;
	s->cfg.locator = s->locator;
	if (s->cfg.max_message == 0)
		s->cfg.max_message = 10u << 20;
	s->cb = *cbs;
	s->arg = arg;
	buf_init(&s->in);
	buf_init(&s->out);
	buf_init(&s->rx);
	for (size_t i = 0; i < PROPS_MAX; i++)
		buf_init(&s->prefix[i]);
	s->st = cfg->master ? S_LOGIN_CALL : S_SLAVE_LOGIN;
	return s;
}

static void
out_clear(struct b2f_session *s)
{
	for (size_t i = 0; i < s->nout; i++)
		free(s->outq[i].data);
	s->nout = 0;
}

void
b2f_session_free(struct b2f_session *s)
{
	if (s == NULL)
		return;
	out_clear(s);
	buf_fini(&s->in);
	buf_fini(&s->out);
	buf_fini(&s->rx);
	for (size_t i = 0; i < PROPS_MAX; i++)
		buf_fini(&s->prefix[i]);
	free(s);
}

struct buf *
b2f_session_output(struct b2f_session *s)
{
	return &s->out;
}

const char *
b2f_session_remote(const struct b2f_session *s)
{
	return s->remote;
}

const char *
b2f_session_forward(const struct b2f_session *s)
{
	return s->fw;
}

bool
b2f_session_ended(const struct b2f_session *s)
{
	return s->ended;
}

bool
b2f_session_partial(const struct b2f_session *s, char mid[13],
    const uint8_t **data, size_t *len, uint32_t *csize)
{
	if (s->st != S_DATA && !(s->ended && s->rx.len > 0 &&
	    s->cur < s->nprops && !s->rx_done))
		return false;
	if (s->cur >= s->nprops || s->rx.len == 0)
		return false;
	snprintf(mid, 13, "%s", s->props[s->cur].mid);
	*data = s->rx.data;
	*len = s->rx.len;
	*csize = s->props[s->cur].csize;
	return true;
}

/* Offers still waiting for their fate are deferred (we cannot know that
 * the peer kept them). */
static void
defer_pending(struct b2f_session *s)
{
	size_t n = s->nout;

	s->nout = 0;
	for (size_t i = 0; i < n; i++) {
		bool rep = s->outq[i].reported;
		free(s->outq[i].data);
		s->outq[i].data = NULL;
		if (!rep && s->cb.on_outcome)
			s->cb.on_outcome(s->arg, i, B2F_DEFERRED);
	}
}

static int
end(struct b2f_session *s, int err, const char *why)
{
	if (s->ended)
		return err;
	/* a message cut off mid-transfer stays for b2f_session_partial */
	if (s->st != S_DATA)
		buf_reset(&s->rx);
	s->st = S_END;
	s->ended = true;
	defer_pending(s);
	if (err != 0 && err != GW_ECLOSED) {
		/* tell the peer why, as Winlink stations do */
		buf_appendf(&s->out, "*** %s\r", why);
	}
	if (s->cb.on_end)
		s->cb.on_end(s->arg, err, why);
	return err;
}

void
b2f_session_abort(struct b2f_session *s, const char *why)
{
	end(s, GW_ECLOSED, why);
}

static void
send_handshake(struct b2f_session *s)
{
	buf_appendf(&s->out, ";FW: %s\r%s\r", s->mycall, SID);
	if (s->cfg.master && s->password[0])
		buf_appendf(&s->out, ";PQ: %08u\r",
		    s->cfg.challenge % 100000000u);
	if (!s->cfg.master && s->pq[0]) {
		char pr[9];
		b2f_secure_response(s->pq, s->password, pr);
		buf_appendf(&s->out, ";PR: %s\r", pr);
	}
	buf_appendf(&s->out, "; %s DE %s (%s)%s\r",
	    s->remote[0] ? s->remote : "?", s->mycall, s->locator,
	    s->cfg.master ? ">" : "");
}

void
b2f_session_start(struct b2f_session *s)
{
	if (s->cfg.master && s->st == S_LOGIN_CALL)
		buf_append_str(&s->out, "Callsign :\r");
}

static void
take_turn(struct b2f_session *s)
{
	s->nprops = 0;          /* the block we received is done */
	s->sum = 0;
	s->st = S_TURN;
	if (s->cb.on_turn)
		s->cb.on_turn(s->arg);
}

/* ---- sending ------------------------------------------------------------ */

void
b2f_session_offer(struct b2f_session *s, const struct b2f_offer *o,
    size_t n)
{
	unsigned sum = 0;

	if (s->st != S_TURN)
		return;
	if (n > B2F_BLOCK_MAX)
		n = B2F_BLOCK_MAX;
	if (n == 0) {
		if (s->remote_ff) {
			buf_append_str(&s->out, "FQ\r");
			end(s, 0, "done");
			return;
		}
		buf_append_str(&s->out, "FF\r");
		s->st = S_RECV;
		return;
	}
	out_clear(s);
	for (size_t i = 0; i < n; i++) {
		struct out_msg *m = &s->outq[i];
		char line[128];
		memset(m, 0, sizeof(*m));
		m->o = o[i];
		if (m->o.title[0] == '\0')
			snprintf(m->o.title, sizeof(m->o.title), "-");
		m->data = xmalloc(o[i].csize ? o[i].csize : 1);
		memcpy(m->data, o[i].payload, o[i].csize);
		m->o.payload = m->data;
		int len = snprintf(line, sizeof(line), "FC EM %s %u %zu 0",
		    m->o.mid, m->o.size, m->o.csize);
		for (int k = 0; k < len; k++)
			sum += (unsigned char)line[k];
		sum += '\r';
		buf_appendf(&s->out, "%s\r", line);
	}
	s->nout = n;
	buf_appendf(&s->out, "F> %02X\r", (unsigned)(-(int)sum) & 0xff);
	s->st = S_WAIT_FS;
}

static void
send_data(struct b2f_session *s, struct out_msg *m)
{
	char off[16];
	unsigned sum = 0;
	size_t tl = strlen(m->o.title);

	snprintf(off, sizeof(off), "%u", m->offset);
	buf_append_byte(&s->out, 0x01);
	buf_append_byte(&s->out, (uint8_t)(tl + strlen(off) + 2));
	buf_append(&s->out, m->o.title, tl);
	buf_append_byte(&s->out, 0);
	buf_append_str(&s->out, off);
	buf_append_byte(&s->out, 0);
	for (size_t i = m->offset; i < m->o.csize;) {
		size_t k = m->o.csize - i;
		if (k > B2F_STX_MAX)
			k = B2F_STX_MAX;
		buf_append_byte(&s->out, 0x02);
		buf_append_byte(&s->out, (uint8_t)k);
		buf_append(&s->out, m->data + i, k);
		for (size_t j = 0; j < k; j++)
			sum += m->data[i + j];
		i += k;
	}
	buf_append_byte(&s->out, 0x04);
	buf_append_byte(&s->out, (uint8_t)(-(int)sum));
	m->confirm = true;
}

static int
on_fs(struct b2f_session *s, const char *l)
{
	size_t i = 0, nacc = 0;
	const char *p = l + 3;

	while (*p && i < s->nout) {
		struct out_msg *m = &s->outq[i];
		char c = *p++;
		switch (c) {
		case '+': case 'Y': case 'y':
			m->offset = 0;
			break;
		case '!': case 'A': case 'a': {
			unsigned long v = 0;
			if (!isdigit((unsigned char)*p))
				return end(s, GW_EPROTO, "bad FS offset");
			while (isdigit((unsigned char)*p) && v <= 1000000)
				v = v * 10 + (unsigned long)(*p++ - '0');
			m->offset = v < m->o.csize ? (uint32_t)v : 0;
			break;
		}
		case '-': case 'N': case 'n': case 'R': case 'r':
			m->offset = UINT32_MAX;
			break;
		case '=': case 'L': case 'l': case 'H': case 'h':
			m->offset = UINT32_MAX - 1;
			break;
		default:
			return end(s, GW_EPROTO, "bad FS answer");
		}
		i++;
	}
	if (i != s->nout || *p)
		return end(s, GW_EPROTO, "FS answers do not match proposals");
	/* report refusals now, send the accepted data */
	for (i = 0; i < s->nout; i++) {
		struct out_msg *m = &s->outq[i];
		if (m->offset == UINT32_MAX || m->offset == UINT32_MAX - 1) {
			m->reported = true;
			if (s->cb.on_outcome)
				s->cb.on_outcome(s->arg, i,
				    m->offset == UINT32_MAX ? B2F_REJECTED :
				    B2F_DEFERRED);
			continue;
		}
		send_data(s, m);
		nacc++;
	}
	if (nacc == 0) {
		out_clear(s);
		take_turn(s);
		return 0;
	}
	s->st = S_RECV;
	return 0;
}

/* The peer took its turn after our data: every confirmed offer is sent. */
static void
confirm_sent(struct b2f_session *s)
{
	size_t n = s->nout;

	s->nout = 0;
	for (size_t i = 0; i < n; i++) {
		bool c = s->outq[i].confirm;
		free(s->outq[i].data);
		s->outq[i].data = NULL;
		if (c && s->cb.on_outcome)
			s->cb.on_outcome(s->arg, i, B2F_SENT);
	}
}

/* ---- receiving ---------------------------------------------------------- */

static int
parse_proposal(struct b2f_session *s, const char *l)
{
	struct b2f_proposal *p;
	char type[8], mid[32];
	unsigned long size, csize;

	if (s->nprops >= PROPS_MAX)
		return end(s, GW_EPROTO, "too many proposals");
	p = &s->props[s->nprops];
	memset(p, 0, sizeof(*p));
	if (sscanf(l + 3, "%7s %31s %lu %lu", type, mid, &size, &csize) != 4 ||
	    strlen(mid) > B2F_MID_MAX || strlen(mid) == 0 ||
	    size > UINT32_MAX || csize > UINT32_MAX)
		return end(s, GW_EPROTO, "bad proposal");
	p->type = l[1];
	memcpy(p->mid, mid, strlen(mid) + 1);
	p->size = (uint32_t)size;
	p->csize = (uint32_t)csize;
	for (const char *c = l; *c; c++)
		s->sum += (unsigned char)*c;
	s->sum += '\r';
	s->nprops++;
	s->remote_ff = false;
	return 0;
}

static void
next_accepted(struct b2f_session *s, size_t from)
{
	size_t i = from;

	while (i < s->nprops && s->answers[i] != B2F_ACCEPT &&
	    s->answers[i] != B2F_RESUME)
		i++;
	s->cur = i;
	buf_reset(&s->rx);
	if (i < s->nprops) {
		buf_append(&s->rx, s->prefix[i].data, s->prefix[i].len);
		s->rxsum = 0;
		s->st = S_SOH;
		return;
	}
	s->rx_done = true;
	s->st = S_COMMIT;
	if (s->commits_wait == 0)
		take_turn(s);
}

void
b2f_session_answer(struct b2f_session *s, const char *answers,
    const uint32_t *offsets, const uint8_t *const *prefix, size_t n)
{
	bool resumed = false, any = false;

	if (s->st != S_ANSWER)
		return;
	buf_append_str(&s->out, "FS ");
	for (size_t i = 0; i < s->nprops; i++) {
		char a = i < n ? answers[i] : B2F_DEFER;
		struct b2f_proposal *p = &s->props[i];
		buf_reset(&s->prefix[i]);
		if (p->type != 'C')
			a = B2F_DEFER;
		if ((a == B2F_ACCEPT || a == B2F_RESUME) &&
		    p->size > s->cfg.max_message)
			a = B2F_DEFER;
		/* one resume per answer line: a Pat station reads the digits
		 * of an offset up to the last digit of the line */
		if (a == B2F_RESUME && (resumed || offsets == NULL ||
		    prefix == NULL || offsets[i] == 0 ||
		    offsets[i] >= p->csize || offsets[i] > B2F_OFFSET_MAX))
			a = B2F_ACCEPT;
		s->answers[i] = a;
		s->offsets[i] = 0;
		if (a == B2F_RESUME) {
			resumed = true;
			s->offsets[i] = offsets[i];
			buf_append(&s->prefix[i], prefix[i], offsets[i]);
			buf_appendf(&s->out, "!%u", offsets[i]);
		} else {
			buf_append_byte(&s->out, (uint8_t)a);
		}
		if (a == B2F_ACCEPT || a == B2F_RESUME)
			any = true;
	}
	buf_append_byte(&s->out, '\r');
	if (!any) {
		s->nprops = 0;
		s->sum = 0;
		s->st = S_RECV;
		return;
	}
	s->rx_done = false;
	s->commits_wait = 0;
	next_accepted(s, 0);
}

void
b2f_session_committed(struct b2f_session *s, size_t idx, int status)
{
	(void)idx;
	if (s->ended || s->commits_wait == 0)
		return;
	s->commits_wait--;
	if (status != 0) {
		end(s, status, "message could not be stored");
		return;
	}
	if (s->st == S_COMMIT && s->rx_done && s->commits_wait == 0)
		take_turn(s);
}

static int
finish_message(struct b2f_session *s)
{
	struct b2f_proposal *p = &s->props[s->cur];
	struct buf msg;
	int rc;

	if (s->rx.len != p->csize)
		return end(s, GW_EPROTO, "message length mismatch");
	buf_init(&msg);
	rc = lzhuf_decode(s->rx.data, s->rx.len, s->cfg.max_message, &msg);
	if (rc == 0 && msg.len != p->size)
		rc = GW_ECORRUPT;
	if (rc != 0) {
		buf_fini(&msg);
		buf_reset(&s->rx);
		s->st = S_SOH; /* not a partial worth keeping */
		return end(s, rc, "message does not decompress");
	}
	size_t idx = s->cur;
	s->commits_wait++;
	buf_reset(&s->rx);
	next_accepted(s, idx + 1);
	/* the callback may commit at once; next_accepted already moved on,
	 * so the turn is taken from committed() after the last one */
	if (s->cb.on_message)
		s->cb.on_message(s->arg, idx, p->mid, msg.data, msg.len);
	buf_fini(&msg);
	return 0;
}

/* Binary states. Returns 1 when progress was made, 0 when more input is
 * needed, <0 on an error (ended). */
static int
step_binary(struct b2f_session *s)
{
	const uint8_t *d = s->in.data;
	size_t n = s->in.len;

	if (n == 0)
		return 0;
	if (s->st == S_SOH) {
		if (d[0] != 0x01)
			return end(s, GW_EPROTO, "expected SOH");
		if (n < 2 || n < 2u + d[1])
			return 0;
		size_t hl = d[1];
		const uint8_t *h = d + 2;
		const uint8_t *z1 = memchr(h, 0, hl);
		if (z1 == NULL || (size_t)(z1 - h) + 1 >= hl ||
		    h[hl - 1] != 0)
			return end(s, GW_EPROTO, "bad SOH header");
		unsigned long off = strtoul((const char *)z1 + 1, NULL, 10);
		if (off != s->offsets[s->cur])
			return end(s, GW_EPROTO, "unexpected offset");
		buf_consume(&s->in, 2 + hl);
		s->st = S_DATA;
		return 1;
	}
	/* S_DATA */
	if (d[0] == 0x02) {
		if (n < 2)
			return 0;
		size_t bl = d[1] ? d[1] : 256;
		if (n < 2 + bl)
			return 0;
		if (s->rx.len + bl > s->props[s->cur].csize)
			return end(s, GW_EPROTO, "more data than proposed");
		buf_append(&s->rx, d + 2, bl);
		for (size_t i = 0; i < bl; i++)
			s->rxsum += d[2 + i];
		buf_consume(&s->in, 2 + bl);
		return 1;
	}
	if (d[0] == 0x04) {
		if (n < 2)
			return 0;
		unsigned chk = d[1];
		buf_consume(&s->in, 2);
		if (((s->rxsum + chk) & 0xff) != 0)
			return end(s, GW_EPROTO, "bad block checksum");
		int rc = finish_message(s);
		return rc < 0 ? rc : 1;
	}
	return end(s, GW_EPROTO, "expected STX or EOT");
}

static bool
sid_ok(const char *sid)
{
	/* [NAME-VERSION-FEATURES$]: B2 among the features */
	const char *dash = strrchr(sid, '-');

	return dash != NULL && strstr(dash, "B2") != NULL;
}

static int
handshake_line(struct b2f_session *s, const char *l)
{
	if (strncmp(l, ";FW:", 4) == 0) {
		const char *p = l + 4;
		while (*p == ' ')
			p++;
		snprintf(s->fw, sizeof(s->fw), "%s", p);
		for (char *c = s->fw; *c; c++)
			*c = (char)toupper((unsigned char)*c);
	} else if (strncmp(l, ";PQ:", 4) == 0) {
		upper_copy(s->pq, sizeof(s->pq), l + 4, strlen(l + 4));
	} else if (strncmp(l, ";PR:", 4) == 0) {
		upper_copy(s->pr, sizeof(s->pr), l + 4, strlen(l + 4));
	} else if (l[0] == '[') {
		snprintf(s->remote_sid, sizeof(s->remote_sid), "%s", l);
	} else if (l[0] == ';' && !s->cfg.master) {
		/* "; OURCALL DE THEIRCALL (LOC)>" */
		const char *de = strstr(l, " DE ");
		if (de != NULL) {
			const char *c = de + 4;
			size_t k = strcspn(c, " (>");
			upper_copy(s->remote, sizeof(s->remote), c, k);
		}
	}
	return 0;
}

static int
line_slave_login(struct b2f_session *s, const char *l, size_t len)
{
	if (len > 0 && l[len - 1] == ':' && !s->remote_sid[0]) {
		if (strncasecmp(l, "Callsign", 8) == 0)
			buf_appendf(&s->out, "%s\r", s->mycall);
		else
			buf_append_str(&s->out, "\r");
		return 0;
	}
	handshake_line(s, l);
	if (len == 0 || l[len - 1] != '>')
		return 0;
	if (!sid_ok(s->remote_sid))
		return end(s, GW_EPROTO, "peer does not speak B2");
	if (s->pq[0] && !s->password[0])
		return end(s, GW_EAUTH, "secure login required, no password");
	send_handshake(s);
	take_turn(s);
	return 0;
}

static int
master_hs_done(struct b2f_session *s)
{
	s->hs_pending = false;
	if (!sid_ok(s->remote_sid))
		return end(s, GW_EPROTO, "peer does not speak B2");
	if (s->password[0]) {
		char want[16], ch[16];
		snprintf(ch, sizeof(ch), "%08u",
		    s->cfg.challenge % 100000000u);
		b2f_secure_response(ch, s->password, want);
		if (strcmp(want, s->pr) != 0)
			return end(s, GW_EAUTH, "Secure login failed");
	}
	return 0;
}

static int
line_recv(struct b2f_session *s, const char *l)
{
	if (l[0] == '\0')
		return 0;
	if (s->nout > 0) {
		/* the peer's first words after our data: it took the turn */
		if (l[0] != 'F' && l[0] != ';')
			return end(s, GW_EPROTO, "peer did not take the data");
		confirm_sent(s);
	}
	if (strncmp(l, "***", 3) == 0)
		return end(s, GW_EPROTO, "peer reported an error");
	if (l[0] == ';' || l[0] == '[') {
		if (s->hs_pending)
			handshake_line(s, l);
		return 0;
	}
	if (l[0] != 'F' || l[1] == '\0')
		return end(s, GW_EPROTO, "unexpected line");
	if (s->hs_pending) {
		int rc = master_hs_done(s);
		if (rc != 0)
			return rc;
	}
	switch (l[1]) {
	case 'A': case 'B': case 'C': case 'D':
		if (l[2] != ' ')
			return end(s, GW_EPROTO, "bad proposal");
		return parse_proposal(s, l);
	case '>': {
		unsigned long their = strtoul(l + 2, NULL, 16);
		if (s->nprops == 0)
			return end(s, GW_EPROTO, "empty proposal block");
		if (their != ((unsigned)(-(int)s->sum) & 0xff))
			return end(s, GW_EPROTO, "proposal checksum error");
		s->sum = 0;
		s->st = S_ANSWER;
		if (s->cb.on_proposals)
			s->cb.on_proposals(s->arg, s->props, s->nprops);
		return 0;
	}
	case 'F':
		if (s->nprops > 0)
			return end(s, GW_EPROTO, "FF inside a proposal block");
		s->remote_ff = true;
		take_turn(s);
		return 0;
	case 'Q':
		return end(s, 0, "peer quit");
	default:
		return end(s, GW_EPROTO, "unknown command");
	}
}

static int
step_line(struct b2f_session *s)
{
	uint8_t *cr = memchr(s->in.data, '\r', s->in.len);
	char line[LINE_MAX_BYTES + 1];
	size_t len, skip = 0;
	int rc = 0;

	if (s->in.len > 0 && s->in.data[0] == '\n') {
		buf_consume(&s->in, 1);
		return 1;
	}
	if (cr == NULL) {
		if (s->in.len > LINE_MAX_BYTES)
			return end(s, GW_EPROTO, "line too long");
		return 0;
	}
	len = (size_t)(cr - s->in.data);
	if (len > LINE_MAX_BYTES)
		return end(s, GW_EPROTO, "line too long");
	memcpy(line, s->in.data, len);
	line[len] = '\0';
	skip = len + 1;
	buf_consume(&s->in, skip);
	if (memchr(line, '\0', len) != NULL)
		return end(s, GW_EPROTO, "NUL in a line");
	switch (s->st) {
	case S_LOGIN_CALL:
		upper_copy(s->remote, sizeof(s->remote), line, len);
		if (s->remote[0] == '\0')
			return end(s, GW_EPROTO, "no callsign");
		buf_append_str(&s->out, "Password :\r");
		s->st = S_LOGIN_PASS;
		break;
	case S_LOGIN_PASS:
		send_handshake(s);
		s->hs_pending = true;
		s->st = S_RECV;
		break;
	case S_SLAVE_LOGIN:
		rc = line_slave_login(s, line, len);
		break;
	case S_WAIT_FS:
		if (line[0] == ';' || line[0] == '\0')
			break;
		if (strncmp(line, "FS ", 3) != 0)
			return end(s, GW_EPROTO, "expected FS");
		rc = on_fs(s, line);
		break;
	case S_RECV:
		rc = line_recv(s, line);
		break;
	default:
		break;
	}
	return rc < 0 ? rc : 1;
}

int
b2f_session_input(struct b2f_session *s, const uint8_t *p, size_t n)
{
	if (s->ended)
		return 0;
	buf_append(&s->in, p, n);
	for (;;) {
		int rc;
		if (s->ended)
			return 0;
		switch (s->st) {
		case S_LOGIN_CALL: case S_LOGIN_PASS: case S_SLAVE_LOGIN:
		case S_RECV: case S_WAIT_FS:
			rc = step_line(s);
			break;
		case S_SOH: case S_DATA:
			rc = step_binary(s);
			break;
		default:
			rc = 0;
			break;
		}
		if (rc < 0)
			return rc;
		if (rc == 0)
			return 0;
	}
}
