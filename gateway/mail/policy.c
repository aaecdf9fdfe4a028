/*
 * policy.c - trusted networks, priority ceilings and MT-PRIORITY levels
 * (see policy.h for the glossary).
 *
 * Owner: whoever called policy_new (the daemon); immutable after creation,
 * so sessions on the loop thread and the scheduler may all read it.
 * Networks are compared in their 128-bit form: IPv4 addresses and prefixes
 * are mapped into ::ffff:0:0/96, so one list serves both families and an
 * IPv4 client reaching an IPv6 socket (::ffff:a.b.c.d) matches its IPv4
 * network.
 */
#include "gateway/mail/policy.h"

#include "common/err.h"
#include "common/xmalloc.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct policy {
	enum policy_prio prio;
	struct policy_net *trusted;
	size_t ntrusted;
	struct policy_net *limits;
	size_t nlimits;
	int untrusted_max;
	int min_priority;
	int64_t size_limit[POLICY_LEVELS_MAX];
	int max_received;
};

static const int levels_stanag[] = { -4, -2, 0, 2, 4, 6 };
static const char *const names_stanag[] = { "deferred", "routine",
	"priority", "immediate", "flash", "override" };
static const char *const names_mixer[] = { "non-urgent", "normal",
	"urgent" };
static const char *const names_nsep[] = { "nsep-2", "nsep0", "nsep2",
	"nsep4", "nsep6" };
static const int levels_mixer[] = { -4, 0, 4 };
static const int levels_nsep[] = { -2, 0, 2, 4, 6 };

static const struct {
	const char *name;
	const int *levels;
	size_t n;
	const char *const *band_names;
} prio_policies[] = {
	[POLICY_PRIO_STANAG4406] = { "STANAG4406", levels_stanag,
	    GW_ARRAY_LEN(levels_stanag), names_stanag },
	[POLICY_PRIO_MIXER] = { "MIXER", levels_mixer,
	    GW_ARRAY_LEN(levels_mixer), names_mixer },
	[POLICY_PRIO_NSEP] = { "NSEP", levels_nsep, GW_ARRAY_LEN(levels_nsep),
	    names_nsep },
};

void
policy_config_init(struct policy_config *c)
{
	memset(c, 0, sizeof(*c));
	c->priority_policy = "STANAG4406";
	c->untrusted_max_priority = 0;
	c->min_priority = POLICY_PRIO_MIN;
	c->max_received = 100;
}

int
policy_prio_parse(const char *name, enum policy_prio *out)
{
	for (size_t i = 0; i < GW_ARRAY_LEN(prio_policies); i++) {
		if (strcasecmp(name, prio_policies[i].name) == 0) {
			*out = (enum policy_prio)i;
			return 0;
		}
	}
	return GW_EINVAL;
}

const char *
policy_prio_name(enum policy_prio p)
{
	if ((size_t)p >= GW_ARRAY_LEN(prio_policies))
		return "?";
	return prio_policies[p].name;
}

const int *
policy_prio_levels(enum policy_prio p, size_t *n)
{
	GW_REQUIRE((size_t)p < GW_ARRAY_LEN(prio_policies));
	*n = prio_policies[p].n;
	return prio_policies[p].levels;
}

int
policy_prio_band(enum policy_prio p, int priority)
{
	size_t n;
	const int *lv = policy_prio_levels(p, &n);

	for (size_t i = 0; i < n; i++) {
		if (priority <= lv[i])
			return (int)i;
	}
	return (int)n - 1;
}

int
policy_prio_round(enum policy_prio p, int priority)
{
	size_t n;
	const int *lv = policy_prio_levels(p, &n);

	return lv[policy_prio_band(p, priority)];
}

int
policy_band_count(const struct policy *p)
{
	return (int)prio_policies[p->prio].n;
}

const char *
policy_band_name(const struct policy *p, int band)
{
	if (band < 0 || band >= policy_band_count(p))
		return "?";
	return prio_policies[p->prio].band_names[band];
}

int
policy_band_parse(const struct policy *p, const char *s)
{
	char *end;
	long v;

	for (int b = 0; b < policy_band_count(p); b++)
		if (strcasecmp(s, prio_policies[p->prio].band_names[b]) == 0)
			return b;
	v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || v < 0 || v >= policy_band_count(p))
		return -1;
	return (int)v;
}

/* ---- the priority draft's alias ------------------------------------------ */

int
policy_parse_draft(const char *s, struct policy_draft *out, char *err,
    size_t errlen)
{
	const char *p = s;
	int next = -99;

	memset(out, 0, sizeof(*out));
	while (*p) {
		int lo, hi, lv, used = 0;
		while (*p == ' ' || *p == ',' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		if (sscanf(p, "%d..%d=%d%n", &lo, &hi, &lv, &used) != 3 ||
		    used == 0) {
			snprintf(err, errlen, "'%.40s': expected LOW..HIGH=LEVEL",
			    p);
			return GW_EINVAL;
		}
		if (lo != next || hi < lo || hi > 99 || lv < POLICY_PRIO_MIN ||
		    lv > POLICY_PRIO_MAX) {
			snprintf(err, errlen, "'%d..%d=%d': ranges must run "
			    "from -99 to 99 in order without gaps, levels "
			    "-9..9", lo, hi, lv);
			return GW_ERANGE;
		}
		if (out->n == POLICY_DRAFT_RANGES_MAX) {
			snprintf(err, errlen, "more than %d ranges",
			    POLICY_DRAFT_RANGES_MAX);
			return GW_ERANGE;
		}
		out->r[out->n].lo = lo;
		out->r[out->n].hi = hi;
		out->r[out->n].level = lv;
		out->n++;
		next = hi + 1;
		p += used;
	}
	if (next != 100) {
		snprintf(err, errlen, "the ranges must end at 99");
		return GW_ERANGE;
	}
	return 0;
}

int
policy_draft_to_mt(const struct policy_draft *d, int v)
{
	for (size_t i = 0; i < d->n; i++)
		if (v >= d->r[i].lo && v <= d->r[i].hi)
			return d->r[i].level;
	return 0;
}

int
policy_mt_to_draft(const struct policy_draft *d, int mt)
{
	int best = d->n ? d->r[0].lo : 0, lv = POLICY_PRIO_MIN - 1;

	for (size_t i = 0; i < d->n; i++)
		if (d->r[i].level <= mt && d->r[i].level >= lv) {
			lv = d->r[i].level;
			best = d->r[i].hi;
		}
	return best;
}

/* ---- networks ------------------------------------------------------------ */

/* "'item': what" into err. */
static void
set_err(char *err, size_t errlen, const char *what, const char *item,
    size_t itemlen)
{
	if (err == NULL || errlen == 0)
		return;
	snprintf(err, errlen, "'%.*s': %s", (int)itemlen, item, what);
}

/* Parse "addr[/len]" (len bytes at s) into net. */
static int
parse_cidr(const char *s, size_t len, struct policy_net *net)
{
	char tmp[INET6_ADDRSTRLEN + 8];
	char *slash;
	int prefix = -1;
	bool v4;

	if (len == 0 || len >= sizeof(tmp))
		return GW_EINVAL;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	slash = strchr(tmp, '/');
	if (slash != NULL) {
		char *end;
		long v;

		*slash = '\0';
		if (!isdigit((unsigned char)slash[1]))
			return GW_EINVAL;
		errno = 0;
		v = strtol(slash + 1, &end, 10);
		if (*end != '\0' || errno != 0 || v < 0 || v > 128)
			return GW_EINVAL;
		prefix = (int)v;
	}
	memset(net, 0, sizeof(*net));
	if (inet_pton(AF_INET, tmp, net->addr + 12) == 1) {
		v4 = true;
		net->addr[10] = 0xff;
		net->addr[11] = 0xff;
	} else if (inet_pton(AF_INET6, tmp, net->addr) == 1) {
		v4 = false;
	} else {
		return GW_EINVAL;
	}
	if (prefix < 0)
		prefix = v4 ? 32 : 128;
	if (v4 && prefix > 32)
		return GW_ERANGE;
	net->prefix = v4 ? 96 + prefix : prefix;
	/* ::ffff:a.b.c.d/(96+n) written in IPv6 form is an IPv4 network */
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		0xff, 0xff };
	net->v4 = v4 || (net->prefix >= 96 &&
	    memcmp(net->addr, mapped, 12) == 0);
	/* Clear host bits so matching compares whole bytes cheaply. */
	for (int bit = net->prefix; bit < 128; bit++)
		net->addr[bit / 8] &= (uint8_t)~(0x80u >> (bit % 8));
	return 0;
}

/* Split s at commas and blanks; call fn for each item. */
static int
parse_list(const char *s, bool with_max, struct policy_net **out, size_t *n,
    char *err, size_t errlen)
{
	struct policy_net *v = NULL;
	size_t nv = 0, cap = 0;
	const char *p = s ? s : "";

	while (*p != '\0') {
		const char *start, *end, *eq;
		struct policy_net net;
		int rc;

		while (*p == ',' || isspace((unsigned char)*p))
			p++;
		if (*p == '\0')
			break;
		start = p;
		while (*p != '\0' && *p != ',' && !isspace((unsigned char)*p))
			p++;
		end = p;
		eq = memchr(start, '=', (size_t)(end - start));
		if (with_max != (eq != NULL)) {
			set_err(err, errlen, with_max ?
			    "expected CIDR=max (max -9..9)" :
			    "expected an address or CIDR",
			    start, (size_t)(end - start));
			free(v);
			return GW_EINVAL;
		}
		rc = parse_cidr(start, (size_t)((eq ? eq : end) - start), &net);
		if (rc != 0) {
			set_err(err, errlen,
			    "not an IPv4/IPv6 address or CIDR",
			    start, (size_t)(end - start));
			free(v);
			return rc;
		}
		if (with_max) {
			char num[8];
			size_t nl = (size_t)(end - eq - 1);
			char *e;
			long m;

			if (nl == 0 || nl >= sizeof(num)) {
				set_err(err, errlen,
				    "max must be -9..9", start,
				    (size_t)(end - start));
				free(v);
				return GW_ERANGE;
			}
			memcpy(num, eq + 1, nl);
			num[nl] = '\0';
			m = strtol(num, &e, 10);
			if (*e != '\0' || m < POLICY_PRIO_MIN ||
			    m > POLICY_PRIO_MAX) {
				set_err(err, errlen,
				    "max must be -9..9", start,
				    (size_t)(end - start));
				free(v);
				return GW_ERANGE;
			}
			net.max_priority = (int)m;
		}
		if (nv == cap) {
			cap = cap ? cap * 2 : 4;
			v = xrealloc(v, cap * sizeof(*v));
		}
		v[nv++] = net;
	}
	*out = v;
	*n = nv;
	return 0;
}

int
policy_parse_networks(const char *s, struct policy_net **out, size_t *n,
    char *err, size_t errlen)
{
	return parse_list(s, false, out, n, err, errlen);
}

int
policy_parse_priority_limits(const char *s, struct policy_net **out,
    size_t *n, char *err, size_t errlen)
{
	return parse_list(s, true, out, n, err, errlen);
}

static int
parse_size(const char *s, size_t len, int64_t *out)
{
	int64_t v = 0, mul = 1;
	size_t i;

	if (len == 0)
		return GW_EINVAL;
	switch (s[len - 1]) {
	case 'k': case 'K': mul = 1024; len--; break;
	case 'm': case 'M': mul = 1024 * 1024; len--; break;
	case 'g': case 'G': mul = 1024 * 1024 * 1024; len--; break;
	default: break;
	}
	if (len == 0 || len > 12)
		return GW_EINVAL;
	for (i = 0; i < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			return GW_EINVAL;
		v = v * 10 + (s[i] - '0');
	}
	*out = v * mul;
	return 0;
}

int
policy_parse_size_limits(const char *s, int64_t out[POLICY_LEVELS_MAX],
    char *err, size_t errlen)
{
	int64_t given[POLICY_LEVELS_MAX] = { 0 };
	bool has[POLICY_LEVELS_MAX] = { false };
	const char *p = s ? s : "";

	while (*p != '\0') {
		const char *start, *end, *eq;
		char num[4];
		char *e;
		long prio;
		int64_t size;

		while (*p == ',' || isspace((unsigned char)*p))
			p++;
		if (*p == '\0')
			break;
		start = p;
		while (*p != '\0' && *p != ',' && !isspace((unsigned char)*p))
			p++;
		end = p;
		eq = memchr(start, '=', (size_t)(end - start));
		if (eq == NULL || eq == start || (size_t)(eq - start) >= 3) {
			set_err(err, errlen, "expected priority=size",
			    start, (size_t)(end - start));
			return GW_EINVAL;
		}
		memcpy(num, start, (size_t)(eq - start));
		num[eq - start] = '\0';
		prio = strtol(num, &e, 10);
		if (*e != '\0' || prio < POLICY_PRIO_MIN ||
		    prio > POLICY_PRIO_MAX) {
			set_err(err, errlen, "priority must be -9..9",
			    start, (size_t)(end - start));
			return GW_ERANGE;
		}
		if (parse_size(eq + 1, (size_t)(end - eq - 1), &size) != 0 ||
		    size <= 0) {
			set_err(err, errlen,
			    "size must be a positive number (K, M, G)",
			    start, (size_t)(end - start));
			return GW_EINVAL;
		}
		given[prio + 9] = size;
		has[prio + 9] = true;
	}
	/* A limit applies upward until the next given priority. */
	int64_t cur = 0;
	for (int i = 0; i < POLICY_LEVELS_MAX; i++) {
		if (has[i])
			cur = given[i];
		out[i] = cur;
	}
	return 0;
}

int
policy_new(const struct policy_config *c, struct policy **out, char *err,
    size_t errlen)
{
	struct policy *p = xcalloc(1, sizeof(*p));
	int rc;

	if (c->priority_policy != NULL && *c->priority_policy != '\0') {
		if (policy_prio_parse(c->priority_policy, &p->prio) != 0) {
			snprintf(err, errlen, "priority_policy '%s': allowed "
			    "STANAG4406, MIXER, NSEP", c->priority_policy);
			policy_free(p);
			return GW_EINVAL;
		}
	}
	rc = policy_parse_networks(c->trusted_networks, &p->trusted,
	    &p->ntrusted, err, errlen);
	if (rc == 0)
		rc = policy_parse_priority_limits(c->priority_limits,
		    &p->limits, &p->nlimits, err, errlen);
	if (rc == 0)
		rc = policy_parse_size_limits(c->size_limits, p->size_limit,
		    err, errlen);
	if (rc == 0 && (c->untrusted_max_priority < POLICY_PRIO_MIN ||
	    c->untrusted_max_priority > POLICY_PRIO_MAX ||
	    c->min_priority < POLICY_PRIO_MIN ||
	    c->min_priority > POLICY_PRIO_MAX)) {
		snprintf(err, errlen, "priorities must be -9..9");
		rc = GW_ERANGE;
	}
	if (rc != 0) {
		policy_free(p);
		return rc;
	}
	p->untrusted_max = c->untrusted_max_priority;
	p->min_priority = c->min_priority;
	p->max_received = c->max_received > 0 ? c->max_received : 100;
	*out = p;
	return 0;
}

void
policy_free(struct policy *p)
{
	if (p == NULL)
		return;
	free(p->trusted);
	free(p->limits);
	free(p);
}

enum policy_prio
policy_prio_policy(const struct policy *p)
{
	return p->prio;
}

int
policy_band(const struct policy *p, int priority)
{
	return policy_prio_band(p->prio, priority);
}

int
policy_min_priority(const struct policy *p)
{
	return p->min_priority;
}

int
policy_max_received(const struct policy *p)
{
	return p->max_received;
}

int64_t
policy_size_limit(const struct policy *p, int priority)
{
	if (priority < POLICY_PRIO_MIN || priority > POLICY_PRIO_MAX)
		return 0;
	return p->size_limit[priority + 9];
}

/* The 128-bit form of a socket address; false for other families. */
static bool
sa_bytes(const struct sockaddr *sa, uint8_t out[16])
{
	if (sa == NULL)
		return false;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		memset(out, 0, 10);
		out[10] = 0xff;
		out[11] = 0xff;
		memcpy(out + 12, &in->sin_addr, 4);
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		memcpy(out, &in6->sin6_addr, 16);
		return true;
	}
	return false;
}

static bool
match_bytes(const struct policy_net *net, const uint8_t a[16])
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		0xff, 0xff };
	int full = net->prefix / 8, rest = net->prefix % 8;

	if (net->v4 != (memcmp(a, mapped, 12) == 0))
		return false;

	if (memcmp(net->addr, a, (size_t)full) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xffu << (8 - rest));
	return (a[full] & mask) == net->addr[full];
}

bool
policy_net_match(const struct policy_net *net, const struct sockaddr *sa)
{
	uint8_t a[16];

	return sa_bytes(sa, a) && match_bytes(net, a);
}

bool
policy_is_trusted(const struct policy *p, const struct sockaddr *sa)
{
	uint8_t a[16];

	if (!sa_bytes(sa, a))
		return false;
	for (size_t i = 0; i < p->ntrusted; i++)
		if (match_bytes(&p->trusted[i], a))
			return true;
	return false;
}

int
policy_max_priority(const struct policy *p, const struct sockaddr *sa)
{
	uint8_t a[16];
	int best_prefix = -1, best = p->untrusted_max;

	if (policy_is_trusted(p, sa))
		return POLICY_PRIO_MAX;
	if (!sa_bytes(sa, a))
		return p->untrusted_max;
	/* The most specific matching network wins. */
	for (size_t i = 0; i < p->nlimits; i++) {
		if (match_bytes(&p->limits[i], a) &&
		    p->limits[i].prefix > best_prefix) {
			best_prefix = p->limits[i].prefix;
			best = p->limits[i].max_priority;
		}
	}
	return best;
}
