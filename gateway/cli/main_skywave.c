/*
 * main_skywave.c - the operator's tool.
 *
 *   skywave status [--json]          one snapshot of the running gateway
 *   skywave console                  the live link-status console
 *   skywave queue list|show ID       queue inspection for scripts
 *   skywave hold|release|cancel|flush|requeue|link ...   operator actions
 *   skywave profile check FILE...    validate firmware profiles
 *   skywave ports                    list serial ports (USB details)
 *   skywave help | --version
 *
 * Each subcommand is one entry in the table below; the work lives in the
 * module that owns it.
 */
#include "firmware-profiles/prof_check.h"
#include "gateway/cli/console.h"
#include "gateway/cli/ctlclient_cmd.h"
#include "link-drivers/ports.h"

#include <stdio.h>
#include <string.h>
#include <sysexits.h>

struct subcmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
};

static int cmd_help(int argc, char **argv);
static int cmd_profile(int argc, char **argv);

static const struct subcmd subcmds[] = {
	{ "status", status_main, "[--json] snapshot of links, queue, risks" },
	{ "console", console_main, "live link-status console (ncurses)" },
	{ "queue", queue_cmd_main, "list | show ID: queued messages" },
	{ "hold", action_main, "ID | --link NAME: stop sending" },
	{ "release", action_main, "ID | --link NAME: send again" },
	{ "cancel", action_main, "ID: give up, DSN to the sender" },
	{ "flush", action_main, "[ID | --link NAME]: retry now" },
	{ "requeue", action_main, "ID ROUTE: send by another route" },
	{ "link", action_main, "down|up NAME: take a link down or up" },
	{ "ack", action_main, "ALERT: acknowledge an alert" },
	{ "trace", action_main, "ID: a message's life on this gateway" },
	{ "metrics", text_main, "metrics in Prometheus text format" },
	{ "history", text_main, "per-link throughput and outages, hour/day" },
	{ "report", text_main, "[--since T]: shift totals per band" },
	{ "profile", cmd_profile, "check FILE...: validate firmware profiles" },
	{ "ports", ports_main, "list serial ports with USB details" },
	{ "help", cmd_help, "this text" },
	{ NULL, NULL, NULL },
};

static int
cmd_profile(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "check") != 0) {
		fprintf(stderr, "usage: skywave profile check FILE...\n");
		return EX_USAGE;
	}
	return prof_check_main(argc - 1, argv + 1);
}

static int
cmd_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("usage: skywave COMMAND [ARGS]\n\ncommands:\n");
	for (const struct subcmd *c = subcmds; c->name; c++)
		printf("  %-16s %s\n", c->name, c->help);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		cmd_help(0, NULL);
		return EX_USAGE;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("skywave %s\n", SKYWAVE_VERSION);
		return 0;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
		return cmd_help(0, NULL);
	for (const struct subcmd *c = subcmds; c->name; c++)
		if (strcmp(c->name, argv[1]) == 0)
			return c->fn(argc - 1, argv + 1);
	fprintf(stderr, "skywave: unknown command \"%s\" (try: skywave help)\n",
	    argv[1]);
	return EX_USAGE;
}
