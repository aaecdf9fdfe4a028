/*
 * sim_link.h - one simulated radio link: a channel and the two modems on
 * its ends, all from one profile. The in-process face of hw-sim (tests run
 * it on a virtual clock) and the model behind each pty pair of skywave-sim.
 *
 *   struct sim_link *l = sim_link_new(&prof, &params, now);
 *   sim_modem_host_write(sim_link_modem(l, 0), now, "hello", 5);
 *   int64_t next = sim_link_advance(l, now);   // run up to now
 *   ... jump the clock to next, advance, sim_modem_host_read(...)
 *
 * Owner: the creator; one thread; pure (no I/O, no logging).
 */
#ifndef GW_HW_SIM_SIM_LINK_H
#define GW_HW_SIM_SIM_LINK_H

#include "hw-sim/sim_channel.h"
#include "hw-sim/sim_modem.h"

struct prof;
struct sim_link;

/* params as from sim_channel_params_from_prof(), possibly overridden. */
struct sim_link *sim_link_new(const struct prof *p,
    const struct sim_channel_params *cp, int64_t now_ms);
void sim_link_free(struct sim_link *l);

struct sim_channel *sim_link_channel(struct sim_link *l);
struct sim_modem *sim_link_modem(struct sim_link *l, int side);

/* Run the channel and both modems up to now; returns the next deadline
 * (SIM_NEVER when idle). */
int64_t sim_link_advance(struct sim_link *l, int64_t now_ms);

/* Format the counters of both directions as one key=value line. */
void sim_link_format_stats(struct sim_link *l, char *out, size_t outlen);

#endif
