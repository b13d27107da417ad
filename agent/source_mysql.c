/*
 * source_mysql - domains and recipients from a MySQL/MariaDB database
 * (PostfixAdmin and the like), through the MariaDB client library
 *
 *	[source NAME]
 *	type             = mysql
 *	host             = localhost	or socket = /run/mysqld/mysqld.sock
 *	port             = 3306
 *	user             = mxsync
 *	password_file    = /etc/mxsync/mysql.pw	(first line; may be unset)
 *	dbname           = postfix
 *	schema           = postfixadmin | postfixadmin-backupmx | iredmail |
 *			   ispmail	(optional: the three queries below
 *			   default to that panel's preset, preset_mysql.c;
 *			   a query set here still overrides its preset)
 *	domains_query    = SELECT domain FROM domain WHERE ...	 (1 column:
 *			   domain; or 2 columns: domain, nexthop, where an
 *			   empty or NULL nexthop means the [agent] one)
 *	recipients_query = SELECT username FROM mailbox ...	(exactly 1
 *			   column: address or @domain)
 *	change_query     = SELECT MAX(modified), COUNT(*) FROM mailbox
 *			   (optional, any shape; polled, a different result
 *			   means "export again"; without it every poll is a
 *			   full export)
 *	poll_interval    = 5s
 *	connect_timeout  = 5s
 *
 * Domains and addresses are taken as the database compares them: trailing
 * blanks of a non-binary string (PAD SPACE collations) are dropped.
 *
 * Each export has a connection of its own; polls keep one open for the
 * change query, so a poll that finds no change costs one round trip.
 *
 * Connection and server errors are SOURCE_DOWN; a query returning the wrong
 * number of columns, a NULL or a malformed record is SOURCE_BAD, and the
 * message names the source and the query.
 *
 * Security: the password is read from its file for each connection, kept
 * only for mysql_real_connect() and wiped right after; it is never logged.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mysql.h>
#include <sodium.h>

#include "source.h"

#define MYSQL_PW_MAX 1024

struct mysql_conf {
	char *type;
	char *host;
	char *socket;
	uint64_t port;
	char *user;
	char *password_file;
	char *dbname;
	char *schema;
	char *domains_query;
	char *recipients_query;
	char *change_query;
	uint64_t poll_interval;
	uint64_t connect_timeout;
	/* the change query's last result, hashed */
	unsigned char change[32];
	int have_change;
	/* the change query's connection (MYSQL *), kept between polls */
	void *poller;
};

static const struct conf_key source_mysql_keys[] = {
    {"type", CONF_STRING, NULL, offsetof(struct mysql_conf, type), 0, 0},
    {"host", CONF_STRING, "", offsetof(struct mysql_conf, host), 0, 0},
    {"socket", CONF_STRING, "", offsetof(struct mysql_conf, socket), 0, 0},
    {"port", CONF_UINT, "0", offsetof(struct mysql_conf, port), 0, 65535},
    {"user", CONF_STRING, NULL, offsetof(struct mysql_conf, user), 0, 0},
    {"password_file", CONF_STRING, "",
     offsetof(struct mysql_conf, password_file), 0, 0},
    {"dbname", CONF_STRING, NULL, offsetof(struct mysql_conf, dbname), 0, 0},
    {"schema", CONF_STRING, "", offsetof(struct mysql_conf, schema), 0, 0},
    {"domains_query", CONF_STRING, "",
     offsetof(struct mysql_conf, domains_query), 0, 0},
    {"recipients_query", CONF_STRING, "",
     offsetof(struct mysql_conf, recipients_query), 0, 0},
    {"change_query", CONF_STRING, "", offsetof(struct mysql_conf, change_query),
     0, 0},
    {"poll_interval", CONF_DURATION, "5s",
     offsetof(struct mysql_conf, poll_interval), 100, 86400000},
    {"connect_timeout", CONF_DURATION, "5s",
     offsetof(struct mysql_conf, connect_timeout), 1000, 600000},
    {NULL, 0, NULL, 0, 0, 0},
};

static int source_mysql_configure(struct source *src,
				  const struct conf_file *cf,
				  const struct conf_section *sec,
				  struct err *err)
{
	struct mysql_conf *mc;

	if ((mc = calloc(1, sizeof(*mc))) == NULL)
		return err_set(err, "out of memory");
	src->priv = mc;
	if (conf_apply(cf, sec, source_mysql_keys, mc, err) < 0)
		return -1;
	if (source_db_preset(cf, sec, "mysql", mc->schema, &mc->domains_query,
			     &mc->recipients_query, &mc->change_query, err) < 0)
		return -1;
	if (*mc->domains_query == '\0' && *mc->recipients_query == '\0')
		return err_set(err,
			       "%s:%u: [source %s]: set domains_query or "
			       "recipients_query",
			       cf->path, sec->line, sec->name);
	if (source_db_check(cf, sec, mc->host, mc->socket, "",
			    mc->password_file, err) < 0)
		return -1;
	src->poll_interval_ms = mc->poll_interval;
	return 0;
}

static void source_mysql_free(struct source *src)
{
	struct mysql_conf *mc = src->priv;

	if (mc == NULL)
		return;
	if (mc->poller != NULL)
		mysql_close(mc->poller);
	conf_free_target(source_mysql_keys, mc);
	free(mc);
	src->priv = NULL;
}

/*
 * source_mysql_password - the first line of password_file into pw (wiped by
 * caller)
 */
static int source_mysql_password(struct source *src,
				 const struct mysql_conf *mc, char *pw,
				 size_t size, struct err *err)
{
	return source_password(src, mc->password_file, pw, size, err);
}

/* source_mysql_connect - a connection, or NULL with SOURCE_DOWN's message */
static MYSQL *source_mysql_connect(struct source *src, struct err *err)
{
	struct mysql_conf *mc = src->priv;
	MYSQL *db = NULL;
	char *pw = NULL;
	unsigned int timeout = (unsigned int)(mc->connect_timeout / 1000);
	unsigned int proto;

	if ((pw = sodium_malloc(MYSQL_PW_MAX)) == NULL) {
		err_set(err, "source %s: out of memory", src->name);
		return NULL;
	}
	if (source_mysql_password(src, mc, pw, MYSQL_PW_MAX, err) < 0)
		goto out;
	if ((db = mysql_init(NULL)) == NULL) {
		err_set(err, "source %s: mysql_init: out of memory", src->name);
		goto out;
	}
	mysql_options(db, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
	mysql_options(db, MYSQL_OPT_READ_TIMEOUT, &timeout);
	mysql_options(db, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	if (*mc->socket != '\0') {
		proto = MYSQL_PROTOCOL_SOCKET;
		mysql_options(db, MYSQL_OPT_PROTOCOL, &proto);
	}
	if (mysql_real_connect(
		db, *mc->host != '\0' ? mc->host : "localhost", mc->user,
		*pw != '\0' ? pw : NULL, mc->dbname, (unsigned int)mc->port,
		*mc->socket != '\0' ? mc->socket : NULL, 0) == NULL) {
		err_set(err, "source %s: connect to database %s: %s", src->name,
			mc->dbname, mysql_error(db));
		mysql_close(db);
		db = NULL;
	}
out:
	sodium_memzero(pw, MYSQL_PW_MAX);
	sodium_free(pw);
	return db;
}

/*
 * source_mysql_kind - server refusals of the query are bad config; the rest
 * down
 */
static int source_mysql_kind(MYSQL *db)
{
	unsigned e = mysql_errno(db);

	/* 2000..2999 are client errors: connection lost, server gone. */
	return e >= 2000 && e < 3000 ? SOURCE_DOWN : SOURCE_BAD;
}

/* source_mysql_run - run a query and fetch its whole result */
static int source_mysql_run(struct source *src, MYSQL *db, const char *key,
			    const char *query, MYSQL_RES **res_r,
			    struct err *err)
{
	if (mysql_real_query(db, query, strlen(query)) != 0 ||
	    (*res_r = mysql_store_result(db)) == NULL) {
		int kind =
		    mysql_errno(db) != 0 ? source_mysql_kind(db) : SOURCE_BAD;

		err_set(err, "source %s: %s: %s", src->name, key,
			mysql_errno(db) != 0
			    ? mysql_error(db)
			    : "the query returned no result set");
		return kind;
	}
	return SOURCE_OK;
}

/* MYSQL_BINARY - the character set number of binary strings */
#define MYSQL_BINARY 63

/*
 * source_mysql_pad - the length of a value as the database compares it: a
 * non-binary string is compared under its collation, and MySQL and MariaDB
 * collations are PAD SPACE (the "_nopad_" ones aside), so "a@b.example "
 * is the key the primary's lookup of a@b.example finds: trailing blanks
 * are dropped
 */
static unsigned long source_mysql_pad(const MYSQL_FIELD *f, const char *v,
				      unsigned long len)
{
	if (f->charsetnr == MYSQL_BINARY)
		return len;
	while (len > 0 && v[len - 1] == ' ')
		len--;
	return len;
}

static int source_mysql_domains(struct source *src,
				struct source_export_ctx *ctx, MYSQL *db,
				struct err *err)
{
	struct mysql_conf *mc = src->priv;
	MYSQL_RES *res = NULL;
	MYSQL_ROW row;
	MYSQL_FIELD *fields;
	unsigned ncol;
	unsigned long *lens;
	unsigned long long rowno = 0;
	char where[SOURCE_WHERE_MAX];
	int rc;

	if ((rc = source_mysql_run(src, db, "domains_query", mc->domains_query,
				   &res, err)) < 0)
		return rc;
	ncol = mysql_num_fields(res);
	fields = mysql_fetch_fields(res);
	if (ncol != 1 && ncol != 2) {
		rc = SOURCE_BAD;
		err_set(err,
			"source %s: domains_query returns %u columns "
			"(want 1: domain, or 2: domain, nexthop)",
			src->name, ncol);
		goto out;
	}
	while ((row = mysql_fetch_row(res)) != NULL) {
		lens = mysql_fetch_lengths(res);
		rowno++;
		snprintf(where, sizeof(where), "domains_query row %llu", rowno);
		if (row[0] == NULL) {
			rc = SOURCE_BAD;
			err_set(err, "source %s: %s: NULL domain", src->name,
				where);
			goto out;
		}
		if ((rc = source_add_domain(
			 src, ctx, row[0],
			 source_mysql_pad(&fields[0], row[0], lens[0]),
			 ncol == 2 ? row[1] : NULL,
			 ncol == 2 && row[1] ? lens[1] : 0, where, err)) < 0)
			goto out;
	}
	rc = SOURCE_OK;
out:
	mysql_free_result(res);
	return rc;
}

#define MYSQL_KEY_GUESS 32 /* octets of a typical address */

static int source_mysql_recipients(struct source *src,
				   struct source_export_ctx *ctx, MYSQL *db,
				   struct err *err)
{
	struct mysql_conf *mc = src->priv;
	MYSQL_RES *res = NULL;
	MYSQL_ROW row;
	MYSQL_FIELD *fields;
	unsigned ncol;
	unsigned long *lens;
	unsigned long long rowno = 0;
	int rc;

	if ((rc = source_mysql_run(src, db, "recipients_query",
				   mc->recipients_query, &res, err)) < 0)
		return rc;
	ncol = mysql_num_fields(res);
	fields = mysql_fetch_fields(res);
	if (ncol != 1) {
		rc = SOURCE_BAD;
		err_set(err,
			"source %s: recipients_query returns %u columns "
			"(want exactly 1: the address)",
			src->name, ncol);
		goto out;
	}
	/* The rows are all here: size the state once (a hint). */
	if (state_reserve(ctx->st, (size_t)mysql_num_rows(res),
			  (size_t)mysql_num_rows(res) * MYSQL_KEY_GUESS,
			  err) < 0) {
		rc = SOURCE_DOWN;
		err_prefix(err, "source %s", src->name);
		goto out;
	}
	while ((row = mysql_fetch_row(res)) != NULL) {
		lens = mysql_fetch_lengths(res);
		rowno++;
		if (row[0] == NULL) {
			rc = SOURCE_BAD;
			err_set(err,
				"source %s: recipients_query row %llu: NULL "
				"address",
				src->name, rowno);
			goto out;
		}
		if ((rc = source_add_recipient_n(
			 src, ctx, row[0],
			 source_mysql_pad(fields, row[0], lens[0]),
			 "recipients_query", " row ", rowno, err)) < 0)
			goto out;
	}
	rc = SOURCE_OK;
out:
	mysql_free_result(res);
	return rc;
}

/* source_mysql_change - hash of the change query's whole result */
static int source_mysql_change(struct source *src, MYSQL *db,
			       unsigned char *out, struct err *err)
{
	struct mysql_conf *mc = src->priv;
	crypto_generichash_state h;
	MYSQL_RES *res = NULL;
	MYSQL_ROW row;
	unsigned i, ncol;
	unsigned long *lens;
	int rc;

	if ((rc = source_mysql_run(src, db, "change_query", mc->change_query,
				   &res, err)) < 0)
		return rc;
	crypto_generichash_init(&h, NULL, 0, 32);
	ncol = mysql_num_fields(res);
	while ((row = mysql_fetch_row(res)) != NULL) {
		lens = mysql_fetch_lengths(res);
		for (i = 0; i < ncol; i++)
			source_change_add(&h, row[i], row[i] ? lens[i] : 0);
	}
	crypto_generichash_final(&h, out, 32);
	mysql_free_result(res);
	return SOURCE_OK;
}

static int source_mysql_export(struct source *src,
			       struct source_export_ctx *ctx, struct err *err)
{
	struct mysql_conf *mc = src->priv;
	MYSQL *db;
	unsigned char change[32];
	int rc = SOURCE_DOWN, have = 0;

	if ((db = source_mysql_connect(src, err)) == NULL)
		return SOURCE_DOWN;
	/*
	 * Read the change marker first: a change between it and the data
	 * makes the next poll see a difference and export again.
	 */
	if (*mc->change_query != '\0') {
		if ((rc = source_mysql_change(src, db, change, err)) < 0)
			goto out;
		have = 1;
	}
	if (*mc->domains_query != '\0' &&
	    (rc = source_mysql_domains(src, ctx, db, err)) < 0)
		goto out;
	if (*mc->recipients_query != '\0' &&
	    (rc = source_mysql_recipients(src, ctx, db, err)) < 0)
		goto out;
	if (have) {
		memcpy(mc->change, change, sizeof(change));
		mc->have_change = 1;
	}
	rc = SOURCE_OK;
out:
	mysql_close(db);
	return rc;
}

/*
 * source_mysql_poll_connect - the poll's connection through source_db_poll;
 * it lives on, so children the daemon starts must not inherit it
 */
static void *source_mysql_poll_connect(struct source *src, struct err *err)
{
	MYSQL *db = source_mysql_connect(src, err);

	if (db != NULL)
		(void)fcntl((int)mysql_get_socket(db), F_SETFD, FD_CLOEXEC);
	return db;
}

static int source_mysql_poll_change(struct source *src, void *conn,
				    unsigned char *out, struct err *err)
{
	return source_mysql_change(src, conn, out, err);
}

static void source_mysql_poll_close(void *conn)
{
	mysql_close(conn);
}

static int source_mysql_poll(struct source *src, struct err *err)
{
	static const struct source_db_poller poller = {
	    source_mysql_poll_connect,
	    source_mysql_poll_change,
	    source_mysql_poll_close,
	};
	struct mysql_conf *mc = src->priv;

	/* Without a change query, every poll is a full export. */
	if (*mc->change_query == '\0' || !mc->have_change)
		return 1;
	return source_db_poll(src, &poller, &mc->poller, mc->change, err);
}

static int source_mysql_check(struct source *src, struct err *err)
{
	struct mysql_conf *mc = src->priv;

	return source_password_check(src, mc->password_file, err);
}

const struct source_ops source_mysql_ops = {
    .type = "mysql",
    .configure = source_mysql_configure,
    .check = source_mysql_check,
    .export = source_mysql_export,
    .poll = source_mysql_poll,
    .free = source_mysql_free,
};
