/*
 * test_control.c - the control protocol against a real server with fake
 * operations (tests/control/harness.c): every request, malformed requests,
 * disconnects mid-stream and mid-action, limits, the socket file's
 * permissions and group, stale and live sockets.
 */
#include "tests/control/harness.h"
#include "tests/lib/testutil.h"

#include "common/err.h"
#include "common/xmalloc.h"
#include "gateway/cli/ctlclient.h"

#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

struct fx {
	char *dir;
	struct harness h;
};

static int
setup_opts(void **state, const struct control_opts *opts)
{
	struct fx *f = xcalloc(1, sizeof(*f));

	f->dir = tu_mkdtemp("control");
	chmod(f->dir, 0755); /* the permission test runs as nobody */
	if (harness_start(&f->h, f->dir, opts) != 0) {
		tu_rmtree(f->dir);
		free(f->dir);
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int
setup(void **state)
{
	return setup_opts(state, NULL);
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	harness_stop(&f->h);
	/* the server removed its socket file */
	struct stat sb;
	assert_int_not_equal(lstat(f->h.path, &sb), 0);
	tu_rmtree(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

static struct ctlclient *
conn(struct fx *f)
{
	struct ctlclient *c = NULL;

	assert_int_equal(ctlclient_connect(f->h.path, &c), 0);
	return c;
}

/* Send a raw line, read one reply object. */
static json_t *
raw(struct ctlclient *c, const char *line)
{
	json_t *rep = NULL;
	int fd = ctlclient_fd(c);
	size_t n = strlen(line);

	assert_int_equal(send(fd, line, n, MSG_NOSIGNAL), (ssize_t)n);
	assert_int_equal(ctlclient_read(c, 5000, &rep), 0);
	return rep;
}

static const char *
err_of(const json_t *rep)
{
	assert_true(json_is_false(json_object_get(rep, "ok")));
	const char *e = json_string_value(json_object_get(rep, "error"));
	assert_non_null(e);
	return e;
}

static void
t_ping(void **state)
{
	struct fx *f = *state;
	struct ctlclient *c = conn(f);
	json_t *rep = raw(c, "{\"op\":\"ping\",\"tag\":7}\n");

	assert_true(json_is_true(json_object_get(rep, "ok")));
	assert_int_equal(json_integer_value(json_object_get(rep, "version")),
	    1);
	assert_int_equal(json_integer_value(json_object_get(rep, "tag")), 7);
	/* SO_PEERCRED: the server sees our uid */
	assert_int_equal(json_integer_value(json_object_get(rep, "uid")),
	    getuid());
	json_decref(rep);
	ctlclient_close(c);
}

static void
t_status(void **state)
{
	struct fx *f = *state;
	struct ctlclient *c = conn(f);
	struct status *st = xmalloc(sizeof(*st));
	char err[200];

	harness_post(&f->h, "link hf1 up");
	assert_int_equal(ctlclient_status(c, st, err, sizeof(err)), 0);
	assert_string_equal(st->gateway, "alpha.test");
	assert_int_equal(st->nlinks, 2);
	assert_string_equal(st->links[0].name, "hf1");
	assert_int_equal(st->links[0].state, STATUS_LINK_SENDING);
	assert_int_equal(st->links[1].state, STATUS_LINK_DOWN);
	assert_int_equal(st->links[0].nspark, STATUS_SPARK_MAX);
	assert_int_equal(st->nbands, 3);
	assert_int_equal(st->nonair, 1);
	assert_string_equal(st->onair[0].id, FAKE_ONAIR_ID);
	assert_int_equal(st->nrisk, 1);
	assert_int_equal(st->risk[0].action, STATUS_RISK_REDIRECT);
	assert_true(st->risk[0].slack_ms < 0);
	assert_true(st->now_s > 1700000000); /* filled by the server */
	/* the server's event ring is in the snapshot */
	assert_int_equal(st->nevents, 1);
	assert_string_equal(st->events[0].text, "link hf1 up");
	assert_string_equal(st->events[0].kind, "test");
	free(st);
	ctlclient_close(c);
}

/* Every action reaches the ops with its arguments and our credentials. */
static void
t_actions(void **state)
{
	static const struct {
		const char *op, *id, *link, *route;
		int want; /* 0 ok, else the error */
		const char *text;
	} cases[] = {
		{ "hold", "m1", NULL, NULL, 0, "held message m1" },
		{ "hold", NULL, "hf1", NULL, 0, "held link hf1" },
		{ "release", "m1", NULL, NULL, 0, "released message m1" },
		{ "release", NULL, "hf1", NULL, 0, "released link hf1" },
		{ "cancel", "m1", NULL, NULL, 0,
		    "cancelled; DSN sent to the sender" },
		{ "flush", NULL, NULL, NULL, 0, "retrying now" },
		{ "flush", "m1", NULL, NULL, 0, "retrying now" },
		{ "flush", NULL, "vhf2", NULL, 0, "retrying now" },
		{ "requeue", "m1", NULL, "link:vhf2", 0,
		    "requeued to link:vhf2" },
		{ "link_down", NULL, "hf1", NULL, 0, "link hf1 down" },
		{ "link_up", NULL, "hf1", NULL, 0, "link hf1 up" },
		{ "hold", "nosuch", NULL, NULL, GW_ENOENT, "no such message" },
		{ "link_down", NULL, "nolink", NULL, GW_ENOENT,
		    "no such link" },
	};
	struct fx *f = *state;
	struct ctlclient *c = conn(f);

	for (size_t i = 0; i < GW_ARRAY_LEN(cases); i++) {
		char text[200];
		int rc = ctlclient_action(c, cases[i].op, cases[i].id,
		    cases[i].link, cases[i].route, text, sizeof(text), NULL);
		assert_int_equal(rc, cases[i].want);
		assert_string_equal(text, cases[i].text);
		assert_int_equal(harness_nactions(&f->h), i + 1);
		struct fake_action a = harness_action(&f->h, i);
		assert_string_equal(control_op_name(a.op), cases[i].op);
		assert_string_equal(a.id, cases[i].id ? cases[i].id : "");
		assert_string_equal(a.link, cases[i].link ? cases[i].link :
		    "");
		assert_string_equal(a.route, cases[i].route ? cases[i].route :
		    "");
		assert_int_equal(a.uid, getuid());
		assert_int_equal(a.pid, getpid());
	}
	ctlclient_close(c);
}

static void
t_queue_show(void **state)
{
	struct fx *f = *state;
	struct ctlclient *c = conn(f);
	struct status_msg m;
	json_t *rep;
	char text[200];

	assert_int_equal(ctlclient_action(c, "queue", NULL, NULL, NULL, text,
	    sizeof(text), &rep), 0);
	json_t *arr = json_object_get(rep, "messages");
	assert_int_equal(json_array_size(arr), 3);
	assert_int_equal(status_msg_from_json(json_array_get(arr, 2), &m,
	    NULL, 0), 0);
	assert_string_equal(m.id, FAKE_HELD_ID);
	assert_int_equal(m.state, STATUS_MSG_HELD);
	json_decref(rep);

	/* limit is applied by the server */
	rep = raw(c, "{\"op\":\"queue\",\"limit\":2,\"band\":\"flash\"}\n");
	assert_int_equal(json_array_size(json_object_get(rep, "messages")), 2);
	json_decref(rep);

	assert_int_equal(ctlclient_action(c, "show", "m1", NULL, NULL, text,
	    sizeof(text), &rep), 0);
	assert_int_equal(status_msg_from_json(json_object_get(rep, "message"),
	    &m, NULL, 0), 0);
	assert_string_equal(m.id, "m1");
	assert_string_equal(m.route, "link:hf1");
	json_decref(rep);

	assert_int_equal(ctlclient_action(c, "show", "nosuch", NULL, NULL,
	    text, sizeof(text), NULL), GW_ENOENT);
	assert_string_equal(text, "no such message");
	ctlclient_close(c);
}

static void
t_malformed(void **state)
{
	static const struct {
		const char *line, *err;
	} cases[] = {
		{ "this is not json\n", "malformed JSON" },
		{ "{\"op\":\"status\"\n", "malformed JSON" },
		{ "[1,2,3]\n", "a request must be a JSON object" },
		{ "\"status\"\n", "malformed JSON" },
		{ "{}\n", "\"op\" is required" },
		{ "{\"op\":42}\n", "\"op\" is required" },
		{ "{\"op\":\"status\",\"op\":\"ping\"}\n", "malformed JSON" },
		{ "{\"op\":\"explode\"}\n", "unknown op \"explode\"" },
		{ "{\"op\":\"hold\"}\n", "hold: give exactly one of" },
		{ "{\"op\":\"hold\",\"id\":\"a\",\"link\":\"hf1\"}\n",
		    "hold: give exactly one of" },
		{ "{\"op\":\"cancel\"}\n", "cancel: \"id\" is required" },
		{ "{\"op\":\"requeue\",\"id\":\"m1\"}\n",
		    "requeue: \"route\" is required" },
		{ "{\"op\":\"link_up\"}\n", "link_up: \"link\" is required" },
		{ "{\"op\":\"hold\",\"id\":\"m1 x=y\"}\n",
		    "hold: \"id\" has characters that are not allowed" },
		{ "{\"op\":\"hold\",\"id\":\"m1\\n\"}\n",
		    "hold: \"id\" has characters that are not allowed" },
		{ "{\"op\":\"hold\",\"id\":7}\n",
		    "hold: \"id\" must be a string" },
		{ "{\"op\":\"hold\",\"id\":\"\"}\n", "hold: \"id\" is empty" },
		{ "{\"op\":\"hold\",\"id\":\"0123456789012345678901234567890"
		  "123456789012345678\"}\n", "hold: \"id\" is too long" },
		{ "{\"op\":\"link_down\",\"link\":\"hf1\",\"id\":\"m1\"}\n",
		    "link_down: \"id\" is not used" },
		{ "{\"op\":\"queue\",\"limit\":0}\n", "queue: \"limit\" must" },
		{ "{\"op\":\"events\",\"backlog\":-1}\n", "\"backlog\" must" },
		{ "{\"op\":\"ping\",\"tag\":[1]}\n", "\"tag\" must be" },
	};
	struct fx *f = *state;
	struct ctlclient *c = conn(f);

	for (size_t i = 0; i < GW_ARRAY_LEN(cases); i++) {
		json_t *rep = raw(c, cases[i].line);
		const char *e = err_of(rep);
		if (strstr(e, cases[i].err) == NULL)
			fail_msg("case %zu: \"%s\" does not contain \"%s\"", i,
			    e, cases[i].err);
		json_decref(rep);
	}
	/* nothing reached the ops, and the same connection still works */
	assert_int_equal(harness_nactions(&f->h), 0);
	json_t *rep = raw(c, "\r\n\n{\"op\":\"ping\"}\r\n");
	assert_true(json_is_true(json_object_get(rep, "ok")));
	json_decref(rep);
	ctlclient_close(c);
}

/* Random bytes, line after line: every line gets an error reply and the
 * server stays up. Printable JSON-ish noise is mixed in to get past the
 * tokenizer now and then. */
static void
t_garbage(void **state)
{
	static const char alphabet[] = "{}[]\":,0123456789.eE+-truefalsnl "
	    "\\/\"op\"\"id\"\"hold\"\"status\"\xc3\xa9\xff\x01";
	struct fx *f = *state;
	struct ctlclient *c = conn(f);
	uint64_t seed = tu_seed("control_garbage");
	char line[400];

	srandom((unsigned)seed);
	for (int i = 0; i < 300; i++) {
		size_t n = 1 + (size_t)random() % 300;
		for (size_t k = 0; k < n; k++) {
			int ch = i % 2 ? (int)(random() % 256) :
			    alphabet[random() % (sizeof(alphabet) - 1)];
			line[k] = ch == '\n' || ch == '\r' || ch == 0 ? ' ' :
			    (char)ch;
		}
		line[n] = '\n';
		line[n + 1] = '\0';
		if (strspn(line, " \n") == n + 1)
			continue; /* blank lines get no reply */
		assert_int_equal(send(ctlclient_fd(c), line, n + 1,
		    MSG_NOSIGNAL), (ssize_t)(n + 1));
		json_t *rep = NULL;
		assert_int_equal(ctlclient_read(c, 5000, &rep), 0);
		assert_true(json_is_boolean(json_object_get(rep, "ok")));
		json_decref(rep);
	}
	json_t *rep = raw(c, "{\"op\":\"ping\"}\n");
	assert_true(json_is_true(json_object_get(rep, "ok")));
	json_decref(rep);
	ctlclient_close(c);
}

/* Several requests in one write are answered in order, including an
 * action that finishes later. */
static void
t_pipelined(void **state)
{
	struct fx *f = *state;
	struct ctlclient *c = conn(f);
	const char *lines = "{\"op\":\"cancel\",\"id\":\"m1\",\"tag\":1}\n"
	    "{\"op\":\"ping\",\"tag\":2}\n"
	    "{\"op\":\"hold\",\"id\":\"m1\",\"tag\":3}\n"
	    "{\"op\":\"bogus\",\"tag\":4}\n";

	assert_int_equal(send(ctlclient_fd(c), lines, strlen(lines),
	    MSG_NOSIGNAL), (ssize_t)strlen(lines));
	for (int t = 1; t <= 4; t++) {
		json_t *rep = NULL;
		assert_int_equal(ctlclient_read(c, 5000, &rep), 0);
		assert_int_equal(json_integer_value(json_object_get(rep,
		    "tag")), t);
		assert_int_equal(json_is_true(json_object_get(rep, "ok")),
		    t != 4);
		json_decref(rep);
	}
	ctlclient_close(c);
}

static void
t_line_too_long(void **state)
{
	struct fx *f = *state;
	struct ctlclient *c = conn(f);
	size_t n = 10000;
	char *big = xmalloc(n + 1);
	json_t *rep = NULL;

	memset(big, 'x', n);
	big[n] = '\0';
	/* no newline at all: the server gives up after max_line */
	assert_int_equal(send(ctlclient_fd(c), big, n, MSG_NOSIGNAL),
	    (ssize_t)n);
	assert_int_equal(ctlclient_read(c, 5000, &rep), 0);
	assert_non_null(strstr(err_of(rep), "longer than 4096"));
	json_decref(rep);
	assert_int_equal(ctlclient_read(c, 5000, &rep), GW_ECLOSED);
	ctlclient_close(c);
	free(big);
	/* the server is unaffected */
	c = conn(f);
	rep = raw(c, "{\"op\":\"ping\"}\n");
	assert_true(json_is_true(json_object_get(rep, "ok")));
	json_decref(rep);
	ctlclient_close(c);
}

static json_t *
next_event(struct ctlclient *c)
{
	json_t *line = NULL;

	assert_int_equal(ctlclient_read(c, 5000, &line), 0);
	json_t *ev = json_object_get(line, "event");
	assert_non_null(ev);
	json_incref(ev);
	json_decref(line);
	return ev;
}

static void
t_events(void **state)
{
	struct fx *f = *state;
	struct ctlclient *s, *c;
	json_t *rep, *ev;
	char text[100];

	harness_post(&f->h, "one");
	harness_post(&f->h, "two");
	s = conn(f);
	rep = raw(s, "{\"op\":\"events\",\"backlog\":1}\n");
	assert_string_equal(json_string_value(json_object_get(rep, "stream")),
	    "events");
	json_decref(rep);
	ev = next_event(s); /* the backlog: the last one only */
	assert_string_equal(json_string_value(json_object_get(ev, "text")),
	    "two");
	json_decref(ev);

	harness_post(&f->h, "three");
	ev = next_event(s);
	assert_string_equal(json_string_value(json_object_get(ev, "text")),
	    "three");
	json_decref(ev);

	/* an action by someone else shows up, with who did it */
	c = conn(f);
	assert_int_equal(ctlclient_action(c, "hold", "m1", NULL, NULL, text,
	    sizeof(text), NULL), 0);
	ev = next_event(s);
	assert_string_equal(json_string_value(json_object_get(ev, "kind")),
	    "operator");
	char want[100];
	snprintf(want, sizeof(want), "uid %u hold m1: held message m1",
	    (unsigned)getuid());
	assert_string_equal(json_string_value(json_object_get(ev, "text")),
	    want);
	json_decref(ev);
	/* input on a stream is ignored, the stream goes on */
	assert_int_equal(send(ctlclient_fd(s), "{\"op\":\"ping\"}\n", 14,
	    MSG_NOSIGNAL), 14);
	harness_post(&f->h, "four");
	ev = next_event(s);
	assert_string_equal(json_string_value(json_object_get(ev, "text")),
	    "four");
	json_decref(ev);
	ctlclient_close(s);
	ctlclient_close(c);
}

static void
wait_clients(struct fx *f, size_t n)
{
	for (int i = 0; i < 500 && harness_nclients(&f->h) != n; i++)
		usleep(10000);
	assert_int_equal(harness_nclients(&f->h), n);
}

static void
t_disconnect_mid_stream(void **state)
{
	struct fx *f = *state;
	struct ctlclient *s = conn(f);
	json_t *rep = raw(s, "{\"op\":\"events\"}\n");

	json_decref(rep);
	wait_clients(f, 1);
	ctlclient_close(s);
	/* posting to a gone client does not hurt; it is cleaned up */
	for (int i = 0; i < 50; i++)
		harness_post(&f->h, "after the client left");
	wait_clients(f, 0);
	s = conn(f);
	rep = raw(s, "{\"op\":\"status\"}\n");
	assert_true(json_is_true(json_object_get(rep, "ok")));
	json_decref(rep);
	ctlclient_close(s);
}

/* A client that leaves while its action is outstanding: the action still
 * finishes (its token stays valid), the reply is dropped. */
static void
t_disconnect_mid_action(void **state)
{
	struct fx *f = *state;
	struct ctlclient *c = conn(f);
	const char *line = "{\"op\":\"hold\",\"id\":\"slow\"}\n";

	assert_int_equal(send(ctlclient_fd(c), line, strlen(line),
	    MSG_NOSIGNAL), (ssize_t)strlen(line));
	for (int i = 0; i < 500 && harness_nactions(&f->h) == 0; i++)
		usleep(5000);
	ctlclient_close(c);
	wait_clients(f, 0);
	for (int i = 0; i < 500; i++) {
		pthread_mutex_lock(&f->h.lock);
		size_t n = f->h.ndone_late;
		pthread_mutex_unlock(&f->h.lock);
		if (n == 1)
			break;
		usleep(5000);
	}
	assert_int_equal(f->h.ndone_late, 1);
}

/* Closing the server while an action is outstanding: freed only after the
 * action finishes (ASan would see a use after free otherwise). */
static void
t_close_mid_action(void **state)
{
	struct fx *f = *state;
	struct ctlclient *c = conn(f);
	const char *line = "{\"op\":\"hold\",\"id\":\"slow\"}\n";

	assert_int_equal(send(ctlclient_fd(c), line, strlen(line),
	    MSG_NOSIGNAL), (ssize_t)strlen(line));
	for (int i = 0; i < 500 && harness_nactions(&f->h) == 0; i++)
		usleep(5000);
	ctlclient_close(c);
	/* teardown stops the server now; the slow action is still due */
}

static int
setup_small(void **state)
{
	struct control_opts o;

	memset(&o, 0, sizeof(o));
	o.max_clients = 2;
	o.max_output = 64 * 1024;
	o.log_events_level = GW_LOG_WARN;
	return setup_opts(state, &o);
}

static void
t_max_clients(void **state)
{
	struct fx *f = *state;
	struct ctlclient *a = conn(f), *b = conn(f), *c = conn(f);
	json_t *rep = NULL;

	assert_int_equal(ctlclient_read(c, 5000, &rep), 0);
	assert_non_null(strstr(err_of(rep), "too many clients"));
	json_decref(rep);
	assert_int_equal(ctlclient_read(c, 5000, &rep), GW_ECLOSED);
	ctlclient_close(c);
	rep = raw(a, "{\"op\":\"ping\"}\n");
	assert_true(json_is_true(json_object_get(rep, "ok")));
	json_decref(rep);
	ctlclient_close(a);
	ctlclient_close(b);
	wait_clients(f, 0);
}

static int
setup_idle(void **state)
{
	struct control_opts o;

	memset(&o, 0, sizeof(o));
	o.idle_timeout_ms = 400;
	o.log_events_level = -1;
	return setup_opts(state, &o);
}

/* A silent request connection is closed; a stream is not. */
static void
t_idle(void **state)
{
	struct fx *f = *state;
	struct ctlclient *quiet = conn(f), *busy = conn(f), *s;
	json_t *rep = NULL;

	s = conn(f);
	rep = raw(s, "{\"op\":\"events\"}\n");
	assert_true(json_is_true(json_object_get(rep, "ok")));
	json_decref(rep);
	json_decref(raw(busy, "{\"op\":\"ping\"}\n"));
	for (int i = 0; i < 6; i++) {
		usleep(150000);
		rep = raw(busy, "{\"op\":\"ping\"}\n");
		assert_true(json_is_true(json_object_get(rep, "ok")));
		json_decref(rep);
	}
	/* 900 ms without a word from quiet */
	assert_int_equal(ctlclient_read(quiet, 5000, &rep), GW_ECLOSED);
	ctlclient_close(quiet);
	wait_clients(f, 2);
	harness_post(&f->h, "still listening");
	json_t *ev = next_event(s);
	assert_string_equal(json_string_value(json_object_get(ev, "text")),
	    "still listening");
	json_decref(ev);
	ctlclient_close(s);
	ctlclient_close(busy);
}

static void
log_warn_fn(struct harness *h, void *arg)
{
	(void)h;
	(void)arg;
	GW_LOGW("link", "link=hf1 event=down reason=carrier-lost");
	GW_LOGI("link", "link=hf1 event=chatter"); /* below the level */
}

static void *
log_thread(void *arg)
{
	(void)arg;
	GW_LOGE("queue", "event=disk-full");
	return NULL;
}

/* Log lines at warn or worse become events, from any thread. */
static void
t_log_events(void **state)
{
	struct fx *f = *state;
	struct ctlclient *s = conn(f);
	json_t *rep = raw(s, "{\"op\":\"events\"}\n");
	pthread_t th;
	json_t *ev;

	json_decref(rep);
	harness_run(&f->h, log_warn_fn, NULL);
	ev = next_event(s);
	assert_string_equal(json_string_value(json_object_get(ev, "kind")),
	    "link");
	assert_string_equal(json_string_value(json_object_get(ev, "level")),
	    "warn");
	assert_string_equal(json_string_value(json_object_get(ev, "text")),
	    "link=hf1 event=down reason=carrier-lost");
	json_decref(ev);
	pthread_create(&th, NULL, log_thread, NULL);
	pthread_join(th, NULL);
	ev = next_event(s);
	assert_string_equal(json_string_value(json_object_get(ev, "text")),
	    "event=disk-full");
	json_decref(ev);
	ctlclient_close(s);
}

/* A stream reader that never reads is dropped once its backlog passes
 * max_output; the server and the others carry on. */
static void
t_slow_reader(void **state)
{
	struct fx *f = *state;
	struct ctlclient *s = conn(f);
	json_t *rep = raw(s, "{\"op\":\"events\"}\n");
	char text[STATUS_TEXT_MAX];
	int fd = ctlclient_fd(s);
	int small = 4096;

	json_decref(rep);
	/* shrink our receive buffer so the backlog builds up server side */
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	memset(text, 'e', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	for (int i = 0; i < 2000 && harness_nclients(&f->h) > 0; i++)
		harness_post(&f->h, text);
	assert_int_equal(harness_nclients(&f->h), 0);
	ctlclient_close(s);
	struct ctlclient *c = conn(f);
	rep = raw(c, "{\"op\":\"ping\"}\n");
	assert_true(json_is_true(json_object_get(rep, "ok")));
	json_decref(rep);
	ctlclient_close(c);
}

/* connect(2) to path as uid/gid in a child; returns the child's errno
 * (0 if it connected). */
static int
connect_as(const char *path, uid_t uid, gid_t gid)
{
	pid_t pid = fork();
	int st;

	assert_true(pid >= 0);
	if (pid == 0) {
		struct sockaddr_un sa;
		int fd;
		if (setgroups(0, NULL) != 0 || setgid(gid) != 0 ||
		    setuid(uid) != 0)
			_exit(100);
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		memset(&sa, 0, sizeof(sa));
		sa.sun_family = AF_UNIX;
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
			_exit(errno);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

static int
setup_group(void **state)
{
	struct control_opts o;

	memset(&o, 0, sizeof(o));
	o.group = "adm";
	o.log_events_level = -1;
	return setup_opts(state, &o);
}

static void
t_permissions(void **state)
{
	struct fx *f = *state;
	struct stat sb;
	struct group *adm = getgrnam("adm");

	assert_non_null(adm);
	assert_int_equal(lstat(f->h.path, &sb), 0);
	assert_true(S_ISSOCK(sb.st_mode));
	assert_int_equal(sb.st_mode & 07777, 0660);
	assert_int_equal(sb.st_gid, adm->gr_gid);
	if (getuid() != 0) {
		skip(); /* switching users needs root */
		return;
	}
	/* nobody, outside the operator group: refused by the socket mode */
	assert_int_equal(connect_as(f->h.path, 65534, 65534), EACCES);
	/* nobody as a member of the group: allowed */
	assert_int_equal(connect_as(f->h.path, 65534, adm->gr_gid), 0);
}

static void
t_socket_file(void **state)
{
	char *dir = tu_mkdtemp("control-sock");
	struct harness h1, h2;
	struct control_opts o;
	char path[600];
	struct sockaddr_un sa;
	struct stat sb;
	int fd;

	(void)state;
	memset(&o, 0, sizeof(o));
	o.log_events_level = -1;
	snprintf(path, sizeof(path), "%s/control.sock", dir);

	/* a stale socket: bound by a process that went away */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	assert_true(strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	assert_int_equal(harness_start(&h1, dir, &o), 0);
	/* a second server on a live socket refuses to start */
	assert_int_equal(harness_start(&h2, dir, &o), GW_EBUSY);
	struct ctlclient *c = NULL;
	assert_int_equal(ctlclient_connect(path, &c), 0);
	ctlclient_close(c);
	harness_stop(&h1);
	assert_int_not_equal(lstat(path, &sb), 0);

	/* something that is not a socket is never replaced */
	assert_int_equal(tu_write_file(path, "precious\n"), 0);
	assert_int_equal(harness_start(&h2, dir, &o), GW_EEXIST);
	assert_int_equal(lstat(path, &sb), 0);
	assert_true(S_ISREG(sb.st_mode));

	/* unknown group */
	unlink(path);
	o.group = "no-such-group-skywave";
	assert_int_equal(harness_start(&h2, dir, &o), GW_ENOENT);
	tu_rmtree(dir);
	free(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(t_ping, setup, teardown),
		cmocka_unit_test_setup_teardown(t_status, setup, teardown),
		cmocka_unit_test_setup_teardown(t_actions, setup, teardown),
		cmocka_unit_test_setup_teardown(t_queue_show, setup, teardown),
		cmocka_unit_test_setup_teardown(t_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(t_pipelined, setup, teardown),
		cmocka_unit_test_setup_teardown(t_garbage, setup, teardown),
		cmocka_unit_test_setup_teardown(t_line_too_long, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(t_events, setup, teardown),
		cmocka_unit_test_setup_teardown(t_disconnect_mid_stream, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(t_disconnect_mid_action, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(t_close_mid_action, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(t_max_clients, setup_small,
		    teardown),
		cmocka_unit_test_setup_teardown(t_log_events, setup_small,
		    teardown),
		cmocka_unit_test_setup_teardown(t_idle, setup_idle, teardown),
		cmocka_unit_test_setup_teardown(t_slow_reader, setup_small,
		    teardown),
		cmocka_unit_test_setup_teardown(t_permissions, setup_group,
		    teardown),
		cmocka_unit_test(t_socket_file),
	};

	/* as in skywaved: a peer that hangs up is a write error, no signal */
	signal(SIGPIPE, SIG_IGN);
	gw_log_set_stderr(getenv("SKYWAVE_TEST_VERBOSE") != NULL);
	if (getenv("SKYWAVE_TEST_VERBOSE"))
		gw_log_set_debug("control");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
