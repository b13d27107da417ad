/*
 * test-lookup - Postfix's recipient-table rules: where split_addr() cuts a
 * local part (several delimiter characters, the addresses never cut), the
 * probe keys in Postfix's order, and the accept decision over a state.
 */
#include <stdio.h>
#include <string.h>

#include "../../formats/lookup.h"
#include "test.h"

/* split_is - lookup_split of local with delimiter keeps want octets */
static void split_is(const char *local, const char *delim, size_t want,
		     const char *name)
{
	size_t got = lookup_split(local, strlen(local), delim);

	ok(got == want, "split %s with \"%s\": %s (kept %zu)", local, delim,
	   name, got);
}

static void test_split(void)
{
	split_is("user+ext", "+", 4, "cut at +");
	split_is("user+ext", "", 0, "no delimiter, no cut");
	split_is("user-ext", "+-", 4, "any of several characters");
	split_is("user-a+b", "+-", 4, "the first delimiter found");
	split_is("user+a-b", "-+", 4, "order of the set does not matter");
	split_is("+user", "+", 0, "no cut at the first octet");
	split_is("user+", "+", 4, "trailing delimiter: empty extension");
	split_is("user", "+", 0, "no delimiter in the local part");
	split_is("postmaster", "+-", 0, "postmaster is never cut");
	split_is("mailer-daemon", "-", 0, "mailer-daemon is never cut");
	split_is("double-bounce", "-", 0, "double-bounce is never cut");
	split_is("postmaster+x", "+", 10, "postmaster+x is cut");
	split_is("owner-list", "-", 0, "owner- with - a delimiter");
	split_is("owner-list", "+-", 0, "owner- with - one of several");
	split_is("owner-list+x", "+", 10, "owner- without - as delimiter");
	split_is("owner-", "-", 0, "owner- alone");
	split_is("list-request", "-", 0, "-request with - a delimiter");
	split_is("list-request", "+", 0, "-request, no + in it");
	split_is("list-request+x", "+", 12, "-request+x with + only");
	split_is("-request", "-", 0, "-request alone: first octet");
	split_is("a-request", "-", 0, "a-request is not cut");
	split_is("x-requests", "-", 1, "-requests is cut");
}

static void test_keys(void)
{
	struct lookup_keys k;
	struct err err = {""};
	const char *a;

	a = "user+ext@example.com";
	ok(lookup_keys(a, strlen(a), "+", 0, &k, &err) == 0 && k.n == 3,
	   "three keys for user+ext@ (%zu)", k.n);
	is_str(k.key[0], "user+ext@example.com", "first the full address");
	ok(k.full[0] && !k.full[1] && !k.full[2], "only the first is full");
	is_str(k.key[1], "user@example.com", "then without the extension");
	is_str(k.key[2], "@example.com", "then @domain");
	ok(lookup_keys(a, strlen(a), "", 0, &k, &err) == 0 && k.n == 2,
	   "no delimiter: two keys");
	is_str(k.key[1], "@example.com", "full address, then @domain");
	ok(lookup_keys(a, strlen(a), "+", LOOKUP_LOCAL, &k, &err) == 0 &&
	       k.n == 5,
	   "local domain: five keys");
	is_str(k.key[2], "user+ext", "bare local part");
	is_str(k.key[3], "user", "bare local part without extension");
	is_str(k.key[4], "@example.com", "@domain last");
	a = "@example.com";
	ok(lookup_keys(a, strlen(a), "+", 0, &k, &err) == 0 && k.n == 1,
	   "a catch-all key is its own only key");
	a = "nobody";
	ok(lookup_keys(a, strlen(a), "+", 0, &k, &err) == -1, "no @ refused");
	has_str(err.msg, "no \"@\"", "message for no @");
}

static void test_accepts(void)
{
	static const char text[] = "D catch.example smtp:x\n"
				   "D example.com smtp:x\n"
				   "R @catch.example\n"
				   "R list@example.com\n"
				   "R owner-list@example.com\n"
				   "R postmaster@example.com\n"
				   "R strasse@example.com\n"
				   "R user@example.com\n";
	struct err err = {""};
	struct state *st = state_parse(text, sizeof(text) - 1, &err);
	char m[NORM_BUF_SIZE];
	int known = -1;

	ok(st != NULL, "probe state parses: %s", err.msg);
	if (st == NULL)
		return;
	ok(lookup_accepts(st, "user@example.com", "+", &known, m, sizeof(m),
			  &err) == 1 &&
	       known == 1,
	   "exact address accepted");
	is_str(m, "user@example.com", "matched key");
	ok(lookup_accepts(st, "USER@Example.COM", "+", &known, NULL, 0, &err) ==
	       1,
	   "folded before lookup");
	ok(lookup_accepts(st, "Straße@example.com", "", &known, NULL, 0,
			  &err) == 1,
	   "utf-8 folded before lookup");
	ok(lookup_accepts(st, "user+tag@example.com", "+", &known, m, sizeof(m),
			  &err) == 1,
	   "extension stripped with delimiter +");
	is_str(m, "user@example.com", "matched the stripped key");
	ok(lookup_accepts(st, "user+tag@example.com", "", &known, NULL, 0,
			  &err) == 0,
	   "not stripped without delimiter");
	ok(lookup_accepts(st, "user-tag@example.com", "+-", &known, NULL, 0,
			  &err) == 1,
	   "any delimiter character");
	ok(lookup_accepts(st, "user-tag@example.com", "+", &known, NULL, 0,
			  &err) == 0,
	   "- is not a delimiter of +");
	ok(lookup_accepts(st, "+user@example.com", "+", &known, NULL, 0,
			  &err) == 0,
	   "no split at the first octet");
	ok(lookup_accepts(st, "nobody@example.com", "+", &known, NULL, 0,
			  &err) == 0 &&
	       known == 1,
	   "unknown user rejected, domain known");
	ok(lookup_accepts(st, "anyone+x@catch.example", "+", &known, m,
			  sizeof(m), &err) == 1,
	   "catch-all");
	is_str(m, "@catch.example", "matched the catch-all key");
	ok(lookup_accepts(st, "a@other.example", "+", &known, NULL, 0, &err) ==
		   0 &&
	       known == 0,
	   "unknown domain");
	ok(lookup_accepts(st, "owner-list@example.com", "-", &known, NULL, 0,
			  &err) == 1,
	   "owner- not split");
	ok(lookup_accepts(st, "list-request@example.com", "-", &known, NULL, 0,
			  &err) == 0,
	   "-request not split (so not list@)");
	ok(lookup_accepts(st, "list-request@example.com", "+", &known, NULL, 0,
			  &err) == 0,
	   "-request with + has nothing to cut");
	ok(lookup_accepts(st, "list-x@example.com", "-", &known, NULL, 0,
			  &err) == 1,
	   "list-x cut to list");
	ok(lookup_accepts(st, "Postmaster+x@example.com", "+", &known, NULL, 0,
			  &err) == 1,
	   "postmaster+x cut to postmaster");
	ok(lookup_accepts(st, "bad address", "+", &known, NULL, 0, &err) == -1,
	   "malformed address");
	is_str(err.msg, "white space in address \"bad address\"",
	       "message for malformed address");
	state_free(st);
}

static void test_delimiter(void)
{
	ok(lookup_delimiter_ok("+") && lookup_delimiter_ok("") &&
	       lookup_delimiter_ok("+-_="),
	   "plain delimiters valid");
	ok(!lookup_delimiter_ok("+ -") && !lookup_delimiter_ok("a@") &&
	       !lookup_delimiter_ok("0123456789abcdef"),
	   "space, @ and 16 characters invalid");
	ok(lookup_delimiter_same("+-", "-+") && lookup_delimiter_same("", "") &&
	       lookup_delimiter_same("++", "+"),
	   "the same sets");
	ok(!lookup_delimiter_same("+", "-") &&
	       !lookup_delimiter_same("+", "") &&
	       !lookup_delimiter_same("+-", "+"),
	   "different sets");
}

int main(void)
{
	test_delimiter();
	test_split();
	test_keys();
	test_accepts();
	return test_done();
}
