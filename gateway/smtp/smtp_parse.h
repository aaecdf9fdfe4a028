/*
 * smtp_parse.h - the pure SMTP command parser: command line -> verb,
 * argument, path and ESMTP parameters, with each extension's syntax checked.
 *
 * Nothing here does I/O, keeps state or allocates: every function reads the
 * bytes it is given and writes into caller-owned structs, so it is safe on
 * any thread and is driven table-first by tests/smtp/test_smtp_parse.c and
 * the fuzz target.
 *
 * Input lines are given WITHOUT the terminating CRLF. Strings copied into
 * the argument structs are NUL-terminated and bounded by the RFC limits.
 *
 * Errors are data: smtp_parse_mail/rcpt fill a struct smtp_perr with the
 * SMTP reply code, the enhanced status code and a short text, exactly as the
 * session sends them. Checks that need configuration or the session (SIZE
 * against the limit, BY against the advertised minimum, trust, policy) are
 * the session's; what is checked here is syntax, duplicates, and whether a
 * keyword belongs to an extension the session offers (ext mask).
 *
 * Glossary: "allowance" = octets an extension adds to the 512-octet command
 * line limit when its parameter is present (RFC 6710 +15, RFC 2852 +17, ...).
 */
#ifndef GW_GATEWAY_SMTP_PARSE_H
#define GW_GATEWAY_SMTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SMTP_LINE_MAX 512     /* command line incl. CRLF (RFC 5321 4.5.3.1.4) */
#define SMTP_TEXT_LINE_MAX 1000 /* text line incl. CRLF (4.5.3.1.6) */
#define SMTP_PATH_MAX 256     /* incl. angle brackets (4.5.3.1.3) */
#define SMTP_LOCAL_MAX 64
#define SMTP_DOMAIN_MAX 255
#define SMTP_ENVID_MAX 100    /* RFC 3461 4.4 */
#define SMTP_ORCPT_MAX 500    /* RFC 3461 4.2 */
#define SMTP_BY_MAX 999999999 /* RFC 2852: 1*9DIGIT */

/* XX(NAME, "VERB") */
#define SMTP_VERB_MAP(XX)      \
	XX(EHLO, "EHLO")       \
	XX(HELO, "HELO")       \
	XX(MAIL, "MAIL")       \
	XX(RCPT, "RCPT")       \
	XX(DATA, "DATA")       \
	XX(BDAT, "BDAT")       \
	XX(RSET, "RSET")       \
	XX(NOOP, "NOOP")       \
	XX(QUIT, "QUIT")       \
	XX(VRFY, "VRFY")       \
	XX(EXPN, "EXPN")       \
	XX(HELP, "HELP")

enum smtp_verb {
#define SMTP__VERB_ENUM(name, str) SMTP_V_##name,
	SMTP_VERB_MAP(SMTP__VERB_ENUM)
#undef SMTP__VERB_ENUM
	SMTP_V_UNKNOWN,
	SMTP_V__COUNT
};

const char *smtp_verb_name(enum smtp_verb v);

/* Extensions offered by a session; a parameter of an extension not in the
 * mask is answered as the extension prescribes (555, or 504 for
 * CONPERM/CONNEG). */
#define SMTP_EXT_SIZE 0x001u
#define SMTP_EXT_8BITMIME 0x002u
#define SMTP_EXT_DSN 0x004u
#define SMTP_EXT_DELIVERBY 0x008u
#define SMTP_EXT_MTPRIORITY 0x010u
#define SMTP_EXT_CHUNKING 0x020u
#define SMTP_EXT_BINARYMIME 0x040u
#define SMTP_EXT_ALTRECIP 0x080u
#define SMTP_EXT_CONPERM 0x100u
#define SMTP_EXT_CONNEG 0x200u /* also DRUCOF */
#define SMTP_EXT_PRIODRAFT 0x400u /* the seed's PRIORITY=-99..99 */
#define SMTP_EXT_ALL 0x7ffu

struct smtp_cmd {
	enum smtp_verb verb;
	const char *arg;   /* after the verb and one SP; "" if none */
	size_t arglen;
	bool has_arg;      /* something (even blanks) followed the verb */
};

/* Split a command line. Never fails: an unknown verb is SMTP_V_UNKNOWN. */
void smtp_parse_cmd(const char *line, size_t len, struct smtp_cmd *cmd);

/* A reply chosen by the parser. */
struct smtp_perr {
	int code;          /* 501, 555, 504, ... */
	const char *enh;   /* "5.5.4" */
	const char *text;  /* static text */
};

enum smtp_body { SMTP_BODY_7BIT = 0, SMTP_BODY_8BITMIME,
	SMTP_BODY_BINARYMIME };
enum smtp_ret { SMTP_RET_NONE = 0, SMTP_RET_FULL, SMTP_RET_HDRS };

struct smtp_mail_args {
	char path[SMTP_PATH_MAX + 1];   /* without <>; "" for <> */
	bool has_size;
	int64_t size;
	bool has_body;
	enum smtp_body body;
	enum smtp_ret ret;
	bool has_envid;
	char envid[SMTP_ENVID_MAX + 1]; /* xtext as given */
	bool has_priority;
	int priority;
	bool has_draft;            /* PRIORITY= (the 2011 draft, opt-in) */
	int draft;                 /* -99..99 */
	bool has_by;
	int64_t by_time;                /* seconds, may be <= 0 for N */
	char by_mode;                   /* 'R' or 'N' */
	bool by_trace;
	bool has_aby;
	int64_t aby_time;
	char aby_mode;
	bool conperm;
	size_t allowance;               /* line allowance of the params given */
};

/* NOTIFY bits equal QUEUE_NOTIFY_*. */
#define SMTP_NOTIFY_NEVER 0x1u
#define SMTP_NOTIFY_SUCCESS 0x2u
#define SMTP_NOTIFY_FAILURE 0x4u
#define SMTP_NOTIFY_DELAY 0x8u

struct smtp_rcpt_args {
	char path[SMTP_PATH_MAX + 1];   /* without <> */
	unsigned notify;                /* 0 = not given */
	bool has_orcpt;
	char orcpt[SMTP_ORCPT_MAX + 1]; /* "type;xtext" as given */
	bool has_arcpt;
	char arcpt[SMTP_ORCPT_MAX + 1];
	bool conneg;
	bool drucof;
	size_t allowance;
};

/* arg is what follows "MAIL" + SP ("FROM:<a@b> SIZE=10"). Return 0, or -1
 * with err set. */
int smtp_parse_mail(const char *arg, size_t len, unsigned ext,
    struct smtp_mail_args *out, struct smtp_perr *err);
int smtp_parse_rcpt(const char *arg, size_t len, unsigned ext,
    struct smtp_rcpt_args *out, struct smtp_perr *err);

/* The extra line length a parameter keyword earns (0 if none). */
size_t smtp_param_allowance(const char *kw, size_t kwlen);
/* Sum of allowances of the keywords present in a MAIL/RCPT argument (a
 * quick scan, used to size the line limit before full parsing). */
size_t smtp_line_allowance(const char *arg, size_t len);

/* "<path>" at s; reverse allows "<>", !reverse allows "<Postmaster>".
 * Writes the path without brackets into out (SMTP_PATH_MAX + 1), sets *used
 * to the octets consumed. Returns 0, -1 (syntax) or -2 (too long). */
int smtp_parse_path(const char *s, size_t len, bool reverse, char *out,
    size_t *used);

/* Pieces, exposed for tests and the fuzz target. */
bool smtp_xtext_valid(const char *s, size_t len);
/* Decode xtext into out (outlen incl. NUL); returns decoded length or -1. */
int smtp_xtext_decode(const char *s, size_t len, char *out, size_t outlen);
/* RFC 6710 priority-value: (["-"] NZDIGIT) / "0". */
int smtp_parse_priority(const char *s, size_t len, int *out);
/* RFC 2852 by-value: by-time ";" by-mode [by-trace]. */
int smtp_parse_by(const char *s, size_t len, int64_t *t, char *mode,
    bool *trace);
int smtp_parse_notify(const char *s, size_t len, unsigned *bits);
/* addr-type ";" xtext (ORCPT, ARCPT). */
bool smtp_typed_addr_valid(const char *s, size_t len);
/* BDAT argument: chunk-size [SP "LAST"]. */
int smtp_parse_bdat(const char *s, size_t len, uint64_t *size, bool *last);
/* EHLO/HELO argument: a domain or an address literal. */
bool smtp_helo_valid(const char *s, size_t len);
/* Domain (sub-domains of letters, digits, hyphens) or [address literal]. */
bool smtp_domain_valid(const char *s, size_t len);
/* The seed draft's PRIORITY value: ["-"] 1*2DIGIT without a leading zero,
 * -99..99 (0 alone). 0 or -1. */
int smtp_parse_draft_priority(const char *s, size_t len, int *out);
/* A mailbox (RFC 5321 s4.1.2: Local-part "@" domain), without brackets. */
bool smtp_mailbox_valid(const char *s, size_t len);

#endif
