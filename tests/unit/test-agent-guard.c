/*
 * test-agent-guard - the agent's guard (agent/guard.c): empty sources,
 * max_shrink against the acknowledged state, canaries decided with the
 * recipient delimiter and catch-alls, and the domains without recipients
 */
#include <stdlib.h>
#include <string.h>

#include "../../agent/config.h"
#include "../../agent/guard.h"
#include "../../agent/source.h"
#include "test.h"

static struct state *mk(const char *text)
{
	struct err err;
	struct state *st = state_parse(text, strlen(text), &err);

	if (st == NULL)
		printf("# state_parse: %s\n", err.msg);
	return st;
}

int main(void)
{
	struct source s1, s2, *srcs[2] = {&s1, &s2};
	char *canaries[1] = {"postmaster@a.test"};
	struct agent_config cfg;
	struct guard_report r;
	char names[256];
	struct state *old, *ok10, *bad20, *nocanary, *catchall, *bare;

	memset(&cfg, 0, sizeof(cfg));
	memset(&s1, 0, sizeof(s1));
	memset(&s2, 0, sizeof(s2));
	s1.name = "files";
	s2.name = "vmail";
	cfg.sources = srcs;
	cfg.nsources = 2;
	cfg.max_shrink = 10;
	cfg.recipient_delimiter = "+";
	s1.recipients = s1.pushed_recipients = 9;
	s2.recipients = s2.pushed_recipients = 1;

	old = mk("D a.test x:[h]\nR a0@a.test\nR a1@a.test\nR a2@a.test\n"
		 "R a3@a.test\nR a4@a.test\nR a5@a.test\nR a6@a.test\n"
		 "R a7@a.test\nR a8@a.test\nR postmaster@a.test\n");
	ok10 = mk("D a.test x:[h]\nR a1@a.test\nR a2@a.test\n"
		  "R a3@a.test\nR a4@a.test\nR a5@a.test\nR a6@a.test\n"
		  "R a7@a.test\nR a8@a.test\nR postmaster@a.test\n");
	bad20 = mk("D a.test x:[h]\nR a2@a.test\nR a3@a.test\nR a4@a.test\n"
		   "R a5@a.test\nR a6@a.test\nR a7@a.test\nR a8@a.test\n"
		   "R postmaster@a.test\n");
	nocanary = mk("D a.test x:[h]\nR a0@a.test\nR a1@a.test\nR a2@a.test\n"
		      "R a3@a.test\nR a4@a.test\nR a5@a.test\nR a6@a.test\n"
		      "R a7@a.test\nR a8@a.test\n");
	catchall = mk("D a.test x:[h]\nR @a.test\n");
	bare = mk("D a.test x:[h]\nD b.test x:[h]\nD c.test x:[h]\n"
		  "R @c.test\nR u@a.test\n");
	ok(old && ok10 && bad20 && nocanary && catchall && bare,
	   "states parse");

	ok(guard_check(&cfg, NULL, old, &r) == 0,
	   "no acknowledged state: passes");
	ok(guard_check(&cfg, old, ok10, &r) == 0,
	   "10%% removed, max 10%%: passes");
	s1.recipients = 7;
	ok(guard_check(&cfg, old, bad20, &r) == -1, "20%% removed: refused");
	is_str(r.msg,
	       "would remove 20% of the recipients the backups "
	       "acknowledged (2 of 10; max_shrink 10%); nothing pushed: push "
	       "with --allow-shrink if that is meant",
	       "shrink message");
	is_str(r.examples, "a0@a.test, a1@a.test",
	       "the examples are the lost addresses");
	ok(r.removed == 2, "removed count");
	ok(s1.error_kind == SOURCE_GUARD &&
	       strstr(s1.error, "e.g. a0@a.test") && s2.error[0] == '\0',
	   "only the source that lost recipients is blamed");
	ok(strstr(r.msg, "a0@") == NULL,
	   "the message (logged) names no address");

	s1.error[0] = '\0';
	s1.error_kind = 0;
	s1.recipients = 9;
	cfg.ncanaries = 1;
	cfg.canaries = canaries;
	ok(guard_check(&cfg, old, nocanary, &r) == -1,
	   "a lost canary: refused");
	has_str(r.msg, "canary postmaster@a.test would disappear",
		"canary message");
	ok(guard_check(&cfg, old, ok10, &r) == 0, "the canary kept: passes");
	canaries[0] = "postmaster+x@a.test";
	ok(guard_check(&cfg, old, ok10, &r) == 0,
	   "the canary's key forms are tried as Postfix tries them");
	cfg.max_shrink = 100;
	ok(guard_check(&cfg, old, catchall, &r) == 0,
	   "a catch-all keeps the canary accepted");
	cfg.ncanaries = 0;

	s1.error_kind = s2.error_kind = 0;
	s2.recipients = 0;
	ok(guard_check(&cfg, NULL, old, &r) == -1, "an empty source: refused");
	has_str(r.msg, "source vmail yields no recipients at all",
		"names the source");
	ok(s2.error_kind == SOURCE_GUARD && s1.error_kind != SOURCE_GUARD,
	   "the empty source gets the error");
	s2.allow_empty = 1;
	ok(guard_check(&cfg, NULL, old, &r) == 0, "allow_empty = yes: passes");
	s2.allow_empty = 0;
	s2.no_recipients = 1;
	ok(guard_check(&cfg, NULL, old, &r) == 0,
	   "a source of domains only: passes");

	ok(guard_bare_domains(bare, names, sizeof(names), 10) == 1,
	   "one domain without recipients");
	is_str(names, "b.test", "it is named");
	ok(guard_bare_domains(catchall, names, sizeof(names), 10) == 0,
	   "a catch-all counts as a recipient");

	state_free(old);
	state_free(ok10);
	state_free(bad20);
	state_free(nocanary);
	state_free(catchall);
	state_free(bare);
	return test_done();
}
