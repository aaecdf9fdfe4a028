/*
 * ports.c - `skywave ports` (see ports.h). Runs in the operator's tool,
 * not in the daemon's loop, so blocking enumeration is fine here.
 */
#include "link-drivers/ports.h"

#include "common/err.h"
#include "link-drivers/serial.h"

#include <errno.h>
#include <libserialport.h>
#include <stdlib.h>
#include <string.h>

static const char *
transport_name(enum sp_transport t)
{
	switch (t) {
	case SP_TRANSPORT_NATIVE: return "native";
	case SP_TRANSPORT_USB: return "usb";
	case SP_TRANSPORT_BLUETOOTH: return "bluetooth";
	default: return "?";
	}
}

static const char *
nz(const char *s)
{
	return s != NULL && s[0] != '\0' ? s : "-";
}

/* JSON string body: escape quotes, backslashes and control bytes. */
static void
json_str(FILE *out, const char *s)
{
	fputc('"', out);
	for (; s != NULL && *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 0x20)
			fprintf(out, "\\u%04x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

int
ports_list(FILE *out, int json)
{
	struct sp_port **list = NULL;
	enum sp_return r;
	size_t i, n = 0;

	r = sp_list_ports(&list);
	if (r != SP_OK) {
		int e = serial_sp_err(r);
		/* No serial subsystem at all (containers) is "no ports". */
		if (e != GW_ENOENT && e != -ENOENT) {
			fprintf(stderr, "skywave ports: cannot list serial "
			    "ports: %s\n", gw_strerror(e));
			return 1;
		}
		list = NULL;
	}
	while (list != NULL && list[n] != NULL)
		n++;
	if (json)
		fputs("[", out);
	else if (n == 0)
		fputs("no serial ports found\n", out);
	else
		fprintf(out, "%-20s %-9s %-9s %-20s %-24s %-16s %s\n", "PORT",
		    "TRANSPORT", "VID:PID", "MANUFACTURER", "PRODUCT",
		    "SERIAL", "DESCRIPTION");
	for (i = 0; i < n; i++) {
		struct sp_port *p = list[i];
		enum sp_transport t = sp_get_port_transport(p);
		char vidpid[16] = "-";
		const char *man = NULL, *prod = NULL, *ser = NULL;
		int vid, pid;

		if (t == SP_TRANSPORT_USB) {
			if (sp_get_port_usb_vid_pid(p, &vid, &pid) == SP_OK)
				snprintf(vidpid, sizeof(vidpid), "%04x:%04x",
				    (unsigned)vid & 0xFFFFu,
				    (unsigned)pid & 0xFFFFu);
			man = sp_get_port_usb_manufacturer(p);
			prod = sp_get_port_usb_product(p);
			ser = sp_get_port_usb_serial(p);
		}
		if (json) {
			fputs(i ? ",\n {" : "\n {", out);
			fputs("\"port\": ", out);
			json_str(out, sp_get_port_name(p));
			fputs(", \"transport\": ", out);
			json_str(out, transport_name(t));
			fputs(", \"usb_id\": ", out);
			json_str(out, strcmp(vidpid, "-") ? vidpid : "");
			fputs(", \"manufacturer\": ", out);
			json_str(out, man);
			fputs(", \"product\": ", out);
			json_str(out, prod);
			fputs(", \"serial\": ", out);
			json_str(out, ser);
			fputs(", \"description\": ", out);
			json_str(out, sp_get_port_description(p));
			fputs("}", out);
		} else {
			fprintf(out, "%-20s %-9s %-9s %-20s %-24s %-16s %s\n",
			    sp_get_port_name(p), transport_name(t), vidpid,
			    nz(man), nz(prod), nz(ser),
			    nz(sp_get_port_description(p)));
		}
	}
	if (json)
		fputs(n ? "\n]\n" : "]\n", out);
	if (list != NULL)
		sp_free_port_list(list);
	return 0;
}

int
ports_main(int argc, char **argv)
{
	int json = 0, i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = 1;
		} else if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0) {
			printf("usage: skywave ports [--json]\n"
			    "List serial ports (UARTs, USB serial adapters) "
			    "with their USB details.\n");
			return 0;
		} else {
			fprintf(stderr, "usage: skywave ports [--json]\n");
			return 2;
		}
	}
	return ports_list(stdout, json);
}
