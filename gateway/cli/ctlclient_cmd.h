/*
 * ctlclient_cmd.h - the `skywave` subcommands that talk to skywaved's
 * control socket. Each takes the argv of its subcommand (argv[0] is the
 * subcommand's name) and returns a sysexits(3) code:
 *
 *   0               done (for actions: the daemon said ok)
 *   1               the daemon refused the action (its reason is printed)
 *   EX_USAGE        bad arguments
 *   EX_UNAVAILABLE  no daemon answering on the socket
 *   EX_NOPERM       the socket's permissions exclude the caller
 *   EX_PROTOCOL     a reply that could not be understood
 *
 * Every command takes --socket PATH (default $SKYWAVE_SOCKET, else
 * var/control.sock).
 */
#ifndef GW_GATEWAY_CTLCLIENT_CMD_H
#define GW_GATEWAY_CTLCLIENT_CMD_H

/* skywave status [--json] [--socket PATH] */
int status_main(int argc, char **argv);

/* skywave queue [list] [--band NAME] [--limit N] [--json] [--socket PATH]
 * skywave queue show ID [--json] [--socket PATH] */
int queue_cmd_main(int argc, char **argv);

/* skywave hold ID | hold --link NAME
 * skywave release ID | release --link NAME
 * skywave cancel ID
 * skywave flush [ID | --link NAME]
 * skywave requeue ID ROUTE
 * skywave link down|up NAME
 * (dispatches on argv[0]; all take [--json] [--socket PATH]) */
int action_main(int argc, char **argv);
/* skywave metrics | history | report [--since T]: print the daemon's
 * text (Prometheus metrics, link history, shift totals). */
int text_main(int argc, char **argv);

#endif
