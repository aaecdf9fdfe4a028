/*
 * ports.h - `skywave ports`: list the serial ports of this machine.
 *
 * Uses libserialport's enumeration (sysfs on Linux), so it lists real
 * UARTs and USB serial adapters; pseudo-terminals (skywave-sim, socat) are
 * not enumerable ports and are not listed. For USB adapters it prints the
 * vendor/product id, manufacturer, product and serial number, which is how
 * an operator tells two identical radios' cables apart.
 */
#ifndef GW_LINK_DRIVERS_PORTS_H
#define GW_LINK_DRIVERS_PORTS_H

#include <stdio.h>

/* `skywave ports [--json]`; argv[0] is the subcommand ("ports"). Returns
 * the process exit status: 0 (also when no ports are found: that is an
 * answer, printed as such), 1 when the enumeration failed, 2 for bad
 * usage. */
int ports_main(int argc, char **argv);

/* The same listing written to out (for tests and the control socket). */
int ports_list(FILE *out, int json);

#endif
