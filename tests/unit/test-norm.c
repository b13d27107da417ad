/*
 * test-norm - folding of addresses and domains, every refusal, and proof
 * that the fold equals what the real postmap cdb: stores.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../../formats/norm.h"
#include "postmap.h"
#include "test.h"

static void addr_is(const char *in, const char *want)
{
	struct err err = {""};
	char out[NORM_BUF_SIZE];
	size_t n = 0;
	int r = norm_address(in, strlen(in), out, sizeof(out), &n, &err);

	ok(r == 0 && n == strlen(out), "norm_address(%s): %s", in, err.msg);
	is_str(r == 0 ? out : err.msg, want, "folds to %s", want);
}

static void addr_fails(const char *in, size_t len, const char *want,
		       const char *name)
{
	struct err err = {""};
	char out[NORM_BUF_SIZE];
	size_t n;

	ok(norm_address(in, len, out, sizeof(out), &n, &err) == -1,
	   "refuses %s", name);
	is_str(err.msg, want, "message for %s", name);
}

static void domain_fails(const char *in, const char *want, const char *name)
{
	struct err err = {""};
	char out[NORM_BUF_SIZE];
	size_t n;

	ok(norm_domain(in, strlen(in), out, sizeof(out), &n, &err) == -1,
	   "domain refuses %s", name);
	is_str(err.msg, want, "message for %s", name);
}

static void nexthop_fails(const char *in, size_t len, const char *want,
			  const char *name)
{
	struct err err = {""};

	ok(norm_nexthop(in, len, &err) == -1, "nexthop refuses %s", name);
	is_str(err.msg, want, "message for %s", name);
}

static void test_fold(void)
{
	struct err err = {""};
	char out[NORM_BUF_SIZE], big[1200];
	size_t n;

	addr_is("Straße@Example.com", "strasse@example.com");
	addr_is("USER@EXAMPLE.COM", "user@example.com");
	addr_is("@Example.COM", "@example.com");
	addr_is("ÄRGER@Bücher.Example", "ärger@bücher.example");
	addr_is("ΣΊΣΥΦΟΣ@x.gr", "σίσυφοσ@x.gr");
	addr_is("İstanbul@x.tr", "i\xcc\x87stanbul@x.tr");
	addr_is("\"Quoted@Local\"@x.example", "\"quoted@local\"@x.example");
	addr_is("a+b=c/d@x.example", "a+b=c/d@x.example");

	ok(norm_domain("Example.COM", 11, out, sizeof(out), &n, &err) == 0 &&
	       strcmp(out, "example.com") == 0,
	   "norm_domain folds");
	ok(norm_domain("BÜCHER.de", strlen("BÜCHER.de"), out, sizeof(out), &n,
		       &err) == 0 &&
	       strcmp(out, "bücher.de") == 0,
	   "norm_domain folds UTF-8");
	ok(norm_fold("ẞ", strlen("ẞ"), out, sizeof(out), &n, &err) == 0 &&
	       strcmp(out, "ss") == 0,
	   "norm_fold: capital sharp s");
	ok(norm_fold("a b\tC", 5, out, sizeof(out), &n, &err) == -1,
	   "norm_fold refuses control characters");
	ok(norm_nexthop("smtp:[mx1.example.com]:25", 25, &err) == 0,
	   "nexthop accepted");
	ok(norm_nexthop("smtp:[a], smtp:[b]", 18, &err) == 0,
	   "nexthop list with interior space accepted");

	/* The limits themselves are accepted. */
	memset(big, 'a', 64);
	strcpy(big + 64, "@x.example");
	ok(norm_address(big, strlen(big), out, sizeof(out), &n, &err) == 0,
	   "64-octet local part accepted");
	memset(big, 0, sizeof(big));
	memset(big, 'a', 64);
	big[64] = '@';
	for (int i = 0; i < 189; i++)
		big[65 + i] = (i % 10 == 9) ? '.' : 'b';
	ok(strlen(big) == 254 &&
	       norm_address(big, strlen(big), out, sizeof(out), &n, &err) == 0,
	   "254-octet address accepted: %s", err.msg);
	big[254] = 'b';
	addr_fails(big, strlen(big),
		   "address longer than 254 octets "
		   "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		   "aaaaaaa@bbbbbbbbb.bbbbb...\"",
		   "255-octet address");
}

static void test_refusals(void)
{
	char big[1200];

	addr_fails("user.example.com", 16,
		   "no \"@\" in address \"user.example.com\"", "missing @");
	addr_fails("\"\"@x.example", 12,
		   "empty local part in address \"\\x22\\x22@x.example\"",
		   "empty quoted local part");
	addr_fails("a b@x.example", 13,
		   "white space in address \"a b@x.example\"", "space");
	addr_fails("a\tb@x.example", 13,
		   "control character in address \"a\\x09b@x.example\"", "tab");
	addr_fails("a\0b@x.example", 13,
		   "control character in address \"a\\x00b@x.example\"", "NUL");
	addr_fails("a\xc2\xa0"
		   "b@x.example",
		   14,
		   "white space in address \"a\xc2\xa0"
		   "b@x.example\"",
		   "no-break space");
	addr_fails("a\xc2\x85"
		   "b@x.example",
		   14,
		   "control character in address \"a\xc2\x85"
		   "b@x.example\"",
		   "C1 control");
	addr_fails("\xff@x.example", 11,
		   "invalid UTF-8 in address \"\xff@x.example\"",
		   "invalid UTF-8");
	addr_fails("\xc0\xaf@x.example", 12,
		   "invalid UTF-8 in address \"\xc0\xaf@x.example\"",
		   "overlong UTF-8");
	addr_fails("\xed\xa0\x80@x.example", 13,
		   "invalid UTF-8 in address \"\xed\xa0\x80@x.example\"",
		   "UTF-8 surrogate");
	addr_fails("a\xc3@x.example", 12,
		   "invalid UTF-8 in address \"a\xc3@x.example\"", "cut UTF-8");
	addr_fails("user@", 5, "empty domain in address \"user@\"",
		   "empty domain");
	addr_fails("a@b@x.example", 13,
		   "unquoted \"@\" in local part of address \"a@b@x.example\"",
		   "unquoted @ in local part");
	addr_fails("u@.x.example", 12, "empty label in domain \"u@.x.example\"",
		   "empty label");
	memset(big, 'a', 65);
	strcpy(big + 65, "@x.example");
	addr_fails(big, strlen(big),
		   "local part longer than 64 octets in address "
		   "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		   "aaaaaaaa@x.example\"",
		   "65-octet local part");
	big[0] = 'u';
	big[1] = '@';
	memset(big + 2, 'd', 254);
	big[256] = '\0';
	addr_fails(big, strlen(big),
		   "domain longer than 253 octets in address "
		   "\"u@"
		   "ddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
		   "ddddddddddddddddddd...\"",
		   "254-octet domain in an address");
	memset(big, 'a', 700);
	addr_fails(big, 700,
		   "address longer than 254 octets "
		   "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		   "aaaaaaaaaaaaaaaaaaaaaaa...\"",
		   "huge input");

	{
		/* U+0390 folds to three code points: 2 octets become 6. */
		struct err err = {""};
		char in[1400], out[NORM_BUF_SIZE];
		size_t n, i;

		for (i = 0; i < 256; i++)
			memcpy(in + 2 * i, "\xce\x90", 2);
		ok(norm_fold(in, 512, out, sizeof(out), &n, &err) == -1,
		   "fold refuses a result over the buffer");
		is_str(err.msg, "too long after case folding", "message");
		memcpy(in + 510, "@x", 3);
		addr_fails(in, 512, "too long after case folding",
			   "address that grows past the buffer");
		memset(in, 'a', 1100);
		ok(norm_fold(in, 1100, out, sizeof(out), &n, &err) == -1,
		   "fold refuses input over the buffer");
		is_str(err.msg, "too long to fold (1100 octets)", "message");
	}
	domain_fails("", "empty domain in domain \"\"", "empty domain");
	domain_fails("a@b.example", "\"@\" in domain \"a@b.example\"",
		     "@ in domain");
	domain_fails("example.com.", "empty label in domain \"example.com.\"",
		     "trailing dot");
	domain_fails("exa mple.com", "white space in domain \"exa mple.com\"",
		     "space in domain");
	memset(big, 'd', 254);
	big[254] = '\0';
	domain_fails(big,
		     "domain longer than 253 octets in domain "
		     "\"ddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
		     "ddddddddddddddddddddddddd...\"",
		     "254-octet domain");

	nexthop_fails("", 0, "empty nexthop", "empty nexthop");
	nexthop_fails(" smtp:x", 7,
		      "leading or trailing white space in nexthop \" smtp:x\"",
		      "leading space");
	nexthop_fails("smtp:x ", 7,
		      "leading or trailing white space in nexthop \"smtp:x \"",
		      "trailing space");
	nexthop_fails("smtp:x\n", 7,
		      "control character in nexthop \"smtp:x\\x0a\"",
		      "newline");
	nexthop_fails("smtp:\xff", 6, "invalid UTF-8 in nexthop \"smtp:\xff\"",
		      "invalid UTF-8");
	memset(big, 'x', 1100);
	nexthop_fails(big, 1001,
		      "nexthop longer than 1000 octets "
		      "\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		      "xxxxxxxxxxxxxxxxxxxxxxxxxx...\"",
		      "1001-octet nexthop");
}

/* test_postmap - the fold equals the key postmap cdb: stores */
static void test_postmap(void)
{
	static const char *keys[] = {
	    "Straße@Example.com",
	    "ÄRGER@Bücher.Example",
	    "ΣΊΣΥΦΟΣ@x.gr",
	    "İstanbul@x.tr",
	    "MixedCase@Example.COM",
	    "@CatchAll.Example",
	    "ǅemal@x.ba",
	    "ﬀoo@x.example",
	    "\xe2\x84\xaa"
	    "elvin@x.example",
	    "ẞig@x.example",
	    "ＡＢＣ@x.jp",
	    "Ωmega@ΑΒΓ.gr",
	};
	size_t nkeys = sizeof(keys) / sizeof(keys[0]), tlen = 0, i;
	char text[4096], out[NORM_BUF_SIZE];
	struct pm_keys pk;
	struct err err = {""};

	for (i = 0; i < nkeys; i++)
		tlen += (size_t)snprintf(text + tlen, sizeof(text) - tlen,
					 "%s OK\n", keys[i]);
	ok(pm_run(text, tlen, &pk) == 0, "postmap cdb: ran");
	ok(pk.n == nkeys, "postmap stored %zu keys (%zu)", nkeys, pk.n);
	for (i = 0; i < nkeys; i++) {
		size_t n;
		int r = norm_address(keys[i], strlen(keys[i]), out, sizeof(out),
				     &n, &err);

		ok(r == 0 && pm_find(&pk, out, n) >= 0,
		   "postmap stores norm_address(%s) = %s", keys[i],
		   r == 0 ? out : err.msg);
	}
	pm_free(&pk);
}

/* the one-pass ASCII path refuses what the full path refuses */
static void test_ascii_path(void)
{
	static const char *const bad[] = {
	    "a@x..example",
	    "a@.x.example",
	    "a@x.example.",
	    "a@b@x.example",
	    "@x..example",
	    "\"\"@x.example",
	    "a@",
	    "a b@x.example",
	    "a@x.exam\x7fple",
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@"
	    "x.example",
	};
	struct err err = {""};
	char out[NORM_BUF_SIZE];
	size_t i, n;

	addr_is("A..B@X.Example", "a..b@x.example");
	addr_is("\"a@b\"@x.example", "\"a@b\"@x.example");
	addr_is("a.@x.y.example", "a.@x.y.example");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ok(norm_address(bad[i], strlen(bad[i]), out, sizeof(out), &n,
				&err) == -1 &&
		       err.msg[0] != '\0',
		   "refuses %s: %s", bad[i], err.msg);
	/* output too small for the key: refused, not overrun */
	ok(norm_address("a@x.example", 11, out, 11, &n, &err) == -1,
	   "refuses an output buffer one octet short");
}

/*
 * test_ascii_check - the check of a folded key (no output) says yes exactly
 * when the folding path folds the key to itself: random keys over octets
 * that matter to either (letters of both cases, "@", ".", quotes, blanks,
 * DEL, 8-bit octets), of every length up to past the limits
 */
static void test_ascii_check(void)
{
	static const char pick[] = "aZ@.\"\x7f\x80 09-+_A@..zQ";
	char in[300], out[NORM_BUF_SIZE];
	size_t n, len, i, k, agree = 0, yes = 0, runs = 200000;
	uint32_t x = 2463534242u;
	int a, b;

	for (k = 0; k < runs; k++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		len = k < 1000 ? k % 300 : x % (k % 7 == 0 ? 300u : 40u);
		for (i = 0; i < len; i++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			/* mostly lower-case letters and digits, as keys are */
			in[i] = x % 4 ? (char)('a' + x / 4 % 26)
				      : pick[x / 4 % (sizeof(pick) - 1)];
		}
		/* most keys get one "@" near the end, as addresses do */
		if (len > 3 && x % 3 != 0)
			in[len - 1 - x / 3 % (len / 2)] = '@';
		a = norm_address_ascii(in, len, NULL, 0, &n);
		b = norm_address_ascii(in, len, out, sizeof(out), &n) &&
		    memcmp(out, in, len) == 0;
		agree += a == b;
		yes += a;
	}
	ok(agree == runs,
	   "the folded-key check agrees with the fold on %zu "
	   "of %zu random keys",
	   agree, runs);
	ok(yes > runs / 50, "and %zu of them are folded addresses", yes);
}

/* test_hostnames - domains must be host names (LDH or IDNA labels) */
static void test_hostnames(void)
{
	static const char *const bad[] = {
	    "*",
	    "a:b",
	    "[1.2.3.4]",
	    "1.2.3.4",
	    "example.com,",
	    "-a.example",
	    "a-.example",
	    "a_b.example",
	    "a b.example",
	    "xn--zz.example",
	    "a/b.example",
	    "*.example.com",
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
	    "x",
	};
	static const char *const good[] = {
	    "example.com",
	    "a-b.example",
	    "1a.example",
	    "localhost",
	    "b\xc3\xbc"
	    "cher.de",
	    "xn--bcher-kva.de",
	    "\xd0\xbf\xd1\x80\xd0\xb8\xd0\xbc\xd0\xb5\xd1\x80.\xd1\x80\xd1\x84",
	};
	struct err err = {""};
	char out[NORM_BUF_SIZE];
	size_t i, n;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ok(norm_domain(bad[i], strlen(bad[i]), out, sizeof(out), &n,
			       &err) == -1 &&
		       strstr(err.msg, "domain") != NULL,
		   "domain refuses %s: %s", bad[i], err.msg);
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		ok(norm_domain(good[i], strlen(good[i]), out, sizeof(out), &n,
			       &err) == 0,
		   "domain accepts %s", good[i]);
	domain_fails("a:b",
		     "domain \"a:b\" is not a host name (labels of "
		     "letters, digits and inner hyphens, at most 63 octets "
		     "each)",
		     "a colon");
	domain_fails("10.0.0.1",
		     "domain \"10.0.0.1\" is not a host name "
		     "(its last label is numeric)",
		     "an IPv4 address");
}

static void route_ok(const char *in, const char *transports)
{
	struct err err = {""};

	ok(norm_route(in, strlen(in), transports, &err) == 0,
	   "route %s (transports %s): %s", in, transports, err.msg);
}

static void route_fails(const char *in, const char *transports,
			const char *want)
{
	struct err err = {""};

	ok(norm_route(in, strlen(in), transports, &err) == -1,
	   "route refuses %s", in);
	has_str(err.msg, want, "message for %s", in);
}

/* test_routes - transport(5) results a backup may install */
static void test_routes(void)
{
	route_ok("smtp:[mx1.example.com]:25", "smtp relay");
	route_ok("smtp:[mx1.example.com]", "smtp relay");
	route_ok("smtp:mx1.example.com:smtp", "smtp relay");
	route_ok("relay:mx1.example.com", "smtp relay");
	route_ok("smtp:[192.0.2.1]:2525", "smtp relay");
	route_ok("smtp:[ipv6:2001:db8::1]:25", "smtp relay");
	route_ok("smtp:[2001:db8::1]", "smtp relay");
	route_ok("smtp:", "smtp relay");
	route_ok("smtp", "smtp relay");
	route_ok("lmtp:unix:/var/run/dovecot/lmtp", "smtp lmtp");
	route_ok("lmtp:inet:[192.0.2.1]:24", "smtp lmtp");
	route_fails("discard:x", "smtp relay",
		    "transport \"discard\" of "
		    "nexthop \"discard:x\" is not allowed (transports = smtp "
		    "relay)");
	route_fails("local:", "smtp relay", "transport \"local\"");
	route_fails("virtual:", "smtp relay", "transport \"virtual\"");
	route_fails("error:5.1.1 gone", "smtp relay", "transport \"error\"");
	route_fails("maildrop:", "smtp relay", "transport \"maildrop\"");
	route_fails("uucp:evil", "smtp relay", "transport \"uucp\"");
	route_fails("lmtp:[a.example]", "smtp relay", "transport \"lmtp\"");
	route_fails(":[mx.example]", "smtp relay", "transport \"\"");
	route_fails("smtp:[mx.example", "smtp relay", "malformed nexthop");
	route_fails("smtp:[mx.example]:99999", "smtp relay",
		    "malformed nexthop");
	route_fails("smtp:[mx.example]x", "smtp relay", "malformed nexthop");
	route_fails("smtp:a b", "smtp relay", "malformed nexthop");
	route_fails("smtp:[a], smtp:[b]", "smtp relay", "malformed nexthop");
	route_fails("smtp:unix:/tmp/x", "smtp relay", "malformed nexthop");
	route_fails("smtp:a_b.example", "smtp relay", "malformed nexthop");
}

int main(void)
{
	test_hostnames();
	test_routes();
	test_fold();
	test_ascii_path();
	test_ascii_check();
	test_refusals();
	test_postmap();
	return test_done();
}
