/*
 * cmd_sync_now - "mxsync-agent sync-now [--wait] [--timeout S]
 * [--allow-shrink]": ask the daemon to export and push now; with --wait,
 * until every backup acknowledged (the control socket's "wait", or the
 * status document polled from a daemon without it)
 *
 * Exits 75 without a daemon, at the timeout or with a source down, 1 on
 * bad data or the guard's refusal, 2 on usage.
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

#include "../formats/buf.h"
#include "../formats/exitcode.h"
#include "cmd.h"
#include "control.h"

/* cmd_sync_now_lagging - names and errors of backups without the target; count
 */
static int cmd_sync_now_lagging(json_t *j, uint64_t serial, const char *hash,
				struct buf *why)
{
	json_t *a = json_object_get(j, "backups"), *o;
	size_t i;
	int n = 0;

	buf_reset(why);
	json_array_foreach(a, i, o)
	{
		json_int_t s = json_integer_value(json_object_get(o, "serial"));
		json_t *h = json_object_get(o, "state_hash");
		json_t *e = json_object_get(o, "error");

		if ((uint64_t)s >= serial && serial != 0)
			continue;
		if (json_is_string(h) &&
		    strcmp(json_string_value(h), hash) == 0)
			continue;
		n++;
		buf_printf(
		    why, "%sbackup %s has serial %" JSON_INTEGER_FORMAT "%s%s",
		    n > 1 ? "; " : "",
		    json_string_value(json_object_get(o, "name")), s,
		    json_is_string(e) ? ", last error: " : "",
		    json_is_string(e) ? json_string_value(e) : "");
	}
	return n;
}

int cmd_sync_now(struct agent_config *cfg, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"wait", no_argument, NULL, 'w'},
	    {"timeout", required_argument, NULL, 't'},
	    {"allow-shrink", no_argument, NULL, 'a'},
	    {NULL, 0, NULL, 0},
	};
	char *reply = NULL, *end;
	struct err err;
	struct buf why = BUF_INIT;
	unsigned long long serial = 0;
	char hash[2 * STATE_HASH_LEN + 1] = "";
	long timeout_s = 30;
	int wait = 0, shrink = 0, c, rc = EXITCODE_TEMP, code;
	struct timespec t0, t1;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'w')
			wait = 1;
		else if (c == 'a')
			shrink = 1;
		else if (c == 't') {
			errno = 0;
			timeout_s = strtol(optarg, &end, 10);
			if (errno || *end != '\0' || timeout_s < 1 ||
			    timeout_s > 86400) {
				fprintf(stderr, "mxsync-agent: --timeout: "
						"seconds 1..86400\n");
				return EXITCODE_USAGE;
			}
		} else {
			cmd_usage();
			return EXITCODE_USAGE;
		}
	}
	if (optind != argc) {
		cmd_usage();
		return EXITCODE_USAGE;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* The daemon answers once the sources settle (or fail to). */
	if (control_request(cfg->control_socket,
			    shrink ? "sync-now allow-shrink\n" : "sync-now\n",
			    (int)timeout_s * 1000 +
				(int)(cfg->settle_timeout_ms + 15000),
			    &reply, &err) < 0) {
		fprintf(stderr, "mxsync-agent: is the agent running? %s\n",
			err.msg);
		return EXITCODE_TEMP;
	}
	reply[strcspn(reply, "\n")] = '\0';
	if (strncmp(reply, "error ", 6) == 0) {
		code = (int)strtol(reply + 6, &end, 10);
		fprintf(stderr, "mxsync-agent: sync-now failed: %s\n",
			*end == ' ' ? end + 1 : end);
		rc = code == EXITCODE_REFUSED || code == EXITCODE_USAGE
			 ? code
			 : EXITCODE_TEMP;
		goto out;
	}
	if (sscanf(reply, "ok %llu %64s", &serial, hash) != 2) {
		fprintf(stderr, "mxsync-agent: unexpected reply: %s\n", reply);
		goto out;
	}
	if (!wait) {
		printf("serial %llu\n", serial);
		rc = EXITCODE_OK;
		goto out;
	}
	/*
	 * The daemon answers "wait" the moment every backup acknowledged
	 * (or at the timeout, "lag"); a daemon without it is polled.
	 */
	free(reply);
	reply = NULL;
	{
		char line[CONTROL_LINE_MAX];
		long ms;

		clock_gettime(CLOCK_MONOTONIC, &t1);
		ms = timeout_s * 1000 - ((t1.tv_sec - t0.tv_sec) * 1000 +
					 (t1.tv_nsec - t0.tv_nsec) / 1000000);
		if (ms < 0)
			ms = 0;
		snprintf(line, sizeof(line), "wait %llu %s %ld\n", serial, hash,
			 ms);
		if (control_request(cfg->control_socket, line, (int)ms + 5000,
				    &reply, &err) == 0 &&
		    strcmp(reply, "ok\n") == 0) {
			printf("serial %llu acknowledged by every backup\n",
			       serial);
			rc = EXITCODE_OK;
			goto out;
		}
		/* a backup that can never accept this state: no waiting */
		if (reply != NULL && strncmp(reply, "error ", 6) == 0) {
			reply[strcspn(reply, "\n")] = '\0';
			code = (int)strtol(reply + 6, &end, 10);
			fprintf(stderr, "mxsync-agent: serial %llu: %s\n",
				serial, *end == ' ' ? end + 1 : end);
			rc = code == EXITCODE_REFUSED ? EXITCODE_REFUSED
						      : EXITCODE_TEMP;
			goto out;
		}
	}
	for (;;) {
		json_t *j = cmd_status_get(cfg, &err);
		long ms;
		int lag;

		if (j == NULL) {
			fprintf(stderr, "mxsync-agent: %s\n", err.msg);
			goto out;
		}
		lag = cmd_sync_now_lagging(j, serial, hash, &why);
		json_decref(j);
		if (lag == 0) {
			printf("serial %llu acknowledged by every backup\n",
			       serial);
			rc = EXITCODE_OK;
			goto out;
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		ms = (t1.tv_sec - t0.tv_sec) * 1000 +
		     (t1.tv_nsec - t0.tv_nsec) / 1000000;
		if (ms >= timeout_s * 1000) {
			fprintf(stderr,
				"mxsync-agent: timeout after %ld s "
				"waiting for serial %llu: %s\n",
				timeout_s, serial, why.data ? why.data : "");
			goto out;
		}
		usleep(200000);
	}
out:
	buf_free(&why);
	free(reply);
	return rc;
}
