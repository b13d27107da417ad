/*
 * source_pgsql_priv - what the two files of the pgsql source share: its
 * settings and state (struct source_pgsql_conf), and the libpq layer that
 * source_pgsql_conn.c implements for source_pgsql.c (connecting, the
 * kind and message of a failed command, the export's batched cursor, the
 * LISTEN connection).  Private to those two files.
 *
 * Every function here that can fail returns SOURCE_OK (or a count),
 * SOURCE_BAD or SOURCE_DOWN with the message in err, naming the source.
 */
#ifndef MXSYNC_AGENT_SOURCE_PGSQL_PRIV_H
#define MXSYNC_AGENT_SOURCE_PGSQL_PRIV_H

#include <stdint.h>

#include <libpq-fe.h>

#include "../formats/err.h"
#include "source.h"

/* source_pgsql_conf - one [source] of type pgsql: its keys and its state */
struct source_pgsql_conf {
	char *type;
	char *host;
	char *socket;
	uint64_t port;
	char *user;
	char *password_file;
	char *dbname;
	char *sslmode;
	char *sslrootcert;
	char *schema;
	char *domains_query;
	char *recipients_query;
	char *change_query;
	char *listen;
	char *mixed_case;
	int allow_empty;
	uint64_t poll_interval;
	uint64_t connect_timeout;
	/* the change query's last result, hashed */
	unsigned char change[32];
	int have_change;
	/* the LISTEN connection, kept between polls */
	PGconn *listener;
	/* the change query's connection (PGconn *), kept between polls */
	void *poller;
	/* rows left out by mixed_case = drop in the last export */
	unsigned long long dropped;
	char dropped_first[256];
};

/* SOURCE_PGSQL_BATCH - rows fetched per round trip from the export's cursor */
#define SOURCE_PGSQL_BATCH 10000

/*
 * struct source_pgsql_rows - a query read through a cursor,
 * SOURCE_PGSQL_BATCH rows at a time: memory stays bounded for any result,
 * and a batch costs one round trip and one result, not one per row
 */
struct source_pgsql_rows {
	const char *key; /* "recipients_query", for messages */
	PGresult *res;	 /* the current batch */
	int row, nrows;
	int last; /* the batch was short: no more after it */
};

/*
 * source_pgsql_conn_connect - a connection to the source's database (with
 * the server options, or NULL), or NULL with SOURCE_DOWN's message
 */
PGconn *source_pgsql_conn_connect(struct source *src, const char *options,
				  struct err *err);

/*
 * source_pgsql_conn_fail - the message ("source NAME: key: ...") and kind
 * (SOURCE_DOWN or SOURCE_BAD) of a failed command; res may be NULL
 */
int source_pgsql_conn_fail(struct source *src, PGconn *db, const PGresult *res,
			   const char *key, struct err *err);

/* source_pgsql_conn_command - run a command that returns no rows */
int source_pgsql_conn_command(struct source *src, PGconn *db, const char *key,
			      const char *sql, struct err *err);

/*
 * source_pgsql_conn_open - declare the cursor for query (a trailing ';' is
 * dropped) and fetch the first batch; PQnfields(rows->res) is then the
 * result's shape even when it has no rows.  One cursor at a time, inside
 * the caller's transaction; source_pgsql_conn_close it, even after a
 * failure.
 */
int source_pgsql_conn_open(struct source *src, PGconn *db, const char *key,
			   const char *query, struct source_pgsql_rows *rows,
			   struct err *err);

/*
 * source_pgsql_conn_next - step to the next row (rows->row): 1, 0 at the
 * end, or an error
 */
int source_pgsql_conn_next(struct source *src, PGconn *db,
			   struct source_pgsql_rows *rows, struct err *err);

/* source_pgsql_conn_close - drop the batch and the cursor */
void source_pgsql_conn_close(PGconn *db, struct source_pgsql_rows *rows);

/*
 * source_pgsql_conn_listen - open *listener on channel if it is not open;
 * 1 when it is new (notifications before it were not seen), 0 when it
 * was there, SOURCE_DOWN or SOURCE_BAD (*listener NULL) when it cannot be
 * opened.  channel must be a plain identifier (checked by configure).
 */
int source_pgsql_conn_listen(struct source *src, PGconn **listener,
			     const char *channel, struct err *err);

/*
 * source_pgsql_conn_notified - 1 when a notification came on *listener, 0
 * when none; SOURCE_DOWN when the connection is lost (it is then closed
 * and *listener NULL)
 */
int source_pgsql_conn_notified(struct source *src, PGconn **listener,
			       struct err *err);

#endif
