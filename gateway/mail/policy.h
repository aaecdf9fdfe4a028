/*
 * policy.h - who may do what: trusted networks, priority ceilings per
 * network, the MT-PRIORITY assignment policy (RFC 6710) and its levels.
 *
 * Glossary:
 *   priority   the MT-PRIORITY value -9..9 as determined for a message (the
 *              value relayed onward, never rounded).
 *   level      a priority the assignment policy implements; a priority
 *              between levels is rounded UP to the next level, and one above
 *              every level to the highest (RFC 6710 s5).
 *   band       the index of that level, 0 = the lowest level of the policy.
 *              The queue orders work by band.
 *   trusted    a client address inside a trusted network: it may relay to
 *              any domain and raise priority up to 9.
 *   ceiling    the highest priority honoured from a client: 9 when trusted,
 *              else the max of the most specific priority_limits network
 *              containing it, else untrusted_max_priority.
 *
 * Policies (IANA "SMTP PRIORITY Extension Priority Assignment Policy"):
 *   STANAG4406  -4 Deferred, -2 Routine, 0 Priority, 2 Immediate, 4 Flash,
 *               6 Override                      (bands 0..5)
 *   MIXER       -4 non-urgent, 0 normal, 4 urgent (bands 0..2)
 *   NSEP        -2, 0, 2, 4, 6                  (bands 0..4)
 *
 * A struct policy is built once (policy_new) from configuration text and is
 * immutable afterwards: any thread may read it. Parsers return 0, or
 * GW_EINVAL / GW_ERANGE with a message in err naming the bad item.
 */
#ifndef GW_GATEWAY_POLICY_H
#define GW_GATEWAY_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define POLICY_PRIO_MIN (-9)
#define POLICY_PRIO_MAX 9
#define POLICY_LEVELS_MAX 19

enum policy_prio { POLICY_PRIO_STANAG4406 = 0, POLICY_PRIO_MIXER,
	POLICY_PRIO_NSEP };

/* One network: address (IPv4 stored as IPv4-mapped IPv6) and prefix length
 * over the 128-bit form. max_priority is used by priority limits only. */
struct policy_net {
	uint8_t addr[16];
	int prefix;        /* 0..128 (IPv4 /n is stored as 96 + n) */
	bool v4;           /* an IPv4 network: matches IPv4 clients only, and
			      IPv6 networks match IPv6 clients only (so ::/0
			      is "every IPv6 client") */
	int max_priority;
};

/* Configuration text, as the daemon's [policy] section holds it. */
struct policy_config {
	const char *priority_policy;   /* "STANAG4406" (default), "MIXER", "NSEP" */
	const char *trusted_networks;  /* "10.0.0.0/8, ::1/128"; NULL/"" = none */
	const char *priority_limits;   /* "127.0.0.0/8=9, 0.0.0.0/0=0" */
	int untrusted_max_priority;    /* -9..9; ceiling when no limit matches */
	int min_priority;              /* lowest priority accepted (-9: all) */
	const char *size_limits;       /* "6=4K, 4=64K": priority >= p may be at
					  most that many octets; NULL = none */
	int max_received;              /* Received headers before "loop" (>=10) */
};

struct policy;

/* The 2011 priority draft (the seed slides) as an opt-in alias: PRIORITY
 * values -99..99 in ranges, each mapped onto an MT-PRIORITY value (which
 * the policy then maps onto a band). Text form, the default being the
 * seed's example bands:
 *   "-99..-40=-4, -39..-20=-2, -19..0=0, 1..20=2, 21..40=4, 41..60=5,
 *    61..99=6"
 * The ranges must cover -99..99 without gaps or overlaps, in order. */
#define POLICY_DRAFT_DEFAULT "-99..-40=-4, -39..-20=-2, -19..0=0, " \
	"1..20=2, 21..40=4, 41..60=5, 61..99=6"
#define POLICY_DRAFT_RANGES_MAX 16
struct policy_draft {
	size_t n;
	struct { int lo, hi, level; } r[POLICY_DRAFT_RANGES_MAX];
};
int policy_parse_draft(const char *s, struct policy_draft *out, char *err,
    size_t errlen);
/* PRIORITY=v -> the MT-PRIORITY value of its range. */
int policy_draft_to_mt(const struct policy_draft *d, int v);
/* For a hop that speaks the draft: the draft value relayed for MT-PRIORITY
 * value mt: the top of the highest range whose level is at most mt (the
 * lowest range's bottom when none is), so PRIORITY=40 received is relayed
 * as 40 with the default table. */
int policy_mt_to_draft(const struct policy_draft *d, int mt);

/* Defaults: STANAG4406, no trusted networks, untrusted max 0, min -9,
 * max_received 100. */
void policy_config_init(struct policy_config *c);

int policy_new(const struct policy_config *c, struct policy **out, char *err,
    size_t errlen);
void policy_free(struct policy *p);

/* "10.0.0.0/8, ::1/128" (comma or blank separated; a bare address is /32
 * or /128). *out is xmalloc'd (free it); *n may be 0 for "". */
int policy_parse_networks(const char *s, struct policy_net **out, size_t *n,
    char *err, size_t errlen);
/* "CIDR=max, ..." with max in -9..9. */
int policy_parse_priority_limits(const char *s, struct policy_net **out,
    size_t *n, char *err, size_t errlen);
/* "6=4K, 4=65536": out[p + 9] is the size limit for priority p (0 = none);
 * a limit given for p applies to every priority >= p unless a higher p has
 * its own. */
int policy_parse_size_limits(const char *s, int64_t out[POLICY_LEVELS_MAX],
    char *err, size_t errlen);

/* Policy names, case-insensitive. */
int policy_prio_parse(const char *name, enum policy_prio *out);
const char *policy_prio_name(enum policy_prio p);
/* The levels of a policy, lowest first. */
const int *policy_prio_levels(enum policy_prio p, size_t *n);
/* Round priority up to a level of policy p. */
int policy_prio_round(enum policy_prio p, int priority);
/* The band of priority under policy p (0 = lowest). */
int policy_prio_band(enum policy_prio p, int priority);

/* Accessors of a built policy. */
enum policy_prio policy_prio_policy(const struct policy *p);
int policy_band(const struct policy *p, int priority);
/* Band names of the policy, lowest first: STANAG4406 deferred, routine,
 * priority, immediate, flash, override; MIXER non-urgent, normal, urgent;
 * NSEP nsep-2, nsep0, nsep2, nsep4, nsep6. policy_band_parse() takes a
 * name (any case) or a band number and returns the band, or -1. */
const char *policy_band_name(const struct policy *p, int band);
int policy_band_count(const struct policy *p);
int policy_band_parse(const struct policy *p, const char *s);
int policy_min_priority(const struct policy *p);
int policy_max_received(const struct policy *p);
/* Size limit for a priority, 0 = none. */
int64_t policy_size_limit(const struct policy *p, int priority);
bool policy_is_trusted(const struct policy *p, const struct sockaddr *sa);
/* The ceiling for a client (see glossary). */
int policy_max_priority(const struct policy *p, const struct sockaddr *sa);

/* Whether addr (an IPv4 or IPv6 sockaddr) is inside net. */
bool policy_net_match(const struct policy_net *net, const struct sockaddr *sa);

#endif
