/*
 * verify_report - a verify result as text, as JSON, and read back
 *
 * verify_print() writes the report "mxsync-agent verify" prints: the
 * warning, agree, LOST and BACKSCATTER with their examples, then the
 * tables asked.  verify_json() is the same as a JSON object (--json and
 * the daemon's status); verify_report() reads that object back from the
 * output of a background run, or makes {"time", "error", "down"} of its
 * last line when the run failed.  Only out of memory can fail here, and
 * jansson then leaves a member out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "verify_impl.h"

void verify_result_clear(struct verify_result *r)
{
	size_t i;

	for (i = 0; i < r->nlost_ex; i++) {
		free(r->lost_ex[i].address);
		free(r->lost_ex[i].primary_by);
		free(r->lost_ex[i].backup_by);
	}
	for (i = 0; i < r->nbs_ex; i++) {
		free(r->bs_ex[i].address);
		free(r->bs_ex[i].primary_by);
		free(r->bs_ex[i].backup_by);
	}
	for (i = 0; i < r->ntables; i++)
		free(r->tables[i].table);
	free(r->tables);
	memset(r, 0, sizeof(*r));
}

static json_t *verify_report_examples_json(const struct verify_example *e,
					   size_t n, int primary)
{
	json_t *a = json_array(), *o;
	size_t i;

	for (i = 0; i < n; i++) {
		o = json_object();
		json_object_set_new(o, "address", json_string(e[i].address));
		json_object_set_new(o, "primary",
				    json_string(primary ? "accept" : "reject"));
		json_object_set_new(o, "primary_decided_by",
				    json_string(e[i].primary_by));
		json_object_set_new(o, "backup",
				    json_string(primary ? "reject" : "accept"));
		json_object_set_new(o, "backup_decided_by",
				    json_string(e[i].backup_by));
		json_array_append_new(a, o);
	}
	return a;
}

json_t *verify_report(const char *text, size_t len, int status)
{
	json_t *j = NULL, *e;
	json_error_t je;
	char *copy;
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	const char *brace = memchr(text, '{', len);

	if ((code == 0 || code == 1) && brace != NULL)
		j = json_loadb(brace, len - (size_t)(brace - text), 0, &je);
	if (j != NULL && json_is_object(j))
		return j;
	json_decref(j);
	j = json_object();
	copy = strndup(text, len);
	json_object_set_new(j, "time", json_integer((json_int_t)time(NULL)));
	e = json_string(copy != NULL && *verify_proc_last_line(copy) != '\0'
			    ? verify_proc_last_line(copy)
			    : "the verify process gave no report");
	json_object_set_new(j, "error", e != NULL ? e : json_string("?"));
	json_object_set_new(j, "down", json_boolean(code == 75));
	free(copy);
	return j;
}

static json_t *verify_report_tables_json(const struct verify_result *r)
{
	json_t *a = json_array(), *o;
	size_t i;

	for (i = 0; i < r->ntables; i++) {
		o = json_object();
		json_object_set_new(o, "table",
				    json_string(r->tables[i].table));
		json_object_set_new(
		    o, "keys", json_integer((json_int_t)r->tables[i].keys));
		json_object_set_new(
		    o, "found", json_integer((json_int_t)r->tables[i].found));
		json_array_append_new(a, o);
	}
	return a;
}

json_t *verify_json(const struct verify_result *r)
{
	json_t *o = json_object();

	json_object_set_new(o, "time", json_integer((json_int_t)r->when));
	json_object_set_new(o, "candidates",
			    json_integer((json_int_t)r->candidates));
	json_object_set_new(o, "agree", json_integer((json_int_t)r->agree));
	json_object_set_new(o, "lost", json_integer((json_int_t)r->lost));
	json_object_set_new(o, "backscatter",
			    json_integer((json_int_t)r->backscatter));
	json_object_set_new(
	    o, "lost_examples",
	    verify_report_examples_json(r->lost_ex, r->nlost_ex, 1));
	json_object_set_new(
	    o, "backscatter_examples",
	    verify_report_examples_json(r->bs_ex, r->nbs_ex, 0));
	json_object_set_new(o, "primary_recipient_delimiter",
			    json_string(r->primary_delimiter));
	json_object_set_new(o, "warning",
			    r->warning[0] ? json_string(r->warning)
					  : json_null());
	json_object_set_new(o, "seconds", json_real(r->seconds));
	json_object_set_new(o, "tables", verify_report_tables_json(r));
	return o;
}

void verify_print(const struct verify_result *r, FILE *f)
{
	size_t i;

	if (r->warning[0])
		fprintf(f, "warning: %s\n", r->warning);
	fprintf(f, "agree %zu\n", r->agree);
	fprintf(f, "LOST %zu\n", r->lost);
	for (i = 0; i < r->nlost_ex; i++)
		fprintf(f,
			"  %s: the primary accepts (%s), a backup "
			"rejects (%s)\n",
			r->lost_ex[i].address, r->lost_ex[i].primary_by,
			r->lost_ex[i].backup_by);
	fprintf(f, "BACKSCATTER %zu\n", r->backscatter);
	for (i = 0; i < r->nbs_ex; i++)
		fprintf(f,
			"  %s: a backup accepts (%s), the primary "
			"rejects (%s)\n",
			r->bs_ex[i].address, r->bs_ex[i].backup_by,
			r->bs_ex[i].primary_by);
	fprintf(f, "%zu candidates; asked", r->candidates);
	for (i = 0; i < r->ntables; i++)
		fprintf(f, "%s %s (%zu keys, %zu found)", i ? "," : "",
			r->tables[i].table, r->tables[i].keys,
			r->tables[i].found);
	fprintf(f, "%s in %.1f s\n", r->ntables ? "" : " no table", r->seconds);
}
