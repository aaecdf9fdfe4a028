/*
 * deliver_stack.c - see deliver_stack.h.
 */
#include "tests/deliver/deliver_stack.h"

#include "gateway/config.h"
#include "gateway/deliver/smtpc.h"
#include "gateway/mail/route.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

int
deliver_stack_open(struct deliver_stack *st, uv_loop_t *loop,
    const struct gw_clock *clock, const struct config *cfg,
    const struct deliver_cfg *dc, char *err, size_t errlen)
{
	struct deliver_cfg defaults;
	struct smtpc_opts so;
	char host[256];
	int rc;

	memset(st, 0, sizeof(*st));
	if (dc == NULL) {
		deliver_cfg_default(&defaults);
		dc = &defaults;
	}
	rc = route_table_new(cfg->routes, cfg->nroutes, &st->routes, err,
	    errlen);
	if (rc != 0)
		return rc;
	if (cfg->gw.hostname[0])
		snprintf(host, sizeof(host), "%s", cfg->gw.hostname);
	else if (gethostname(host, sizeof(host)) != 0 || host[0] == '\0')
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	deliver_cfg_smtpc(dc, host, &so);
	so.prio_draft = cfg->policy.priority_draft;
	so.prio_draft_map = cfg->prio_draft;
	st->smtpc = smtpc_client_new(loop, clock, &so);
	struct deliver_opts dopt = { host, cfg->policy.max_received,
		dc->maildir_create };
	st->d = deliver_new(loop, clock, st->routes, st->smtpc, &dopt);
	return 0;
}

void
deliver_stack_close(struct deliver_stack *st, void (*cb)(void *),
    void *arg)
{
	deliver_free(st->d);
	route_table_free(st->routes);
	smtpc_client_close(st->smtpc, cb, arg);
	memset(st, 0, sizeof(*st));
}
