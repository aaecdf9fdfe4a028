/*
 * main_skywaved.c - the gateway daemon's command line.
 *
 *   skywaved [--config FILE] [--foreground]
 *   skywaved --check-config FILE [--verbose]
 *
 * Without --foreground the daemon detaches; the parent waits until the child
 * is running (or has failed) and exits with the child's status, so a service
 * manager or script sees start-up failures.
 */
#include "gateway/config.h"
#include "gateway/daemon.h"

#include "common/err.h"
#include "common/log.h"

#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: skywaved [--config FILE] [--foreground]\n"
	    "       skywaved --check-config FILE [--verbose]\n"
	    "       skywaved --help | --version\n"
	    "\n"
	    "skywave gateway daemon: accepts mail over SMTP into a durable\n"
	    "priority queue and sends it over HF and serial radio links.\n"
	    "\n"
	    "  -c, --config FILE        configuration (skywave.conf(5)); without\n"
	    "                           it the built-in default is used: SQLite\n"
	    "                           under ./var, SMTP on 127.0.0.1:2525\n"
	    "  -f, --foreground         do not detach; log to stderr\n"
	    "  -C, --check-config FILE  validate FILE and exit (0 or %d)\n"
	    "  -v, --verbose            with --check-config: print the\n"
	    "                           effective configuration\n"
	    "  -h, --help               this text\n"
	    "  -V, --version            print the version\n"
	    "\n"
	    "Signals: SIGTERM/SIGINT stop cleanly; SIGHUP reloads the\n"
	    "configuration (a bad file is rejected and the old one stays).\n",
	    EX_CONFIG);
}

/* Detach. Returns in the child (with *ready_fd set); the parent exits with
 * the child's start-up status. */
static void
daemonize(int *ready_fd)
{
	int fds[2];
	pid_t pid;
	unsigned char code;

	if (pipe(fds) != 0) {
		perror("skywaved: pipe");
		exit(EX_OSERR);
	}
	pid = fork();
	if (pid < 0) {
		perror("skywaved: fork");
		exit(EX_OSERR);
	}
	if (pid > 0) {
		close(fds[1]);
		ssize_t n = read(fds[0], &code, 1);
		if (n != 1) {
			int st;
			waitpid(pid, &st, 0);
			fprintf(stderr, "skywaved: daemon exited during start\n");
			exit(WIFEXITED(st) && WEXITSTATUS(st) ? WEXITSTATUS(st)
							     : EX_SOFTWARE);
		}
		exit(code);
	}
	close(fds[0]);
	if (setsid() < 0)
		exit(EX_OSERR);
	int nul = open("/dev/null", O_RDWR);
	if (nul >= 0) {
		dup2(nul, STDIN_FILENO);
		dup2(nul, STDOUT_FILENO);
		dup2(nul, STDERR_FILENO);
		if (nul > STDERR_FILENO)
			close(nul);
	}
	*ready_fd = fds[1];
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "check-config", required_argument, NULL, 'C' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct daemon_opts opts = { .config_path = NULL, .ready_fd = -1 };
	const char *check = NULL;
	bool verbose = false;
	struct config *cfg;
	char err[4096];
	int ch, rc;

	gw_log_set_ident("skywaved");
	while ((ch = getopt_long(argc, argv, "c:fC:vhV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			opts.config_path = optarg;
			break;
		case 'f':
			opts.foreground = true;
			break;
		case 'C':
			check = optarg;
			break;
		case 'v':
			verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("skywaved %s\n", SKYWAVE_VERSION);
			return 0;
		default:
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "skywaved: unexpected argument \"%s\"\n",
		    argv[optind]);
		usage(stderr);
		return EX_USAGE;
	}

	if (check) {
		rc = config_load(check, &cfg, err, sizeof(err));
		if (rc != 0) {
			fprintf(stderr, "skywaved: %s\n", err);
			return EX_CONFIG;
		}
		printf("%s: OK (%zu links, %zu routes)\n", check, cfg->nlinks,
		    cfg->nroutes);
		if (verbose)
			config_dump(cfg, stdout);
		config_free(cfg);
		return 0;
	}

	if (opts.config_path) {
		rc = config_load(opts.config_path, &cfg, err, sizeof(err));
		if (rc != 0) {
			fprintf(stderr, "skywaved: %s\n", err);
			return EX_CONFIG;
		}
	} else {
		cfg = config_default();
		fprintf(stderr, "skywaved: no --config given: using the built-in "
				"default configuration (queue in %s/, SMTP on %s)\n",
		    cfg->gw.data_dir, cfg->gw.listen);
	}
	if (!opts.foreground)
		daemonize(&opts.ready_fd);
	return daemon_run(&opts, cfg);
}
