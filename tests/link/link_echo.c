/* link_echo - a test peer: opens a link driver and sends back every frame
 * (or every chunk of bytes in raw framing) it receives. Used by the driver
 * tests as the process on the far end of a socat or skywave-sim pty pair.
 *
 *   link_echo CLASS DEVICE PROFILE-PATH FRAMING SECONDS
 *
 * FRAMING is raw, sync, kiss or profile. Prints "ready" on stdout once the
 * driver is up, "echoed N" when it ends. Exits 0 when the device went away
 * or the time ran out, 1 on setup errors. */
#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/xmalloc.h"
#include "firmware-profiles/profile.h"
#include "link-drivers/drv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define PENDING_MAX 256

struct echo {
	struct drv *d;
	struct buf pending[PENDING_MAX];
	size_t head, count;
	long echoed;
	bool done;
	uv_timer_t stop;
};

static void
flush_pending(struct echo *e)
{
	while (e->count > 0) {
		struct buf *b = &e->pending[e->head];
		int rc = drv_write(e->d, b->data, b->len);
		if (rc == GW_EAGAIN)
			return;
		buf_fini(b);
		e->head = (e->head + 1) % PENDING_MAX;
		e->count--;
		if (rc == 0)
			e->echoed++;
	}
}

static void
closed_cb(struct drv *d, void *arg)
{
	struct echo *e = arg;

	(void)d;
	e->d = NULL;
	uv_close((uv_handle_t *)&e->stop, NULL);
}

static void
finish(struct echo *e)
{
	if (e->done)
		return;
	e->done = true;
	printf("echoed %ld\n", e->echoed);
	fflush(stdout);
	uv_timer_stop(&e->stop);
	drv_close(e->d, closed_cb, e);
}

static void
on_event(struct drv *d, const struct drv_event *ev, void *arg)
{
	struct echo *e = arg;

	(void)d;
	switch (ev->type) {
	case DRV_EV_STATE:
		if (ev->state == DRV_S_UP) {
			printf("ready\n");
			fflush(stdout);
		} else if (ev->state == DRV_S_ERROR ||
		    ev->state == DRV_S_CARRIER_LOST) {
			fprintf(stderr, "link_echo: %s: %s (%s)\n",
			    drv_state_name(ev->state),
			    ev->reason ? ev->reason : "",
			    ev->err ? gw_strerror(ev->err) : "");
			finish(e);
		}
		break;
	case DRV_EV_DATA:
	case DRV_EV_FRAME:
		if (e->count == PENDING_MAX) {
			fprintf(stderr, "link_echo: backlog full\n");
			break;
		}
		{
			struct buf *b = &e->pending[(e->head + e->count) %
			    PENDING_MAX];
			buf_init(b);
			buf_append(b, ev->data, ev->len);
			e->count++;
		}
		flush_pending(e);
		break;
	case DRV_EV_WRITABLE:
		flush_pending(e);
		break;
	case DRV_EV_CARRIER:
		break;
	}
}

static void
stop_cb(uv_timer_t *t)
{
	finish(t->data);
}

int
main(int argc, char **argv)
{
	static struct prof prof;
	struct drv_registry reg;
	struct drv_config cfg;
	struct drv_env env;
	struct echo e;
	uv_loop_t loop;
	char err[512];
	int rc;

	if (argc != 6) {
		fprintf(stderr, "usage: link_echo CLASS DEVICE PROFILE "
		    "FRAMING SECONDS\n");
		return 1;
	}
	if (prof_load_file(argv[3], &prof, err, sizeof(err)) < 0) {
		fprintf(stderr, "link_echo: %s\n", err);
		return 1;
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.prof = &prof;
	cfg.device = argv[2];
	cfg.framing = strcmp(argv[4], "raw") == 0 ? DRV_FRAMING_RAW :
	    strcmp(argv[4], "sync") == 0 ? DRV_FRAMING_SYNC :
	    strcmp(argv[4], "kiss") == 0 ? DRV_FRAMING_KISS :
	    DRV_FRAMING_PROFILE;
	uv_loop_init(&loop);
	env.loop = &loop;
	env.clock = clk_system();
	drv_registry_init(&reg);
	drv_registry_add_builtin(&reg);
	memset(&e, 0, sizeof(e));
	rc = drv_create(&reg, argv[1], &cfg, &env, on_event, &e, &e.d);
	if (rc < 0) {
		fprintf(stderr, "link_echo: create: %s\n", gw_strerror(rc));
		return 1;
	}
	uv_timer_init(&loop, &e.stop);
	e.stop.data = &e;
	uv_timer_start(&e.stop, stop_cb, (uint64_t)atoi(argv[5]) * 1000, 0);
	drv_open(e.d);
	uv_run(&loop, UV_RUN_DEFAULT);
	while (e.count > 0) {
		buf_fini(&e.pending[e.head]);
		e.head = (e.head + 1) % PENDING_MAX;
		e.count--;
	}
	uv_loop_close(&loop);
	prof_free(&prof);
	return 0;
}
