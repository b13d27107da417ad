/*
 * test-agent-verify - verify_run() against the real postconf and postmap
 * on a private Postfix configuration of texthash: and inline: tables (no
 * daemon runs): the address classes, relay_domains with parent domains,
 * negation and /file lists, the key forms with two delimiter characters,
 * empty map parameters, LOST through a domain only the primary knows,
 * BACKSCATTER through an address only the export has, the report in JSON
 * and verify_report() of a failed run.  First the parts on their own
 * (verify_impl.h): the string set across its growth, the splitting of
 * postmap's output, and how a program's failure becomes the message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../agent/verify_impl.h"
#include "test.h"

static char dir[64];

static void put(const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (f == NULL) {
		perror(path);
		exit(1);
	}
	fputs(text, f);
	fclose(f);
}

/* example - the first example of a list naming address, or NULL */
static const struct verify_example *example(const struct verify_example *e,
					    size_t n, const char *address)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(e[i].address, address) == 0)
			return &e[i];
	return NULL;
}

/* test_set - indexes stay what they were as the set grows */
static void test_set(void)
{
	struct verify_set s;
	char k[32];
	size_t i, bad = 0;
	long at;

	memset(&s, 0, sizeof(s));
	for (i = 0; i < 5000; i++) {
		snprintf(k, sizeof(k), "key%zu@example.com", i);
		if (verify_set_add(&s, k, strlen(k)) != (long)i)
			bad++;
	}
	ok(bad == 0 && s.n == 5000, "5000 strings added, each its own index");
	for (i = 0, bad = 0; i < 5000; i++) {
		snprintf(k, sizeof(k), "key%zu@example.com", i);
		at = verify_set_find(&s, k, strlen(k));
		if (at != (long)i || strcmp(verify_set_key(&s, i), k) != 0)
			bad++;
	}
	ok(bad == 0, "after the set grew, every string is found at its index");
	ok(verify_set_add(&s, "key7@example.com", 16) == 7 && s.n == 5000,
	   "adding a string again gives its index, not a new one");
	ok(verify_set_find(&s, "key7@example.co", 15) == -1,
	   "a prefix of a string is not in the set");
	verify_set_free(&s);
	ok(s.n == 0 && verify_set_find(&s, "key7@example.com", 16) == -1,
	   "an emptied set finds nothing");
}

/* test_postmap_next - "key<TAB>value" lines, split in place */
static void test_postmap_next(void)
{
	char out[] = "a@x\tOK\nno tab here\nb@x\t\n\nc@x\tlast";
	char *pos = out, *key, *value;

	ok(verify_postmap_next(&pos, &key, &value) == 1 &&
	       strcmp(key, "a@x") == 0 && strcmp(value, "OK") == 0,
	   "the first line: key and value");
	ok(verify_postmap_next(&pos, &key, &value) == 1 &&
	       strcmp(key, "b@x") == 0 && *value == '\0',
	   "a line without a TAB is skipped; an empty value stays empty");
	ok(verify_postmap_next(&pos, &key, &value) == 1 &&
	       strcmp(key, "c@x") == 0 && strcmp(value, "last") == 0,
	   "a last line without a newline");
	ok(verify_postmap_next(&pos, &key, &value) == 0, "then the end");
}

/* test_proc - run sh -c SCRIPT as a table's postmap would run */
static int test_proc(const char *script, int notfound_ok, char **out_r,
		     struct err *err)
{
	char *argv[] = {(char *)"sh", (char *)"-c", (char *)script, NULL};
	struct verify_proc p = {-1, -1, -1, "texthash:/t"};

	if (verify_proc_spawn(argv, -1, &p, err) < 0) {
		verify_proc_finish(&p, out_r, NULL, notfound_ok, err);
		return -1;
	}
	return verify_proc_finish(&p, out_r, NULL, notfound_ok, err);
}

static void test_procs(void)
{
	struct err err = {""};
	char *out = NULL;

	ok(test_proc("echo 'a\tb'", 0, &out, &err) == 0 && out != NULL &&
	       strcmp(out, "a\tb\n") == 0,
	   "a program's standard output, whole");
	free(out);
	ok(test_proc("echo x >&2; echo 'postmap: fatal: down' >&2; exit 3", 0,
		     &out, &err) < 0 &&
	       out == NULL,
	   "exit 3 is a failure");
	is_str(err.msg, "texthash:/t: postmap: fatal: down",
	       "the message is the table and its last error line");
	ok(test_proc("exit 1", 1, &out, &err) == 0 && out != NULL &&
	       *out == '\0',
	   "postmap -q's exit 1 without a fatal error is nothing found");
	free(out);
	ok(test_proc("echo 'postmap: fatal: open x' >&2; exit 1", 1, &out,
		     &err) < 0,
	   "exit 1 with a fatal error is a failure");
	ok(test_proc("kill -9 $$", 0, &out, &err) < 0 &&
	       strstr(err.msg, "killed by signal 9") != NULL,
	   "a program killed: %s", err.msg);
	ok(test_proc("exit 127", 0, &out, &err) < 0 &&
	       strstr(err.msg, "cannot run the program") != NULL,
	   "exit 127: %s", err.msg);
}

int main(void)
{
	static const char state_text[] = "D relay.test smtp:x\n"
					 "D sub.relay.test smtp:x\n"
					 "D va.test smtp:x\n"
					 "D vm.test smtp:x\n"
					 "D vm2.test smtp:x\n"
					 "R @sub.relay.test\n"
					 "R a@relay.test\n"
					 "R owner-list@vm.test\n"
					 "R u@vm.test\n"
					 "R u@vm2.test\n"
					 "R wrong@vm.test\n"
					 "R x@va.test\n";
	char main_cf[4096], *cmd = NULL;
	struct verify_opts o = {NULL, "+-", 0, NULL};
	struct verify_result r;
	const struct verify_example *e;
	struct state *st;
	struct err err = {""};
	char *text;
	size_t len;
	json_t *j;
	FILE *list;
	int rc;

	test_set();
	test_postmap_next();
	test_procs();

	snprintf(dir, sizeof(dir), "/tmp/test-agent-verify.XXXXXX");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(main_cf, sizeof(main_cf),
		 "compatibility_level = 3.6\n"
		 "mydestination =\n"
		 "alias_maps =\n"
		 "local_recipient_maps =\n"
		 "recipient_delimiter = +-\n"
		 "relay_domains = !blocked.relay.test, relay.test\n"
		 "relay_recipient_maps = texthash:%s/relay_rcpt\n"
		 "virtual_alias_domains = %s/va_domains\n"
		 "virtual_alias_maps = texthash:%s/valias\n"
		 "virtual_mailbox_domains = vm.test, inline:{ vm2.test=x, "
		 "extra.test=x }\n"
		 "virtual_mailbox_maps = texthash:%s/vmbox\n",
		 dir, dir, dir, dir);
	put("main.cf", main_cf);
	put("relay_rcpt", "a@relay.test OK\n@sub.relay.test OK\n"
			  "a@blocked.relay.test OK\n");
	put("va_domains", "# alias domains\nva.test\n");
	put("valias", "x@va.test u@vm.test\nowner-list@vm.test u@vm.test\n");
	put("vmbox", "u@vm.test vm/u/\nu@vm2.test vm2/u/\nu@extra.test e/u/\n");
	o.postfix_dir = dir;

	st = state_parse(state_text, sizeof(state_text) - 1, &err);
	ok(st != NULL, "the export parses: %s", err.msg);
	if (st == NULL)
		return test_done();
	list = tmpfile();
	o.list = list;
	rc = verify_run(st, &o, &r, &err);
	ok(rc == 0, "verify_run: %d %s", rc, err.msg);
	if (rc != 0)
		return test_done();
	ok(r.candidates > 20 &&
	       r.agree + r.lost + r.backscatter == r.candidates,
	   "counts add up (%zu candidates)", r.candidates);
	e = example(r.lost_ex, r.nlost_ex, "u@extra.test");
	ok(e != NULL, "u@extra.test, a domain only the primary has, is LOST");
	if (e != NULL)
		has_str(e->primary_by, "virtual_mailbox_maps texthash:",
			"LOST names the table");
	e = example(r.bs_ex, r.nbs_ex, "wrong@vm.test");
	ok(e != NULL, "wrong@vm.test, only in the export, is BACKSCATTER");
	if (e != NULL)
		is_str(e->primary_by,
		       "virtual_mailbox_domains: not in virtual_mailbox_maps",
		       "why the primary rejects it");
	ok(r.lost == r.nlost_ex && r.backscatter == r.nbs_ex,
	   "every disagreement is an example (%zu lost, %zu backscatter)",
	   r.lost, r.backscatter);
	is_str(r.primary_delimiter, "+-", "the primary's delimiter");
	for (len = 0; len < r.ntables; len++)
		if (strstr(r.tables[len].table, "/vmbox") != NULL)
			break;
	ok(len < r.ntables && r.tables[len].found == 3 &&
	       r.tables[len].keys > 3,
	   "the report counts the keys and hits of virtual_mailbox_maps");
	is_str(r.warning, "", "no warning: the delimiters agree");

	/* what the primary decided, candidate by candidate */
	len = (size_t)ftell(list);
	text = calloc(1, len + 1);
	rewind(list);
	if (text == NULL || fread(text, 1, len, list) != len)
		return 1;
	has_str(text, "\nU@VM.TEST primary=accept backup=accept",
		"a case variant is decided as its folded form");
	has_str(text, "\nu+x", "a variant with the primary's first delimiter");
	has_str(text,
		"\nowner-list@vm.test primary=accept backup=accept "
		"virtual_alias_maps",
		"owner-list is found by the alias table");
	has_str(text,
		"@sub.relay.test primary=accept backup=accept "
		"relay_recipient_maps",
		"a subdomain of relay.test is a relay domain with its "
		"catch-all");
	has_str(text,
		"x@va.test primary=accept backup=accept virtual_alias_maps",
		"virtual_alias_domains: an alias is accepted");
	has_str(text, "postmaster@va.test primary=reject",
		"virtual_alias_domains: nothing else");
	has_str(text,
		"postmaster@relay.test primary=reject backup=reject "
		"relay_domains: not in relay_recipient_maps",
		"relay_domains: unknown users rejected");
	ok(strstr(text, "blocked.relay.test primary=accept") == NULL,
	   "a negated relay_domains entry is no relay domain");
	free(text);
	fclose(list);

	j = verify_json(&r);
	ok(json_integer_value(json_object_get(j, "lost")) == (json_int_t)r.lost,
	   "JSON lost");
	ok(json_array_size(json_object_get(j, "backscatter_examples")) ==
	       r.nbs_ex,
	   "JSON backscatter examples");
	json_decref(j);
	verify_result_clear(&r);

	/* another delimiter in agent.conf: a warning */
	o.delimiter = "+";
	o.list = NULL;
	rc = verify_run(st, &o, &r, &err);
	ok(rc == 0 && strstr(r.warning, "recipient_delimiter is '+-'") != NULL,
	   "a different agent delimiter is warned about: %s", r.warning);
	e = example(r.lost_ex, r.nlost_ex, "");
	for (len = 0; len < r.nlost_ex && e == NULL; len++)
		if (strstr(r.lost_ex[len].address, "u-x") ==
		    r.lost_ex[len].address)
			e = &r.lost_ex[len];
	ok(e != NULL, "and a -extension the backup would not cut is LOST");
	verify_result_clear(&r);

	/* a table postmap cannot read: VERIFY_DOWN with Postfix's message */
	o.delimiter = "+-";
	put("main.cf", "compatibility_level = 3.6\nmydestination =\n"
		       "virtual_mailbox_domains = vm.test\n"
		       "virtual_mailbox_maps = hash:/nonexistent/vmbox\n");
	rc = verify_run(st, &o, &r, &err);
	ok(rc == VERIFY_DOWN, "an unreadable table: VERIFY_DOWN (%d)", rc);
	has_str(err.msg,
		"hash:/nonexistent/vmbox: ", "the message names the table");
	o.postfix_dir = "/nonexistent";
	rc = verify_run(st, &o, &r, &err);
	ok(rc == VERIFY_CONFIG, "no such config directory: VERIFY_CONFIG");
	has_str(err.msg, "postconf: ", "the message names postconf");

	j = verify_report("mxsync-agent: verify: x: fatal: down\n", 37,
			  75 << 8);
	is_str(json_string_value(json_object_get(j, "error")),
	       "mxsync-agent: verify: x: fatal: down",
	       "verify_report: the last line is the error");
	ok(json_is_true(json_object_get(j, "down")), "exit 75 is down");
	json_decref(j);
	text = "{\"agree\": 3, \"lost\": 1}\n";
	j = verify_report(text, strlen(text), 1 << 8);
	ok(json_integer_value(json_object_get(j, "lost")) == 1,
	   "verify_report: exit 1 carries the report");
	json_decref(j);

	state_free(st);
	if (asprintf(&cmd, "rm -rf %s", dir) > 0 && system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	free(cmd);
	return test_done();
}
