/*
 * sim_drv.c - the "sim" driver class over sim_link (see sim_drv.h).
 *
 * Backend state per device (one end of one link):
 *
 *   DETACHED --open()--> ATTACHED --release()/close()--> DETACHED
 *
 * Invariant: hub->ends[link][side] points at the attached instance, or is
 * NULL; at most one driver is attached to an end (a second open fails
 * with GW_EBUSY). The class struct is embedded in the hub, so an instance
 * finds its hub from d->cls.
 *
 * Owner: the hub's creator; one thread (the loop's, or whoever advances
 * the virtual clock). No logging.
 */
#include "hw-sim/sim_drv.h"

#include "link-drivers/drv.h"
#include "firmware-profiles/profile.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/xmalloc.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sim_dev {
	struct drv base;        /* first: drv_create allocates this size */
	int link, side;
	bool attached;
	bool carrier;           /* last carrier state reported */
};

struct sim_hub {
	struct drv_class cls;   /* its address identifies the hub */
	struct prof prof;
	struct sim_link *links[SIM_HUB_LINKS_MAX];
	struct sim_dev *ends[SIM_HUB_LINKS_MAX][2];
	int n_links;
	uv_loop_t *loop;
	const struct gw_clock *clock;
	uv_timer_t timer;
	int64_t next;           /* cached links' next deadline */
	int depth;              /* sim_hub_advance on the stack */
};

static struct sim_hub *
hub_of(const struct drv *d)
{
	return (struct sim_hub *)(void *)((char *)(uintptr_t)d->cls -
	    offsetof(struct sim_hub, cls));
}

static int64_t
now_of(const struct sim_hub *h)
{
	return clk_mono_ms(h->clock);
}

/* "a0" -> link 0 side 0; "b12" -> link 12 side 1. */
static int
parse_device(const char *s, int *link, int *side)
{
	char *end;
	long v;

	if (s == NULL || (s[0] != 'a' && s[0] != 'b') || s[1] < '0' ||
	    s[1] > '9')
		return GW_ECONFIG;
	v = strtol(s + 1, &end, 10);
	if (*end != '\0' || v < 0 || v >= SIM_HUB_LINKS_MAX)
		return GW_ECONFIG;
	*link = (int)v;
	*side = s[0] == 'b';
	return 0;
}

static void schedule(struct sim_hub *h);

/* Something changed (a write, an open): advance at once. */
static void
touch(struct sim_hub *h)
{
	int64_t now = now_of(h);

	if (h->next > now)
		h->next = now;
	schedule(h);
}

/* ---- the class ------------------------------------------------------- */

static int
sim_check(const struct drv_config *cfg)
{
	int link, side;

	return parse_device(cfg->device, &link, &side);
}

static int
sim_open(struct drv *d)
{
	struct sim_hub *h = hub_of(d);
	struct sim_dev *s = (struct sim_dev *)d;
	int rc = parse_device(d->cfg->device, &s->link, &s->side);

	if (rc != 0)
		return rc;
	if (s->link >= h->n_links)
		return GW_ENOENT;
	if (h->ends[s->link][s->side] != NULL &&
	    h->ends[s->link][s->side] != s)
		return GW_EBUSY;
	h->ends[s->link][s->side] = s;
	s->attached = true;
	s->carrier = false;
	drv__device_up(d);
	touch(h);
	return 0;
}

static void
sim_kick(struct drv *d)
{
	struct sim_hub *h = hub_of(d);
	struct sim_dev *s = (struct sim_dev *)d;
	const uint8_t *p;
	size_t n, acc;

	if (!s->attached)
		return;
	n = drv__out_allowance(d, &p);
	if (n == 0)
		return;
	acc = sim_modem_host_write(sim_link_modem(h->links[s->link], s->side),
	    now_of(h), p, n);
	if (acc > 0)
		drv__out_consume(d, acc);
	touch(h);
}

static void
detach(struct drv *d)
{
	struct sim_hub *h = hub_of(d);
	struct sim_dev *s = (struct sim_dev *)d;

	if (s->attached && h->ends[s->link][s->side] == s)
		h->ends[s->link][s->side] = NULL;
	s->attached = false;
}

static void
sim_release(struct drv *d)
{
	detach(d);
}

static void
sim_close(struct drv *d)
{
	detach(d);
	drv__closed(d);
}

/* ---- moving bytes ------------------------------------------------------ */

static void
deliver(struct sim_hub *h, int li, int side, int64_t now)
{
	struct sim_dev *s = h->ends[li][side];
	struct sim_modem *m = sim_link_modem(h->links[li], side);
	uint8_t tmp[1024];
	size_t n;

	if (s == NULL || drv__closing(&s->base))
		return;
	if (h->prof.modem.carrier == PROF_CARRIER_DCD) {
		bool c = sim_channel_carrier(sim_link_channel(h->links[li]),
		    side, now);
		if (c != s->carrier) {
			s->carrier = c;
			drv__carrier(&s->base, c);
		}
	}
	/* the driver may detach while it takes input (NO CARRIER) */
	while (h->ends[li][side] == s &&
	    (n = sim_modem_host_read(m, tmp, sizeof(tmp))) > 0)
		drv__input(&s->base, tmp, n);
	/* No kick here: the driver's pacer feeds the modem on its own
	 * ticks, in pieces worth its lead time (feeding a byte at each
	 * byte completion would only add rounding to its estimate). */
}

int64_t
sim_hub_advance(struct sim_hub *h)
{
	int64_t now = now_of(h);

	h->depth++;
	for (int i = 0; i < h->n_links; i++) {
		sim_link_advance(h->links[i], now);
		for (int side = 0; side < 2; side++)
			deliver(h, i, side, now);
	}
	/* what the drivers wrote may have changed the plans */
	h->next = SIM_NEVER;
	for (int i = 0; i < h->n_links; i++) {
		int64_t t = sim_link_advance(h->links[i], now);
		if (t < h->next)
			h->next = t;
	}
	h->depth--;
	schedule(h);
	return sim_hub_next_deadline(h);
}

int64_t
sim_hub_next_deadline(const struct sim_hub *h)
{
	int64_t now = now_of(h);

	for (int i = 0; i < h->n_links; i++)
		for (int side = 0; side < 2; side++)
			if (h->ends[i][side] != NULL && sim_modem_host_pending(
			    sim_link_modem(h->links[i], side)) > 0)
				return now;
	/* a write since the last advance may have made work sooner */
	return h->next;
}

static void
on_timer(uv_timer_t *t)
{
	sim_hub_advance(t->data);
}

/* Real time: (re)arm the hub's timer for its next deadline. */
static void
schedule(struct sim_hub *h)
{
	int64_t now, t;

	if (h->loop == NULL || h->depth > 0)
		return;
	now = now_of(h);
	t = sim_hub_next_deadline(h);
	if (t == SIM_NEVER) {
		uv_timer_stop(&h->timer);
		return;
	}
	uv_timer_start(&h->timer, on_timer, (uint64_t)(t > now ? t - now : 0),
	    0);
}

/* ---- the hub ------------------------------------------------------------- */

struct sim_hub *
sim_hub_new(const struct prof *p, const struct sim_channel_params *params,
    int n_links, uv_loop_t *loop, const struct gw_clock *clock)
{
	struct sim_hub *h = xcalloc(1, sizeof(*h));
	int64_t now;

	GW_REQUIRE(n_links >= 1 && n_links <= SIM_HUB_LINKS_MAX);
	h->prof = *p;
	h->n_links = n_links;
	h->loop = loop;
	h->clock = clock;
	h->cls.name = "sim";
	h->cls.instance_size = sizeof(struct sim_dev);
	h->cls.force_framing = -1;
	h->cls.check = sim_check;
	h->cls.open = sim_open;
	h->cls.kick = sim_kick;
	h->cls.release = sim_release;
	h->cls.close = sim_close;
	h->cls.set_ptt = NULL;
	now = now_of(h);
	for (int i = 0; i < n_links; i++) {
		struct sim_channel_params cp = *params;
		cp.seed = params->seed + (uint64_t)i;
		h->links[i] = sim_link_new(&h->prof, &cp, now);
	}
	h->next = SIM_NEVER;
	if (loop != NULL) {
		uv_timer_init(loop, &h->timer);
		h->timer.data = h;
	}
	return h;
}

static void
free_now(struct sim_hub *h)
{
	for (int i = 0; i < h->n_links; i++)
		sim_link_free(h->links[i]);
	prof_free(&h->prof);
	free(h);
}

static void
timer_closed(uv_handle_t *t)
{
	free_now(t->data);
}

void
sim_hub_free(struct sim_hub *h)
{
	if (h == NULL)
		return;
	for (int i = 0; i < h->n_links; i++)
		GW_REQUIRE(h->ends[i][0] == NULL && h->ends[i][1] == NULL);
	if (h->loop != NULL)
		uv_close((uv_handle_t *)&h->timer, timer_closed);
	else
		free_now(h);
}

const struct drv_class *
sim_hub_class(struct sim_hub *h)
{
	return &h->cls;
}

int
sim_hub_register(struct sim_hub *h, struct drv_registry *r)
{
	return drv_register(r, &h->cls);
}

struct sim_link *
sim_hub_link(struct sim_hub *h, int i)
{
	GW_REQUIRE(i >= 0 && i < h->n_links);
	return h->links[i];
}
