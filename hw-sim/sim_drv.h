/*
 * sim_drv.h - the "sim" link driver class: link-drivers' driver core over
 * hw-sim's in-process modems (sim_link), so everything above the driver
 * interface runs against the simulated channel without pseudo-terminals.
 *
 * A sim_hub owns N simulated links built from one profile and provides a
 * driver class named "sim" whose devices are "a0", "b0", "a1", ... (the A
 * and B modem of link i). Register it in the caller's registry:
 *
 *   struct sim_hub *h = sim_hub_new(&prof, &params, 1, NULL, &vclock.base);
 *   sim_hub_register(h, &registry);
 *   drv_create(&registry, "sim", &cfg_a0, &env, cb, arg, &da);
 *
 * Two ways to run:
 *   virtual clock  loop == NULL: the owner calls sim_hub_advance() at
 *                  sim_hub_next_deadline() (and drv_tick() at each
 *                  driver's drv_next_deadline_ms()), after moving the clock
 *   real time      loop != NULL: the hub arms its own uv_timer on the loop
 *                  and advances itself; the clock must be the real one
 *
 * A device attaches when its driver opens and detaches on release/close.
 * The modem's bytes for the host go to the driver (drv__input) at each
 * advance; the driver's output goes into the modem as its pacer allows,
 * and a full modem buffer holds it back (flow control). With a profile
 * whose carrier is "dcd" the driver hears DRV_EV_CARRIER as the far side's
 * carrier comes and goes.
 *
 * Ownership: the creator owns the hub; it must outlive every driver made
 * from its class. sim_hub_free() after all of them have closed (with a
 * loop, the memory is released in the timer's close callback). One thread.
 */
#ifndef GW_HW_SIM_SIM_DRV_H
#define GW_HW_SIM_SIM_DRV_H

#include "hw-sim/sim_link.h"

#include <stdint.h>
#include <uv.h>

struct drv_class;
struct drv_registry;
struct gw_clock;
struct prof;
struct sim_hub;

#define SIM_HUB_LINKS_MAX 16

/* params: from sim_channel_params_from_prof() (per-link seeds are
 * params->seed + i). The profile is copied. */
struct sim_hub *sim_hub_new(const struct prof *p,
    const struct sim_channel_params *params, int n_links, uv_loop_t *loop,
    const struct gw_clock *clock);
void sim_hub_free(struct sim_hub *h);

/* The class (name "sim"); drv_register() it, or use sim_hub_register(). */
const struct drv_class *sim_hub_class(struct sim_hub *h);
int sim_hub_register(struct sim_hub *h, struct drv_registry *r);

struct sim_link *sim_hub_link(struct sim_hub *h, int i);

/* Run every link to the clock's now and move bytes between modems and
 * attached drivers. Returns sim_hub_next_deadline(). */
int64_t sim_hub_advance(struct sim_hub *h);
/* When the hub next needs sim_hub_advance() (SIM_NEVER: idle). */
int64_t sim_hub_next_deadline(const struct sim_hub *h);

#endif
