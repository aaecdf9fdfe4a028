/*
 * main_skywave.c - the operator's tool.
 *
 *   skywave profile check FILE...   validate firmware profiles
 *   skywave ports                   list serial ports (USB details)
 *   skywave help | --version
 *
 * Each subcommand is one entry in the table below; the work lives in the
 * module that owns it.
 */
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

struct subcmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
};

static int cmd_help(int argc, char **argv);

static const struct subcmd subcmds[] = {
	{ "help", cmd_help, "this text" },
	{ NULL, NULL, NULL },
};

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
