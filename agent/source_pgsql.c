/*
 * source_pgsql - domains and recipients from a PostgreSQL database
 * (PostfixAdmin, ViMbAdmin, Modoboa and the like), through libpq
 *
 *	[source NAME]
 *	type             = pgsql
 *	host             = db.example.com	(or a socket directory:
 *	port             = 5432			 socket = /run/postgresql)
 *	user             = mxsync
 *	password_file    = /etc/mxsync/pgsql.pw	(first line; may be unset)
 *	dbname           = postfix
 *	sslmode          = prefer	(disable, allow, prefer, require,
 *					 verify-ca, verify-full)
 *	sslrootcert      = /etc/ssl/certs/db-ca.pem
 *	connect_timeout  = 5s
 *	schema           = postfixadmin	(or postfixadmin-backupmx, iredmail:
 *					 preset queries, see preset_pgsql.c)
 *	domains_query    = ...		(1 or 2 columns, as type = mysql)
 *	recipients_query = ...		(exactly 1 column)
 *	change_query     = ...		(any shape; polled)
 *	listen           = mxsync	(a NOTIFY channel: polls read the
 *					 notifications instead of querying)
 *	poll_interval    = 5s
 *	mixed_case       = drop		(or fold)
 *	allow_empty      = no
 *
 * PostgreSQL compares text exactly, and Postfix looks every key up folded
 * to lower case: a row that is not in folded form is never matched by the
 * primary's "= '%s'" queries.  With mixed_case = drop such rows are left
 * out and counted (the primary cannot accept them); fold exports them
 * folded, for tables that compare lower(column).
 *
 * The queries of one export run in one REPEATABLE READ READ ONLY
 * transaction, so the change marker and the data are one snapshot.  Rows
 * are read through a cursor, SOURCE_PGSQL_BATCH at a time: a million
 * recipients never sit in a client-side result as a whole.  The change
 * query's small result is read whole, in one round trip; polls keep one
 * read-only connection open for it, so a poll that finds no change costs
 * that round trip and nothing else.
 *
 * This file owns the keys and their checks, the case rules, the shape of
 * each query's rows, the export's transaction and the polls; the libpq
 * layer under it (connecting with the password, what a failure means,
 * the cursor, LISTEN) is source_pgsql_conn.c, and what the database
 * sources have in common is source.c.
 *
 * Failure: connection errors, a lost connection and server shutdown are
 * SOURCE_DOWN; a query the server refuses, a result of the wrong shape, a
 * NULL or malformed record, or a query that returns nothing (unless
 * allow_empty) is SOURCE_BAD, and the message names the source and query.
 *
 * Security: the password is read for each connection and wiped right
 * after (source_pgsql_conn.c); it is never logged.  Nothing here builds
 * SQL from data: the queries are the configuration's or a preset's, and
 * the LISTEN channel is checked to be a plain identifier.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <sodium.h>

#include "../formats/norm.h"
#include "source.h"
#include "source_pgsql_priv.h"

static const struct conf_key source_pgsql_keys[] = {
    {"type", CONF_STRING, NULL, offsetof(struct source_pgsql_conf, type), 0, 0},
    {"host", CONF_STRING, "", offsetof(struct source_pgsql_conf, host), 0, 0},
    {"socket", CONF_STRING, "", offsetof(struct source_pgsql_conf, socket), 0,
     0},
    {"port", CONF_UINT, "0", offsetof(struct source_pgsql_conf, port), 0,
     65535},
    {"user", CONF_STRING, NULL, offsetof(struct source_pgsql_conf, user), 0, 0},
    {"password_file", CONF_STRING, "",
     offsetof(struct source_pgsql_conf, password_file), 0, 0},
    {"dbname", CONF_STRING, NULL, offsetof(struct source_pgsql_conf, dbname), 0,
     0},
    {"sslmode", CONF_STRING, "prefer",
     offsetof(struct source_pgsql_conf, sslmode), 0, 0},
    {"sslrootcert", CONF_STRING, "",
     offsetof(struct source_pgsql_conf, sslrootcert), 0, 0},
    {"schema", CONF_STRING, "", offsetof(struct source_pgsql_conf, schema), 0,
     0},
    {"domains_query", CONF_STRING, "",
     offsetof(struct source_pgsql_conf, domains_query), 0, 0},
    {"recipients_query", CONF_STRING, "",
     offsetof(struct source_pgsql_conf, recipients_query), 0, 0},
    {"change_query", CONF_STRING, "",
     offsetof(struct source_pgsql_conf, change_query), 0, 0},
    {"listen", CONF_STRING, "", offsetof(struct source_pgsql_conf, listen), 0,
     0},
    {"mixed_case", CONF_STRING, "drop",
     offsetof(struct source_pgsql_conf, mixed_case), 0, 0},
    {"allow_empty", CONF_BOOL, "no",
     offsetof(struct source_pgsql_conf, allow_empty), 0, 0},
    {"poll_interval", CONF_DURATION, "5s",
     offsetof(struct source_pgsql_conf, poll_interval), 100, 86400000},
    {"connect_timeout", CONF_DURATION, "5s",
     offsetof(struct source_pgsql_conf, connect_timeout), 1000, 600000},
    {NULL, 0, NULL, 0, 0, 0},
};

static const char *const source_pgsql_sslmodes[] = {
    "disable", "allow", "prefer", "require", "verify-ca", "verify-full", NULL,
};

/* source_pgsql_one_of - value is among the NULL-ended words */
static int source_pgsql_one_of(const char *value, const char *const *words)
{
	for (; *words != NULL; words++)
		if (strcmp(value, *words) == 0)
			return 1;
	return 0;
}

/* source_pgsql_ident - a LISTEN channel we can name without quoting */
static int source_pgsql_ident(const char *s)
{
	size_t i;

	if (*s == '\0' || strlen(s) > 63 || (*s >= '0' && *s <= '9'))
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return 0;
	return 1;
}

static int source_pgsql_configure(struct source *src,
				  const struct conf_file *cf,
				  const struct conf_section *sec,
				  struct err *err)
{
	static const char *const drop_fold[] = {"drop", "fold", NULL};
	struct source_pgsql_conf *pc;

	if ((pc = calloc(1, sizeof(*pc))) == NULL)
		return err_set(err, "out of memory");
	src->priv = pc;
	if (conf_apply(cf, sec, source_pgsql_keys, pc, err) < 0)
		return -1;
	if (source_db_preset(cf, sec, "pgsql", pc->schema, &pc->domains_query,
			     &pc->recipients_query, &pc->change_query, err) < 0)
		return -1;
	if (*pc->domains_query == '\0' && *pc->recipients_query == '\0')
		return err_set(err,
			       "%s:%u: [source %s]: set schema, domains_query "
			       "or recipients_query",
			       cf->path, sec->line, sec->name);
	if (source_db_check(cf, sec, pc->host, pc->socket,
			    " (the socket's directory)", pc->password_file,
			    err) < 0)
		return -1;
	if (!source_pgsql_one_of(pc->sslmode, source_pgsql_sslmodes))
		return err_set(err,
			       "%s:%u: [source %s]: sslmode must be disable, "
			       "allow, prefer, require, verify-ca or "
			       "verify-full",
			       cf->path, conf_line(sec, "sslmode"), sec->name);
	if (source_path_check(cf, sec, "sslrootcert", pc->sslrootcert, err) < 0)
		return -1;
	if ((strcmp(pc->sslmode, "verify-ca") == 0 ||
	     strcmp(pc->sslmode, "verify-full") == 0) &&
	    *pc->sslrootcert == '\0')
		return err_set(err,
			       "%s:%u: [source %s]: sslmode %s needs "
			       "sslrootcert",
			       cf->path, conf_line(sec, "sslmode"), sec->name,
			       pc->sslmode);
	if (*pc->listen != '\0' && !source_pgsql_ident(pc->listen))
		return err_set(err,
			       "%s:%u: [source %s]: listen must be a channel "
			       "name of lower-case letters, digits and '_'",
			       cf->path, conf_line(sec, "listen"), sec->name);
	if (!source_pgsql_one_of(pc->mixed_case, drop_fold))
		return err_set(err,
			       "%s:%u: [source %s]: mixed_case must be drop "
			       "or fold",
			       cf->path, conf_line(sec, "mixed_case"),
			       sec->name);
	src->poll_interval_ms = pc->poll_interval;
	return 0;
}

static void source_pgsql_free(struct source *src)
{
	struct source_pgsql_conf *pc = src->priv;

	if (pc == NULL)
		return;
	if (pc->listener != NULL)
		PQfinish(pc->listener);
	if (pc->poller != NULL)
		PQfinish(pc->poller);
	conf_free_target(source_pgsql_keys, pc);
	free(pc);
	src->priv = NULL;
}

/*
 * source_pgsql_folded - s is in the form Postfix folds keys to (ASCII
 * lower case, or ICU case folding for UTF-8)
 */
static int source_pgsql_folded(const char *s, size_t len)
{
	char buf[NORM_BUF_SIZE];
	struct err e;
	size_t i, flen;
	int ascii = 1;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 'A' && c <= 'Z')
			return 0;
		if (c >= 0x80)
			ascii = 0;
	}
	if (ascii)
		return 1;
	/* malformed text: say "folded" and let the record check word it */
	if (norm_fold(s, len, buf, sizeof(buf), &flen, &e) < 0)
		return 1;
	return flen == len && memcmp(buf, s, len) == 0;
}

/* source_pgsql_drop - count a row left out for its case */
static void source_pgsql_drop(struct source_pgsql_conf *pc, const char *v,
			      int len)
{
	if (pc->dropped++ == 0)
		snprintf(pc->dropped_first, sizeof(pc->dropped_first), "%.*s",
			 len, v);
}

/* source_pgsql_ncols - check the column count of a query's first row */
static int source_pgsql_ncols(struct source *src, const PGresult *res,
			      const char *key, int want_min, int want_max,
			      const char *want, struct err *err)
{
	int ncol = PQnfields(res);

	if (ncol >= want_min && ncol <= want_max)
		return SOURCE_OK;
	err_set(err, "source %s: %s returns %d columns (want %s)", src->name,
		key, ncol, want);
	return SOURCE_BAD;
}

static int source_pgsql_domains(struct source *src,
				struct source_export_ctx *ctx, PGconn *db,
				struct err *err)
{
	struct source_pgsql_conf *pc = src->priv;
	struct source_pgsql_rows rows;
	unsigned long long rowno = 0;
	char where[SOURCE_WHERE_MAX];
	size_t before = ctx->domains;
	int rc, ncol, len, r;
	const char *d, *nh;

	if ((rc = source_pgsql_conn_open(src, db, "domains_query",
					 pc->domains_query, &rows, err)) < 0)
		return rc;
	if ((rc = source_pgsql_ncols(src, rows.res, "domains_query", 1, 2,
				     "1: domain, or 2: domain, nexthop", err)) <
	    0)
		goto out;
	ncol = PQnfields(rows.res);
	while ((rc = source_pgsql_conn_next(src, db, &rows, err)) > 0) {
		r = rows.row;
		rowno++;
		snprintf(where, sizeof(where), "domains_query row %llu", rowno);
		if (PQgetisnull(rows.res, r, 0)) {
			rc = SOURCE_BAD;
			err_set(err, "source %s: %s: NULL domain", src->name,
				where);
			goto out;
		}
		d = PQgetvalue(rows.res, r, 0);
		len = PQgetlength(rows.res, r, 0);
		if (strcmp(pc->mixed_case, "drop") == 0 &&
		    !source_pgsql_folded(d, (size_t)len)) {
			source_pgsql_drop(pc, d, len);
			continue;
		}
		nh = ncol == 2 && !PQgetisnull(rows.res, r, 1)
			 ? PQgetvalue(rows.res, r, 1)
			 : NULL;
		if ((rc = source_add_domain(
			 src, ctx, d, (size_t)len, nh,
			 nh ? (size_t)PQgetlength(rows.res, r, 1) : 0, where,
			 err)) < 0)
			goto out;
	}
	if (rc < 0)
		goto out;
	if (ctx->domains == before && !pc->allow_empty) {
		rc =
		    source_empty(src, "domains_query returned no domains", err);
		goto out;
	}
	rc = SOURCE_OK;
out:
	source_pgsql_conn_close(db, &rows);
	return rc;
}

static int source_pgsql_recipients(struct source *src,
				   struct source_export_ctx *ctx, PGconn *db,
				   struct err *err)
{
	struct source_pgsql_conf *pc = src->priv;
	struct source_pgsql_rows rows;
	unsigned long long rowno = 0;
	size_t before = ctx->recipients;
	int rc, len, drop = strcmp(pc->mixed_case, "drop") == 0;
	const char *a;

	if ((rc = source_pgsql_conn_open(src, db, "recipients_query",
					 pc->recipients_query, &rows, err)) < 0)
		return rc;
	if ((rc = source_pgsql_ncols(src, rows.res, "recipients_query", 1, 1,
				     "exactly 1: the address", err)) < 0)
		goto out;
	while ((rc = source_pgsql_conn_next(src, db, &rows, err)) > 0) {
		rowno++;
		if (PQgetisnull(rows.res, rows.row, 0)) {
			rc = SOURCE_BAD;
			err_set(err,
				"source %s: recipients_query row %llu: NULL "
				"address",
				src->name, rowno);
			goto out;
		}
		a = PQgetvalue(rows.res, rows.row, 0);
		len = PQgetlength(rows.res, rows.row, 0);
		if (drop && !source_pgsql_folded(a, (size_t)len)) {
			source_pgsql_drop(pc, a, len);
		} else if ((rc = source_add_recipient_n(
				src, ctx, a, (size_t)len, "recipients_query",
				" row ", rowno, err)) < 0) {
			goto out;
		}
	}
	if (rc < 0)
		goto out;
	if (ctx->recipients == before && !pc->allow_empty) {
		rc = source_empty(
		    src, "recipients_query returned no recipients", err);
		goto out;
	}
	rc = SOURCE_OK;
out:
	source_pgsql_conn_close(db, &rows);
	return rc;
}

/*
 * source_pgsql_change - hash of the change query's whole result, asked in
 * one round trip (one statement of the extended protocol, no cursor): a
 * poll that finds no change costs exactly that.  The result is read
 * whole; a change query is small (a count, a max(modified)).
 */
static int source_pgsql_change(struct source *src, PGconn *db,
			       unsigned char *out, struct err *err)
{
	struct source_pgsql_conf *pc = src->priv;
	crypto_generichash_state h;
	PGresult *res;
	int i, r, ncol, nrows, rc;

	res = PQexecParams(db, pc->change_query, 0, NULL, NULL, NULL, NULL, 0);
	if (res != NULL && PQresultStatus(res) == PGRES_COMMAND_OK) {
		PQclear(res);
		err_set(err,
			"source %s: change_query: the query returned no "
			"result set",
			src->name);
		return SOURCE_BAD;
	}
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
		rc = source_pgsql_conn_fail(src, db, res, "change_query", err);
		PQclear(res);
		return rc;
	}
	crypto_generichash_init(&h, NULL, 0, 32);
	ncol = PQnfields(res);
	nrows = PQntuples(res);
	for (r = 0; r < nrows; r++)
		for (i = 0; i < ncol; i++)
			source_change_add(&h,
					  PQgetisnull(res, r, i)
					      ? NULL
					      : PQgetvalue(res, r, i),
					  (size_t)PQgetlength(res, r, i));
	crypto_generichash_final(&h, out, 32);
	PQclear(res);
	return SOURCE_OK;
}

static int source_pgsql_export(struct source *src,
			       struct source_export_ctx *ctx, struct err *err)
{
	struct source_pgsql_conf *pc = src->priv;
	PGconn *db = NULL;
	unsigned char change[32];
	int rc = SOURCE_DOWN, have = 0;

	pc->dropped = 0;
	src->note[0] = '\0';
	/*
	 * LISTEN before reading: a change committed after our snapshot is
	 * notified to the next poll.
	 */
	if (*pc->listen != '\0' &&
	    (rc = source_pgsql_conn_listen(src, &pc->listener, pc->listen,
					   err)) < 0)
		return rc;
	if ((db = source_pgsql_conn_connect(src, NULL, err)) == NULL)
		return SOURCE_DOWN;
	/*
	 * Every row is read: plan the cursors for the whole result, not
	 * for the first tenth (the default makes hash joins lose to sorts).
	 */
	if ((rc = source_pgsql_conn_command(
		 src, db, "begin",
		 "BEGIN ISOLATION LEVEL REPEATABLE READ "
		 "READ ONLY",
		 err)) < 0 ||
	    (rc = source_pgsql_conn_command(
		 src, db, "begin", "SET LOCAL cursor_tuple_fraction = 1.0",
		 err)) < 0)
		goto out;
	if (*pc->change_query != '\0') {
		if ((rc = source_pgsql_change(src, db, change, err)) < 0)
			goto out;
		have = 1;
	}
	if (*pc->domains_query != '\0' &&
	    (rc = source_pgsql_domains(src, ctx, db, err)) < 0)
		goto out;
	if (*pc->recipients_query != '\0' &&
	    (rc = source_pgsql_recipients(src, ctx, db, err)) < 0)
		goto out;
	if ((rc = source_pgsql_conn_command(src, db, "commit", "COMMIT", err)) <
	    0)
		goto out;
	if (have) {
		memcpy(pc->change, change, sizeof(change));
		pc->have_change = 1;
	}
	if (pc->dropped > 0)
		snprintf(src->note, sizeof(src->note),
			 "%llu rows not in lower case left out (the primary "
			 "never matches them; mixed_case = drop), first: %s",
			 pc->dropped, pc->dropped_first);
	rc = SOURCE_OK;
out:
	PQfinish(db);
	return rc;
}

/* SOURCE_PGSQL_POLL_OPTIONS - the poll connection runs nothing but reads */
#define SOURCE_PGSQL_POLL_OPTIONS "-c default_transaction_read_only=on"

/* the poll's connection through source_db_poll: read-only from its start */
static void *source_pgsql_poll_connect(struct source *src, struct err *err)
{
	return source_pgsql_conn_connect(src, SOURCE_PGSQL_POLL_OPTIONS, err);
}

static int source_pgsql_poll_change(struct source *src, void *conn,
				    unsigned char *out, struct err *err)
{
	return source_pgsql_change(src, conn, out, err);
}

static void source_pgsql_poll_close(void *conn)
{
	PQfinish(conn);
}

static int source_pgsql_poll(struct source *src, struct err *err)
{
	static const struct source_db_poller poller = {
	    source_pgsql_poll_connect,
	    source_pgsql_poll_change,
	    source_pgsql_poll_close,
	};
	struct source_pgsql_conf *pc = src->priv;

	if (*pc->listen != '\0') {
		if (pc->listener == NULL)
			return 1;
		return source_pgsql_conn_notified(src, &pc->listener, err);
	}
	/* Without a change query, every poll is a full export. */
	if (*pc->change_query == '\0' || !pc->have_change)
		return 1;
	return source_db_poll(src, &poller, &pc->poller, pc->change, err);
}

static int source_pgsql_check(struct source *src, struct err *err)
{
	struct source_pgsql_conf *pc = src->priv;

	return source_password_check(src, pc->password_file, err);
}

const struct source_ops source_pgsql_ops = {
    .type = "pgsql",
    .configure = source_pgsql_configure,
    .check = source_pgsql_check,
    .export = source_pgsql_export,
    .poll = source_pgsql_poll,
    .free = source_pgsql_free,
};
