/*
 * preset - look up a panel's built-in queries by schema name and dialect
 *
 * The tables themselves live beside the SQL they are written in:
 * preset_mysql.c and preset_pgsql.c.
 */
#include <stdio.h>
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
