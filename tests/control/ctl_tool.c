/*
 * ctl_tool.c - the control subcommands as the `skywave` tool will run
 * them, for tests while gateway/cli/main_skywave.c does not list them yet:
 *
 *   ctl_tool status|queue|hold|release|cancel|flush|requeue|link|console ...
 */
#include "gateway/cli/console.h"
#include "gateway/cli/ctlclient_cmd.h"

#include <stdio.h>
#include <string.h>
#include <sysexits.h>

int
main(int argc, char **argv)
{
	static const char *const actions[] = { "hold", "release", "cancel",
		"flush", "requeue", "link" };

	if (argc < 2) {
		fprintf(stderr, "usage: ctl_tool COMMAND [ARGS]\n");
		return EX_USAGE;
	}
	if (strcmp(argv[1], "status") == 0)
		return status_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "queue") == 0)
		return queue_cmd_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "console") == 0)
		return console_main(argc - 1, argv + 1);
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
		if (strcmp(argv[1], actions[i]) == 0)
			return action_main(argc - 1, argv + 1);
	fprintf(stderr, "ctl_tool: unknown command %s\n", argv[1]);
	return EX_USAGE;
}
