/*
 * preset - built-in queries for the mail panels whose schemas mxsync knows
 *
 * A database source with "schema = NAME" takes its domains_query,
 * recipients_query and change_query from the preset of that name for its
 * SQL dialect; a query the user writes still overrides each one.  Every
 * preset reproduces the accept decision of the panel's own documented
 * Postfix tables (see mxsync.conf(5) for the upstream release each follows).
 *
 * The tables are static data; only preset_fill allocates.
 */
#ifndef MXSYNC_AGENT_PRESET_H
#define MXSYNC_AGENT_PRESET_H

struct preset {
	const char *schema;	      /* "postfixadmin", "iredmail", ... */
	const char *domains_query;    /* 1 or 2 columns, as domains_query */
	const char *recipients_query; /* 1 column, as recipients_query */
	const char *change_query;     /* any shape; NULL: none */
};

/* preset_mysql, preset_pgsql - each dialect's table, ended by schema NULL */
extern const struct preset preset_mysql[];
extern const struct preset preset_pgsql[];

/*
 * preset_find - the preset SCHEMA of dialect "mysql" or "pgsql", or NULL
 * when there is none
 */
const struct preset *preset_find(const char *schema, const char *dialect);

/*
 * preset_fill - each of *domains_r, *recipients_r, *change_r that is ""
 * (the user wrote no such query) becomes a malloc'd copy of the preset's;
 * -1 only when out of memory
 */
int preset_fill(const struct preset *p, char **domains_r, char **recipients_r,
		char **change_r);

/* preset_names - the schema names of a dialect, blank-separated, for
 * messages ("postfixadmin postfixadmin-backupmx ...") */
const char *preset_names(const char *dialect);

#endif
