/*
 * source_pgsql_conn - the pgsql source's libpq layer: opening a
 * connection from the source's keys, the kind and message of a failed
 * command, commands without rows, the export's cursor read
 * SOURCE_PGSQL_BATCH rows a round trip, and the LISTEN connection the
 * polls read notifications from.  What the source does with the rows
 * (shapes, case rules, the transaction, polls) is in source_pgsql.c.
 *
 * Failure: a connection that cannot be made, a lost connection and the
 * server's connection, resource, operator and system errors (SQLSTATE
 * classes 08, 53, 57, 58) are SOURCE_DOWN; anything else the server
 * refuses is SOURCE_BAD.  Messages are "source NAME: KEY: " and the
 * first line of the server's message, without its "ERROR:  ".
 *
 * Security: the password is read from its file for each connection, kept
 * in locked memory only for the connection call and wiped right after;
 * it is never logged.  No ~/.pgpass or service file of whoever runs the
 * agent is read.  TLS verification follows sslmode (verify-full checks
 * the server's name against sslrootcert).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <sodium.h>

#include "source.h"
#include "source_pgsql_priv.h"

PGconn *source_pgsql_conn_connect(struct source *src, const char *options,
				  struct err *err)
{
	struct source_pgsql_conf *pc = src->priv;
	const char *keys[16], *vals[16];
	char port[8], timeout[24];
	char *pw = NULL, *msg;
	PGconn *db = NULL;
	size_t n = 0;

	if ((pw = sodium_malloc(SOURCE_PASSWORD_MAX)) == NULL) {
		err_set(err, "source %s: out of memory", src->name);
		return NULL;
	}
	if (source_password(src, pc->password_file, pw, SOURCE_PASSWORD_MAX,
			    err) < 0)
		goto out;
	snprintf(timeout, sizeof(timeout), "%llu",
		 (unsigned long long)((pc->connect_timeout + 999) / 1000));
	if (*pc->host != '\0' || *pc->socket != '\0') {
		keys[n] = "host";
		vals[n++] = *pc->host != '\0' ? pc->host : pc->socket;
	}
	if (pc->port != 0) {
		snprintf(port, sizeof(port), "%u", (unsigned)pc->port);
		keys[n] = "port";
		vals[n++] = port;
	}
	keys[n] = "user";
	vals[n++] = pc->user;
	keys[n] = "dbname";
	vals[n++] = pc->dbname;
	if (*pw != '\0') {
		keys[n] = "password";
		vals[n++] = pw;
	}
	keys[n] = "sslmode";
	vals[n++] = pc->sslmode;
	if (*pc->sslrootcert != '\0') {
		keys[n] = "sslrootcert";
		vals[n++] = pc->sslrootcert;
	}
	keys[n] = "connect_timeout";
	vals[n++] = timeout;
	keys[n] = "client_encoding";
	vals[n++] = "UTF8";
	keys[n] = "application_name";
	vals[n++] = "mxsync-agent";
	if (options != NULL) {
		keys[n] = "options";
		vals[n++] = options;
	}
	/* no ~/.pgpass or service file of whoever runs the agent */
	keys[n] = "passfile";
	vals[n++] = "/dev/null";
	keys[n] = NULL;
	vals[n] = NULL;
	db = PQconnectdbParams(keys, vals, 0);
	if (db == NULL) {
		err_set(err, "source %s: connect to database %s: out of memory",
			src->name, pc->dbname);
	} else if (PQstatus(db) != CONNECTION_OK) {
		msg = PQerrorMessage(db);
		err_set(err, "source %s: connect to database %s: %.*s",
			src->name, pc->dbname, (int)strcspn(msg, "\n"), msg);
		PQfinish(db);
		db = NULL;
	}
out:
	sodium_memzero(pw, SOURCE_PASSWORD_MAX);
	sodium_free(pw);
	return db;
}

/*
 * source_pgsql_conn_kind - what a failed command means: a lost connection
 * or a server going away is down; whatever the server refused is bad
 * config
 */
static int source_pgsql_conn_kind(PGconn *db, const PGresult *res)
{
	const char *state =
	    res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	if (PQstatus(db) != CONNECTION_OK || state == NULL)
		return SOURCE_DOWN;
	/* 08 connection, 53 resources, 57 operator intervention, 58 system */
	if (strncmp(state, "08", 2) == 0 || strncmp(state, "53", 2) == 0 ||
	    strncmp(state, "57", 2) == 0 || strncmp(state, "58", 2) == 0)
		return SOURCE_DOWN;
	return SOURCE_BAD;
}

int source_pgsql_conn_fail(struct source *src, PGconn *db, const PGresult *res,
			   const char *key, struct err *err)
{
	const char *msg = res != NULL ? PQresultErrorMessage(res) : "";

	if (*msg == '\0')
		msg = PQerrorMessage(db);
	if (strncmp(msg, "ERROR:  ", 8) == 0)
		msg += 8;
	err_set(err, "source %s: %s: %.*s", src->name, key,
		(int)strcspn(msg, "\n"), msg);
	return source_pgsql_conn_kind(db, res);
}

int source_pgsql_conn_command(struct source *src, PGconn *db, const char *key,
			      const char *sql, struct err *err)
{
	PGresult *res = PQexec(db, sql);
	int rc = SOURCE_OK;

	if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK)
		rc = source_pgsql_conn_fail(src, db, res, key, err);
	PQclear(res);
	return rc;
}

/* source_pgsql_conn_fetch - the next batch into rows */
static int source_pgsql_conn_fetch(struct source *src, PGconn *db,
				   struct source_pgsql_rows *rows,
				   struct err *err)
{
	char sql[64];
	int rc;

	PQclear(rows->res);
	snprintf(sql, sizeof(sql), "FETCH FORWARD %d FROM mxsync_rows",
		 SOURCE_PGSQL_BATCH);
	rows->res = PQexec(db, sql);
	if (rows->res == NULL || PQresultStatus(rows->res) != PGRES_TUPLES_OK) {
		rc = source_pgsql_conn_fail(src, db, rows->res, rows->key, err);
		PQclear(rows->res);
		rows->res = NULL;
		return rc;
	}
	rows->row = -1;
	rows->nrows = PQntuples(rows->res);
	rows->last = rows->nrows < SOURCE_PGSQL_BATCH;
	return SOURCE_OK;
}

int source_pgsql_conn_open(struct source *src, PGconn *db, const char *key,
			   const char *query, struct source_pgsql_rows *rows,
			   struct err *err)
{
	static const char head[] = "DECLARE mxsync_rows NO SCROLL CURSOR FOR ";
	size_t len = strlen(query);
	char *sql;
	int rc;

	memset(rows, 0, sizeof(*rows));
	rows->key = key;
	while (len > 0 && (query[len - 1] == ';' || query[len - 1] == ' ' ||
			   query[len - 1] == '\t' || query[len - 1] == '\n'))
		len--;
	if ((sql = malloc(sizeof(head) + len)) == NULL) {
		err_set(err, "source %s: out of memory", src->name);
		return SOURCE_DOWN;
	}
	memcpy(sql, head, sizeof(head) - 1);
	memcpy(sql + sizeof(head) - 1, query, len);
	sql[sizeof(head) - 1 + len] = '\0';
	rc = source_pgsql_conn_command(src, db, key, sql, err);
	free(sql);
	if (rc < 0)
		return rc;
	return source_pgsql_conn_fetch(src, db, rows, err);
}

int source_pgsql_conn_next(struct source *src, PGconn *db,
			   struct source_pgsql_rows *rows, struct err *err)
{
	int rc;

	if (++rows->row < rows->nrows)
		return 1;
	if (rows->last)
		return 0;
	if ((rc = source_pgsql_conn_fetch(src, db, rows, err)) < 0)
		return rc;
	return ++rows->row < rows->nrows;
}

void source_pgsql_conn_close(PGconn *db, struct source_pgsql_rows *rows)
{
	PGresult *res;

	PQclear(rows->res);
	rows->res = NULL;
	/* fails only when the transaction is already lost: then no matter */
	if ((res = PQexec(db, "CLOSE mxsync_rows")) != NULL)
		PQclear(res);
}

int source_pgsql_conn_listen(struct source *src, PGconn **listener,
			     const char *channel, struct err *err)
{
	char sql[96];
	int rc;

	if (*listener != NULL && PQstatus(*listener) == CONNECTION_OK)
		return 0;
	if (*listener != NULL)
		PQfinish(*listener);
	if ((*listener = source_pgsql_conn_connect(src, NULL, err)) == NULL)
		return SOURCE_DOWN;
	snprintf(sql, sizeof(sql), "LISTEN %s", channel);
	if ((rc = source_pgsql_conn_command(src, *listener, "listen", sql,
					    err)) < 0) {
		PQfinish(*listener);
		*listener = NULL;
		return rc;
	}
	return 1;
}

int source_pgsql_conn_notified(struct source *src, PGconn **listener,
			       struct err *err)
{
	PGnotify *n;
	int got = 0;

	if (!PQconsumeInput(*listener) ||
	    PQstatus(*listener) != CONNECTION_OK) {
		err_set(err, "source %s: listen: %.*s", src->name,
			(int)strcspn(PQerrorMessage(*listener), "\n"),
			PQerrorMessage(*listener));
		PQfinish(*listener);
		*listener = NULL;
		return SOURCE_DOWN;
	}
	while ((n = PQnotifies(*listener)) != NULL) {
		got = 1;
		PQfreemem(n);
	}
	return got;
}
