/* AT dialogue engine: golden transcripts (tests/link/at_chat/NAME.in ->
 * NAME.ref), each run twice (input as given and byte by byte, which must
 * give the same transcript), plus direct checks of the outcome fields.
 *
 * .in format, one directive a line ('#' comments):
 *   number TEXT            the number for %N
 *   send TEXT | expect TEXT [timeout_ms] | pause ms | abort TEXT
 *   @MS recv TEXT          at time MS the modem sends TEXT
 *   @MS tick               at time MS the timer fires (if due)
 * TEXT takes \r \n \t \\ \xNN escapes. Set SKYWAVE_UPDATE_GOLDEN=1 to
 * rewrite the .ref files after a deliberate change. */
#include "tests/lib/testutil.h"

#include "common/buf.h"
#include "common/err.h"
#include "common/xmalloc.h"
#include "link-drivers/at_chat.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

static size_t
unescape(const char *s, char *out, size_t outlen)
{
	size_t o = 0;

	for (; *s && o + 1 < outlen; s++) {
		if (*s != '\\' || s[1] == '\0') {
			out[o++] = *s;
			continue;
		}
		s++;
		switch (*s) {
		case 'r': out[o++] = '\r'; break;
		case 'n': out[o++] = '\n'; break;
		case 't': out[o++] = '\t'; break;
		case 'x': {
			char hex[3] = { s[1], s[2], 0 };
			out[o++] = (char)strtol(hex, NULL, 16);
			s += 2;
			break;
		}
		default: out[o++] = *s; break;
		}
	}
	out[o] = '\0';
	return o;
}

static void
trace_to_buf(void *arg, const char *line)
{
	buf_appendf(arg, "%s\n", line);
}

static const char *
status_name(enum at_chat_status st)
{
	static const char *n[] = { "idle", "running", "done", "failed" };
	return n[st];
}

struct ev {
	int64_t at;
	bool tick;
	char text[1024];
	size_t len;
};

/* Run one .in; the transcript goes to out. */
static void
run_case(const char *text, bool bytewise, struct buf *out,
    struct at_chat *c_out)
{
	static struct prof_dialogue dlg;
	struct ev evs[64];
	size_t nev = 0;
	char number[64] = "";
	char *copy = xstrdup(text), *save = NULL, *line;

	memset(&dlg, 0, sizeof(dlg));
	for (line = strtok_r(copy, "\n", &save); line;
	    line = strtok_r(NULL, "\n", &save)) {
		char arg[1024];
		long long ms;
		int used = 0;

		if (line[0] == '#' || line[0] == '\0')
			continue;
		if (line[0] == '@') {
			assert_true(nev < GW_ARRAY_LEN(evs));
			struct ev *e = &evs[nev++];
			assert_int_equal(sscanf(line, "@%lld %n", &ms, &used),
			    1);
			e->at = ms;
			e->tick = strncmp(line + used, "tick", 4) == 0;
			if (!e->tick) {
				assert_int_equal(strncmp(line + used, "recv ",
				    5), 0);
				e->len = unescape(line + used + 5, e->text,
				    sizeof(e->text));
			}
			continue;
		}
		if (strncmp(line, "number ", 7) == 0) {
			snprintf(number, sizeof(number), "%s", line + 7);
			continue;
		}
		if (strncmp(line, "abort ", 6) == 0) {
			unescape(line + 6, dlg.aborts[dlg.n_aborts++],
			    PROF_TEXT_MAX);
			continue;
		}
		struct prof_step *s = &dlg.steps[dlg.n_steps++];
		if (strncmp(line, "send ", 5) == 0) {
			s->kind = PROF_STEP_SEND;
			s->len = unescape(line + 5, s->text, sizeof(s->text));
		} else if (strncmp(line, "pause ", 6) == 0) {
			s->kind = PROF_STEP_PAUSE;
			s->timeout_ms = atoll(line + 6);
		} else if (strncmp(line, "expect ", 7) == 0) {
			s->kind = PROF_STEP_EXPECT;
			snprintf(arg, sizeof(arg), "%s", line + 7);
			char *sp = strrchr(arg, ' ');
			if (sp && sp[1] >= '0' && sp[1] <= '9') {
				s->timeout_ms = atoll(sp + 1);
				*sp = '\0';
			}
			s->len = unescape(arg, s->text, sizeof(s->text));
		} else {
			fail_msg("bad directive: %s", line);
		}
	}
	free(copy);

	struct at_chat *c = c_out;
	at_chat_init(c);
	at_chat_set_trace(c, trace_to_buf, out);
	enum at_chat_status st = at_chat_start(c, &dlg, number, 0);
	buf_appendf(out, "@0 start -> %s\n", status_name(st));
	for (size_t i = 0; i < nev; i++) {
		struct ev *e = &evs[i];
		if (e->tick) {
			st = at_chat_tick(c, e->at);
		} else if (bytewise) {
			for (size_t j = 0; j < e->len; j++)
				st = at_chat_input(c,
				    (const uint8_t *)e->text + j, 1, e->at);
		} else {
			st = at_chat_input(c, (const uint8_t *)e->text,
			    e->len, e->at);
		}
		buf_appendf(out, "@%" PRId64 " %s -> %s", e->at,
		    e->tick ? "tick" : "recv", status_name(st));
		if (c->deadline_ms != INT64_MAX)
			buf_appendf(out, " deadline=%" PRId64, c->deadline_ms);
		buf_append_str(out, "\n");
	}
	if (c->out.len) {
		char esc[1024];
		prof_escape((const char *)c->out.data, c->out.len, esc,
		    sizeof(esc));
		buf_appendf(out, "wrote \"%s\"\n", esc);
	}
	buf_appendf(out, "result %s err=%s rate=%" PRIu32 " abort=%d\n",
	    status_name(c->status), c->err ? gw_errname(c->err) : "0",
	    c->connect_rate, c->abort_index);
	/* The dialogue stays referenced only while running. */
	c->dlg = NULL;
}

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	struct buf b = BUF_INIT;
	char tmp[4096];
	size_t n;

	if (f == NULL)
		return NULL;
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		buf_append(&b, tmp, n);
	fclose(f);
	buf_append(&b, "", 0);
	return (char *)buf_detach(&b, &n);
}

static void
test_golden(void **state)
{
	(void)state;
	char *dir = tu_src_path("tests/link/at_chat");
	bool update = getenv("SKYWAVE_UPDATE_GOLDEN") != NULL;
	DIR *dh = opendir(dir);
	struct dirent *de;
	int ncases = 0;

	assert_non_null(dh);
	while ((de = readdir(dh)) != NULL) {
		size_t nl = strlen(de->d_name);
		char in_path[1024], ref_path[1024];
		struct buf t1 = BUF_INIT, t2 = BUF_INIT;
		struct at_chat c1, c2;

		if (nl < 4 || strcmp(de->d_name + nl - 3, ".in") != 0)
			continue;
		snprintf(in_path, sizeof(in_path), "%s/%s", dir, de->d_name);
		snprintf(ref_path, sizeof(ref_path), "%s/%.*s.ref", dir,
		    (int)(nl - 3), de->d_name);
		char *in = slurp(in_path);
		assert_non_null(in);
		run_case(in, false, &t1, &c1);
		run_case(in, true, &t2, &c2);
		if (strcmp(buf_cstr(&t1), buf_cstr(&t2)) != 0)
			fail_msg("%s: byte-by-byte transcript differs:\n%s\n"
			    "---\n%s", de->d_name, buf_cstr(&t1),
			    buf_cstr(&t2));
		if (update) {
			assert_int_equal(tu_write_file(ref_path,
			    buf_cstr(&t1)), 0);
		} else {
			char *ref = slurp(ref_path);
			if (ref == NULL)
				fail_msg("%s missing", ref_path);
			if (strcmp(ref, buf_cstr(&t1)) != 0)
				fail_msg("%s: transcript differs from %s:\n%s",
				    de->d_name, ref_path, buf_cstr(&t1));
			free(ref);
		}
		at_chat_fini(&c1);
		at_chat_fini(&c2);
		free(in);
		buf_fini(&t1);
		buf_fini(&t2);
		ncases++;
	}
	closedir(dh);
	free(dir);
	assert_true(ncases >= 8);
}

static void
test_direct_outcomes(void **state)
{
	(void)state;
	struct prof_dialogue dlg;
	struct at_chat c;

	memset(&dlg, 0, sizeof(dlg));
	dlg.steps[0].kind = PROF_STEP_SEND;
	memcpy(dlg.steps[0].text, "ATD%N\r", 6);
	dlg.steps[0].len = 6;
	dlg.steps[1].kind = PROF_STEP_EXPECT;
	memcpy(dlg.steps[1].text, "CONNECT", 7);
	dlg.steps[1].len = 7;
	dlg.steps[1].timeout_ms = 0; /* engine default */
	dlg.n_steps = 2;
	snprintf(dlg.aborts[0], PROF_TEXT_MAX, "BUSY");
	dlg.n_aborts = 1;

	at_chat_init(&c);
	c.default_timeout_ms = 5000;
	assert_int_equal(at_chat_start(&c, &dlg, "42", 100), AT_CHAT_RUNNING);
	assert_int_equal(c.out.len, 6);
	assert_memory_equal(c.out.data, "ATD42\r", 6);
	assert_int_equal(at_chat_deadline(&c), 5100);
	assert_int_equal(at_chat_tick(&c, 5099), AT_CHAT_RUNNING);
	/* CONNECT without its line end does not match yet: the rate may
	 * still be coming. */
	assert_int_equal(at_chat_input(&c, (const uint8_t *)"CONNECT 96", 10,
	    200), AT_CHAT_RUNNING);
	assert_int_equal(at_chat_input(&c, (const uint8_t *)"00/ARQ\r\n", 8,
	    300), AT_CHAT_DONE);
	assert_int_equal(c.connect_rate, 9600);
	assert_int_equal(at_chat_deadline(&c), INT64_MAX);
	/* Input after DONE changes nothing. */
	assert_int_equal(at_chat_input(&c, (const uint8_t *)"BUSY\r", 5, 400),
	    AT_CHAT_DONE);

	/* Abort from outside. */
	assert_int_equal(at_chat_start(&c, &dlg, NULL, 0), AT_CHAT_RUNNING);
	at_chat_abort(&c, GW_ECLOSED, "device closed");
	assert_int_equal(c.status, AT_CHAT_FAILED);
	assert_int_equal(c.err, GW_ECLOSED);
	assert_string_equal(c.reason, "device closed");

	/* Expansion overflow fails cleanly. */
	char big[AT_CHAT_NUMBER_MAX];
	memset(big, '9', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memset(dlg.steps[0].text, 0, sizeof(dlg.steps[0].text));
	memset(dlg.steps[0].text, '%', PROF_TEXT_MAX - 1);
	for (int i = 1; i < PROF_TEXT_MAX - 1; i += 2)
		dlg.steps[0].text[i] = 'N';
	dlg.steps[0].len = PROF_TEXT_MAX - 1;
	assert_int_equal(at_chat_start(&c, &dlg, big, 0), AT_CHAT_FAILED);
	assert_int_equal(c.err, GW_ETOOBIG);
	at_chat_fini(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_direct_outcomes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
