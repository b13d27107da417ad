/*
 * cmd_status - "mxsync-agent status [--json]": the status document
 * (status.h) from the running daemon, else from the ledger, as JSON or as
 * lines of text
 *
 * Exits 75 when neither the daemon nor the ledger can be read.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "../formats/exitcode.h"
#include "cmd.h"
#include "control.h"
#include "status.h"

/* cmd_status_time - a time for people, "never" for none */
static const char *cmd_status_time(json_int_t t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || localtime_r(&tt, &tm) == NULL)
		return "never";
	strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm);
	return buf;
}

/* cmd_status_verify - the daemon's last verify, with first examples */
static void cmd_status_verify(json_t *v)
{
	static const char *const kinds[] = {"lost_examples",
					    "backscatter_examples"};
	json_t *a, *o, *e;
	size_t i, k;
	char tb[64];

	if (v == NULL)
		return;
	printf("verify %s: ",
	       cmd_status_time(json_integer_value(json_object_get(v, "time")),
			       tb, sizeof(tb)));
	e = json_object_get(v, "error");
	if (json_is_string(e)) {
		printf("error: %s\n", json_string_value(e));
		return;
	}
	printf("agree %" JSON_INTEGER_FORMAT ", LOST %" JSON_INTEGER_FORMAT
	       ", BACKSCATTER %" JSON_INTEGER_FORMAT "\n",
	       json_integer_value(json_object_get(v, "agree")),
	       json_integer_value(json_object_get(v, "lost")),
	       json_integer_value(json_object_get(v, "backscatter")));
	for (k = 0; k < 2; k++) {
		a = json_object_get(v, kinds[k]);
		json_array_foreach(a, i, o)
		{
			if (i >= 3)
				break;
			printf("  %s %s: primary %s (%s)\n",
			       k == 0 ? "LOST" : "BACKSCATTER",
			       json_string_value(json_object_get(o, "address")),
			       json_string_value(json_object_get(o, "primary")),
			       json_string_value(
				   json_object_get(o, "primary_decided_by")));
		}
	}
}

/* cmd_status_print - the document as lines of text */
static void cmd_status_print(json_t *j)
{
	json_t *a, *o;
	size_t i;
	char tb[64];

	printf("origin %s, serial %" JSON_INTEGER_FORMAT ", daemon %s\n",
	       json_string_value(json_object_get(j, "origin")),
	       json_integer_value(json_object_get(j, "serial")),
	       json_is_true(json_object_get(j, "running")) ? "running"
							   : "not running");
	a = json_object_get(j, "sources");
	json_array_foreach(a, i, o)
	{
		json_t *e = json_object_get(o, "error");

		printf("source %s (%s)",
		       json_string_value(json_object_get(o, "name")),
		       json_string_value(json_object_get(o, "type")));
		if (json_object_get(o, "last_export") != NULL)
			printf(
			    ": last export %s, %" JSON_INTEGER_FORMAT
			    " domains, %" JSON_INTEGER_FORMAT " recipients",
			    cmd_status_time(json_integer_value(json_object_get(
						o, "last_export")),
					    tb, sizeof(tb)),
			    json_integer_value(json_object_get(o, "domains")),
			    json_integer_value(
				json_object_get(o, "recipients")));
		if (json_integer_value(json_object_get(o, "skipped")) > 0)
			printf(
			    ", %" JSON_INTEGER_FORMAT " entries skipped "
			    "(e.g. %s)",
			    json_integer_value(json_object_get(o, "skipped")),
			    json_string_value(
				json_object_get(o, "skipped_example")));
		if (json_integer_value(json_object_get(o, "unlisted_dropped")) >
		    0)
			printf(", %" JSON_INTEGER_FORMAT " dropped (domain "
			       "listed by no source, e.g. %s)",
			       json_integer_value(
				   json_object_get(o, "unlisted_dropped")),
			       json_string_value(
				   json_object_get(o, "unlisted_example")));
		if (json_is_string(e))
			printf(
			    ", error (%s): %s",
			    json_string_value(json_object_get(o, "error_kind")),
			    json_string_value(e));
		if (json_is_string(json_object_get(o, "note")))
			printf(", note: %s",
			       json_string_value(json_object_get(o, "note")));
		printf("\n");
	}
	o = json_object_get(j, "guard");
	if (json_is_object(o)) {
		const char *ex =
		    json_string_value(json_object_get(o, "examples"));

		printf("guard: refused: %s%s%s\n",
		       json_string_value(json_object_get(o, "refused")),
		       ex != NULL && *ex ? ", e.g. " : "",
		       ex != NULL ? ex : "");
	}
	if (json_integer_value(json_object_get(j, "bare_domains")) > 0)
		printf(
		    "%" JSON_INTEGER_FORMAT " domains without any recipient "
		    "(the backups reject all their addresses): %s\n",
		    json_integer_value(json_object_get(j, "bare_domains")),
		    json_string_value(json_object_get(j, "bare_domain_names")));
	a = json_object_get(j, "backups");
	json_array_foreach(a, i, o)
	{
		json_t *e = json_object_get(o, "error");
		json_t *in = json_object_get(o, "in_sync");

		printf("backup %s: serial %" JSON_INTEGER_FORMAT
		       " acknowledged %s",
		       json_string_value(json_object_get(o, "name")),
		       json_integer_value(json_object_get(o, "serial")),
		       cmd_status_time(
			   json_integer_value(json_object_get(o, "acked")), tb,
			   sizeof(tb)));
		if (json_is_true(in))
			printf(", in sync");
		else if (json_is_false(in))
			printf(", lagging %" JSON_INTEGER_FORMAT " s",
			       json_integer_value(
				   json_object_get(o, "lag_seconds")));
		if (json_is_string(e))
			printf(", last error: %s", json_string_value(e));
		printf("\n");
	}
	cmd_status_verify(json_object_get(j, "verify"));
}

json_t *cmd_status_get(const struct agent_config *cfg, struct err *err)
{
	char *reply = NULL;
	json_t *j;
	json_error_t je;
	struct ledger *l;

	if (control_request(cfg->control_socket, "status\n", 10000, &reply,
			    err) == 0) {
		j = json_loads(reply, 0, &je);
		free(reply);
		if (j == NULL)
			err_set(err, "%s: bad status reply: %s",
				cfg->control_socket, je.text);
		return j;
	}
	if ((l = ledger_load(cfg->state_dir, err)) == NULL)
		return NULL;
	j = status_json(cfg, l, NULL, NULL);
	ledger_free(l);
	return j;
}

int cmd_status(struct agent_config *cfg, int argc, char **argv)
{
	int as_json = argc == 2 && strcmp(argv[1], "--json") == 0;
	struct err err;
	json_t *j;

	if (argc > 2 || (argc == 2 && !as_json)) {
		cmd_usage();
		return EXITCODE_USAGE;
	}
	if ((j = cmd_status_get(cfg, &err)) == NULL) {
		fprintf(stderr, "mxsync-agent: %s\n", err.msg);
		return EXITCODE_TEMP;
	}
	if (as_json) {
		char *t = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

		printf("%s\n", t != NULL ? t : "{}");
		free(t);
	} else
		cmd_status_print(j);
	json_decref(j);
	return EXITCODE_OK;
}
