/*
 * preset - look up a panel's built-in queries by schema name and dialect
 *
 * The tables themselves live beside the SQL they are written in:
 * preset_mysql.c and preset_pgsql.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "preset.h"

/* preset_table - the table of a dialect, or NULL */
static const struct preset *preset_table(const char *dialect)
{
	if (strcmp(dialect, "mysql") == 0)
		return preset_mysql;
	if (strcmp(dialect, "pgsql") == 0)
		return preset_pgsql;
	return NULL;
}

const struct preset *preset_find(const char *schema, const char *dialect)
{
	const struct preset *p = preset_table(dialect);

	for (; p != NULL && p->schema != NULL; p++)
		if (strcmp(p->schema, schema) == 0)
			return p;
	return NULL;
}

const char *preset_names(const char *dialect)
{
	static char names[256];
	const struct preset *p = preset_table(dialect);
	size_t used = 0;
	int n;

	names[0] = '\0';
	for (; p != NULL && p->schema != NULL; p++) {
		n = snprintf(names + used, sizeof(names) - used, "%s%s",
			     used > 0 ? " " : "", p->schema);
		if (n < 0 || (size_t)n >= sizeof(names) - used)
			break;
		used += (size_t)n;
	}
	return names;
}

/* preset_take - *query_r becomes a copy of def when it is "" */
static int preset_take(char **query_r, const char *def)
{
	char *copy;

	if (**query_r != '\0' || def == NULL)
		return 0;
	if ((copy = strdup(def)) == NULL)
		return -1;
	free(*query_r);
	*query_r = copy;
	return 0;
}

int preset_fill(const struct preset *p, char **domains_r, char **recipients_r,
		char **change_r)
{
	if (preset_take(domains_r, p->domains_query) < 0 ||
	    preset_take(recipients_r, p->recipients_query) < 0 ||
	    preset_take(change_r, p->change_query) < 0)
		return -1;
	return 0;
}
