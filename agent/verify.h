/*
 * verify - compare an export with what the primary's own Postfix accepts
 *
 * verify_run() asks Postfix about candidate addresses through its own
 * tools, never its files: "postconf -c DIR -xh" names the tables that
 * decide RCPT TO for each address class, and one "postmap -c DIR -q -
 * TABLE" per table (proxy: stripped, any table type) answers a batch of
 * keys on its standard input.  The keys are Postfix's (formats/lookup.h:
 * user+ext@domain, user@domain, for local domains the bare local parts,
 * @domain; pattern tables see the full address only); an empty value is
 * not found.  The primary's decision follows smtpd's check_rcpt_maps():
 *
 *	recipient_canonical_maps, canonical_maps, virtual_alias_maps: a hit
 *	    accepts in any class;
 *	mydestination (class local): local_recipient_maps, or every address
 *	    when it is empty; postmaster, mailer-daemon and double-bounce
 *	    always;
 *	virtual_alias_domains: nothing else;
 *	virtual_mailbox_domains: virtual_mailbox_maps (empty: every address);
 *	relay_domains: relay_recipient_maps (empty: every address);
 *	any other domain: relay access denied.
 *
 * The domain lists are matched as Postfix matches them (names, /file,
 * type:table, !negation; relay_domains with parent domains as
 * parent_domain_matches_subdomains says).  The backup's decision is
 * lookup_accepts() on the export with the agent's recipient_delimiter.
 *
 * Limits: restrictions other than the recipient tables (check_recipient_
 * access, policy services, reject_unverified_recipient), address literals
 * and inet_interfaces as local domains, and rewriting by trivial-rewrite
 * are not modelled.
 *
 * Fails with VERIFY_DOWN when a table could not be asked (postmap failed:
 * database down, file unreadable), VERIFY_CONFIG when postconf failed; the
 * message names the program, the table and Postfix's own error.  It reads
 * only: it runs no command that changes anything and sends no mail.
 */
#ifndef MXSYNC_AGENT_VERIFY_H
#define MXSYNC_AGENT_VERIFY_H

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>
#include <time.h>

#include <jansson.h>

#include "../formats/err.h"
#include "../formats/state.h"

#define VERIFY_EXAMPLES 20
#define VERIFY_SAMPLE_MAX 100000
#define VERIFY_CONFIG (-1)
#define VERIFY_DOWN (-2)

struct verify_opts {
	const char *postfix_dir; /* NULL or "": Postfix's default */
	const char *delimiter;	 /* the agent's recipient_delimiter */
	size_t sample;		 /* 0: all, up to VERIFY_SAMPLE_MAX */
	FILE *list;		 /* not NULL: every candidate, a line */
};

struct verify_example {
	char *address;	  /* as the candidate was written */
	char *primary_by; /* the table that decided, or why not */
	char *backup_by;  /* the backup's matched key, or why not */
};

/* one table postmap was asked, and what it answered */
struct verify_table_stat {
	char *table; /* as main.cf names it */
	size_t keys, found;
};

struct verify_result {
	time_t when;
	size_t candidates, agree, lost, backscatter;
	struct verify_example lost_ex[VERIFY_EXAMPLES];
	struct verify_example bs_ex[VERIFY_EXAMPLES];
	size_t nlost_ex, nbs_ex;
	char primary_delimiter[64]; /* as postconf says */
	char warning[256];	    /* "" or a note on the comparison */
	double seconds;
	struct verify_table_stat *tables;
	size_t ntables;
};

/*
 * verify_run - compare st (a finished export) with the primary's Postfix;
 * 0 with r filled (free with verify_result_clear), or VERIFY_CONFIG /
 * VERIFY_DOWN with a message.
 */
int verify_run(const struct state *st, const struct verify_opts *o,
	       struct verify_result *r, struct err *err);
void verify_result_clear(struct verify_result *r);

/* verify_json - the result as a JSON object (caller owns the reference) */
json_t *verify_json(const struct verify_result *r);

/*
 * verify_background - start "mxsync-agent -c config_path verify --json" as
 * a new process (the same program, exported afresh) with its output on a
 * non-blocking pipe *fd_r; the caller reads it to EOF, reaps *pid_r and
 * makes the report with verify_report().
 */
int verify_background(const char *config_path, int *fd_r, pid_t *pid_r,
		      struct err *err);

/*
 * verify_report - the JSON report from that output and its wait status:
 * verify_json()'s document, or {"time", "error": the last line, "down":
 * exit 75} when it failed.
 */
json_t *verify_report(const char *text, size_t len, int status);

/* verify_print - the text report: counts, then examples */
void verify_print(const struct verify_result *r, FILE *f);

#endif
