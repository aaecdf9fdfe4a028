/*
 * deliver_stack.h - a delivery stack built from a loaded configuration,
 * for the delivery tests: the compiled [route] table, the onward client
 * and the glue (the daemon wires the same parts through dispatch).
 */
#ifndef GW_TESTS_DELIVER_STACK_H
#define GW_TESTS_DELIVER_STACK_H

#include "common/clock.h"
#include "gateway/deliver/deliver.h"

#include <stddef.h>
#include <uv.h>

struct config;

/* The delivery stack the daemon owns: the compiled [route] table, the
 * onward client and the glue, built from cfg (routes, [gateway] hostname,
 * [policy] max_received) and dc (deliver_cfg; NULL = defaults). */
struct deliver_stack {
	struct route_table *routes;
	struct smtpc_client *smtpc;
	struct deliver *d;
};

/* Returns 0, or GW_EINVAL with "line N: ..." in err for a bad route. */
int deliver_stack_open(struct deliver_stack *st, uv_loop_t *loop,
    const struct gw_clock *clock, const struct config *cfg,
    const struct deliver_cfg *dc, char *err, size_t errlen);
/* Stop: no delivery may be running (see deliver_free); running onward
 * sessions are aborted (deferred 4.3.2). cb (may be NULL) runs once every
 * handle has closed. */
void deliver_stack_close(struct deliver_stack *st, void (*cb)(void *),
    void *arg);

#endif
