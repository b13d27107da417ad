/*
 * norm - addresses and domains folded exactly as Postfix folds lookup keys
 *
 * Postfix (smtputf8_enable=yes) lower-cases ASCII keys and gives any key with
 * non-ASCII octets ICU full case folding (U_FOLD_CASE_DEFAULT, no
 * normalisation), after refusing invalid UTF-8.  This module does the same so
 * that the keys mxsync writes are the keys Postfix looks up.  It is also the
 * one place that says what a domain is (a host name, LDH or IDNA labels);
 * what a route may be (norm_route: TRANSPORT:DESTINATION, transport(5)) is
 * in norm_route.c.  Every function returns -1 with a message the caller
 * prefixes with "file:line: ".
 *
 * Security: input is untrusted; every length is checked before it is used
 * and values shown in messages are escaped and cut short.
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include <unicode/uchar.h>
#include <unicode/uidna.h>
#include <unicode/ustring.h>
#include <unicode/utypes.h>

#include "norm.h"
#include "norm_impl.h"

const char *norm_show(const char *in, size_t len, char *out, size_t outsize)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0;

	for (i = 0; i < len && o + 8 < outsize && i < NORM_SHOW_MAX; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c < 0x20 || c == 0x7f || c == '\\' || c == '"') {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		} else {
			out[o++] = (char)c;
		}
	}
	if (i < len && o + 4 <= outsize) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}

/*
 * norm_utf8_next - decode one UTF-8 sequence at s[*i]; returns the code point
 * or -1 when it is malformed (overlong, surrogate, beyond U+10FFFF, cut off).
 */
static int32_t norm_utf8_next(const unsigned char *s, size_t len, size_t *i)
{
	unsigned char c = s[*i];
	int32_t cp, min;
	size_t n, k;

	if (c < 0x80) {
		*i += 1;
		return c;
	} else if (c >= 0xc2 && c <= 0xdf) {
		n = 1, cp = c & 0x1f, min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 2, cp = c & 0x0f, min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 3, cp = c & 0x07, min = 0x10000;
	} else {
		return -1;
	}
	if (len - *i <= n)
		return -1;
	for (k = 1; k <= n; k++) {
		unsigned char cc = s[*i + k];

		if ((cc & 0xc0) != 0x80)
			return -1;
		cp = (cp << 6) | (cc & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*i += n + 1;
	return cp;
}

/*
 * norm_check_text - refuse invalid UTF-8, control characters and (unless
 * allow_space) white space; *ascii_r says whether all octets are ASCII.
 */
static int norm_check_text(const char *in, size_t len, int allow_space,
			   int *ascii_r, const char *what, struct err *err)
{
	const unsigned char *s = (const unsigned char *)in;
	char show[NORM_SHOW_MAX * 4 + 8];
	size_t i = 0;
	int ascii = 1;

	while (i < len) {
		unsigned char c = s[i];
		int32_t cp;

		if (c < 0x80) {
			if (c < 0x20 || c == 0x7f)
				return err_set(
				    err, "control character in %s \"%s\"", what,
				    norm_show(in, len, show, sizeof(show)));
			if (c == ' ' && !allow_space)
				return err_set(
				    err, "white space in %s \"%s\"", what,
				    norm_show(in, len, show, sizeof(show)));
			i++;
			continue;
		}
		ascii = 0;
		cp = norm_utf8_next(s, len, &i);
		if (cp < 0)
			return err_set(err, "invalid UTF-8 in %s \"%s\"", what,
				       norm_show(in, len, show, sizeof(show)));
		if (u_iscntrl(cp) || (cp >= 0x80 && cp <= 0x9f))
			return err_set(err, "control character in %s \"%s\"",
				       what,
				       norm_show(in, len, show, sizeof(show)));
		if (!allow_space && u_isUWhiteSpace(cp))
			return err_set(err, "white space in %s \"%s\"", what,
				       norm_show(in, len, show, sizeof(show)));
	}
	if (ascii_r != NULL)
		*ascii_r = ascii;
	return 0;
}

/* norm_fold_checked - fold text already known to be valid UTF-8 */
static int norm_fold_checked(const char *in, size_t len, int ascii, char *out,
			     size_t outsize, size_t *len_r, struct err *err)
{
	UChar u16[NORM_BUF_SIZE * 2], f16[NORM_BUF_SIZE * 2];
	UErrorCode ue = U_ZERO_ERROR;
	int32_t n16 = 0, nf = 0, n8 = 0;
	size_t i;

	if (ascii) {
		if (len >= outsize)
			return err_set(err, "too long to fold (%zu octets)",
				       len);
		for (i = 0; i < len; i++) {
			char c = in[i];

			out[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
		}
		out[len] = '\0';
		*len_r = len;
		return 0;
	}
	if (len > NORM_BUF_SIZE || outsize > INT32_MAX)
		return err_set(err, "too long to fold (%zu octets)", len);
	u_strFromUTF8(u16, (int32_t)(sizeof(u16) / sizeof(u16[0])), &n16, in,
		      (int32_t)len, &ue);
	if (U_FAILURE(ue))
		return err_set(err, "cannot convert to UTF-16: %s",
			       u_errorName(ue));
	nf = u_strFoldCase(f16, (int32_t)(sizeof(f16) / sizeof(f16[0])), u16,
			   n16, U_FOLD_CASE_DEFAULT, &ue);
	if (U_FAILURE(ue))
		return err_set(err, "cannot fold case: %s", u_errorName(ue));
	ue = U_ZERO_ERROR;
	u_strToUTF8(out, (int32_t)outsize, &n8, f16, nf, &ue);
	if (U_FAILURE(ue) || ue == U_STRING_NOT_TERMINATED_WARNING)
		return err_set(err, "too long after case folding");
	*len_r = (size_t)n8;
	return 0;
}

int norm_fold(const char *in, size_t len, char *out, size_t outsize,
	      size_t *len_r, struct err *err)
{
	int ascii;

	if (norm_check_text(in, len, 1, &ascii, "text", err) < 0)
		return -1;
	return norm_fold_checked(in, len, ascii, out, outsize, len_r, err);
}

/* norm_domain_shape - checks on a folded domain */
static int norm_domain_shape(const char *d, size_t len, const char *what,
			     const char *whole, size_t wlen, struct err *err)
{
	char show[NORM_SHOW_MAX * 4 + 8];

	if (len == 0)
		return err_set(err, "empty domain in %s \"%s\"", what,
			       norm_show(whole, wlen, show, sizeof(show)));
	if (len > NORM_DOMAIN_MAX)
		return err_set(err, "domain longer than %d octets in %s \"%s\"",
			       NORM_DOMAIN_MAX, what,
			       norm_show(whole, wlen, show, sizeof(show)));
	if (memchr(d, '@', len) != NULL)
		return err_set(err, "\"@\" in domain \"%s\"",
			       norm_show(whole, wlen, show, sizeof(show)));
	if (d[0] == '.' || d[len - 1] == '.' || memmem(d, len, "..", 2))
		return err_set(err, "empty label in domain \"%s\"",
			       norm_show(whole, wlen, show, sizeof(show)));
	return 0;
}

static UIDNA *norm_idna;
static pthread_once_t norm_idna_once = PTHREAD_ONCE_INIT;

/* norm_idna_init - the UTS #46 converter Postfix's SMTPUTF8 code also uses */
static void norm_idna_init(void)
{
	UErrorCode ue = U_ZERO_ERROR;

	norm_idna = uidna_openUTS46(UIDNA_USE_STD3_RULES | UIDNA_CHECK_BIDI |
					UIDNA_CHECK_CONTEXTJ |
					UIDNA_NONTRANSITIONAL_TO_ASCII |
					UIDNA_NONTRANSITIONAL_TO_UNICODE,
				    &ue);
	if (U_FAILURE(ue))
		norm_idna = NULL;
}

int norm_domain_alt(const char *d, size_t len, char *out, size_t outsize,
		    size_t *outlen)
{
	UErrorCode ue = U_ZERO_ERROR;
	UIDNAInfo info = UIDNA_INFO_INITIALIZER;
	int32_t n;
	size_t i;
	int utf8 = 0;

	for (i = 0; i < len; i++)
		if ((unsigned char)d[i] >= 0x80)
			utf8 = 1;
	if ((!utf8 && memmem(d, len, "xn--", 4) == NULL) || outsize < 2 ||
	    len > INT32_MAX)
		return 0;
	pthread_once(&norm_idna_once, norm_idna_init);
	if (norm_idna == NULL)
		return 0;
	if (utf8)
		n = uidna_nameToASCII_UTF8(norm_idna, d, (int32_t)len, out,
					   (int32_t)outsize - 1, &info, &ue);
	else
		n = uidna_nameToUnicodeUTF8(norm_idna, d, (int32_t)len, out,
					    (int32_t)outsize - 1, &info, &ue);
	if (U_FAILURE(ue) || info.errors != 0 || n <= 0 ||
	    (size_t)n >= outsize ||
	    ((size_t)n == len && memcmp(out, d, len) == 0))
		return 0;
	out[n] = '\0';
	*outlen = (size_t)n;
	return 1;
}

/* norm_ldh_label - letters, digits, inner hyphens, 1..63 octets */
static int norm_ldh_label(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
		return 0;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-'))
			return 0;
	}
	return 1;
}

int norm_hostname(const char *d, size_t len, const char *whole, size_t wlen,
		  struct err *err)
{
	char show[NORM_SHOW_MAX * 4 + 8], ascii[NORM_BUF_SIZE];
	UErrorCode ue = U_ZERO_ERROR;
	UIDNAInfo info = UIDNA_INFO_INITIALIZER;
	const char *p = d, *end = d + len, *dot, *last = d;
	size_t i, n;
	int idna = 0;
	int32_t alen;

	for (i = 0; i < len; i++)
		if ((unsigned char)d[i] >= 0x80)
			idna = 1;
	if (memmem(d, len, "xn--", 4) != NULL)
		idna = 1;
	if (idna) {
		pthread_once(&norm_idna_once, norm_idna_init);
		if (norm_idna == NULL)
			return err_set(err, "IDNA converter unavailable");
		alen = uidna_nameToASCII_UTF8(norm_idna, d, (int32_t)len, ascii,
					      (int32_t)sizeof(ascii) - 1, &info,
					      &ue);
		if (U_FAILURE(ue) || info.errors != 0 || alen <= 0 ||
		    alen >= (int32_t)sizeof(ascii))
			return err_set(
			    err,
			    "domain \"%s\" is not a valid "
			    "internationalized host name (IDNA)",
			    norm_show(whole, wlen, show, sizeof(show)));
		/* xn-- labels must also come back as themselves */
		if (memmem(d, len, "xn--", 4) != NULL) {
			char u[NORM_BUF_SIZE];
			UIDNAInfo info2 = UIDNA_INFO_INITIALIZER;

			ue = U_ZERO_ERROR;
			(void)uidna_nameToUnicodeUTF8(
			    norm_idna, d, (int32_t)len, u, (int32_t)sizeof(u),
			    &info2, &ue);
			if (U_FAILURE(ue) || info2.errors != 0)
				return err_set(
				    err,
				    "domain \"%s\" has a "
				    "malformed IDNA (xn--) label",
				    norm_show(whole, wlen, show, sizeof(show)));
		}
		ascii[alen] = '\0';
		p = ascii;
		end = ascii + alen;
		last = ascii;
	}
	while (p < end) {
		dot = memchr(p, '.', (size_t)(end - p));
		n = dot != NULL ? (size_t)(dot - p) : (size_t)(end - p);
		if (!norm_ldh_label(p, n))
			return err_set(
			    err,
			    "domain \"%s\" is not a host name "
			    "(labels of letters, digits and inner "
			    "hyphens, at most 63 octets each)",
			    norm_show(whole, wlen, show, sizeof(show)));
		last = p;
		p += n + (dot != NULL);
	}
	for (p = last; p < end && *p >= '0' && *p <= '9'; p++)
		;
	if (p == end)
		return err_set(err,
			       "domain \"%s\" is not a host name (its "
			       "last label is numeric)",
			       norm_show(whole, wlen, show, sizeof(show)));
	return 0;
}

int norm_domain(const char *in, size_t len, char *out, size_t outsize,
		size_t *len_r, struct err *err)
{
	char show[NORM_SHOW_MAX * 4 + 8];
	size_t n;
	int ascii;

	if (len > NORM_BUF_SIZE / 2)
		return err_set(err, "domain longer than %d octets \"%s\"",
			       NORM_DOMAIN_MAX,
			       norm_show(in, len, show, sizeof(show)));
	if (norm_check_text(in, len, 0, &ascii, "domain", err) < 0)
		return -1;
	if (norm_fold_checked(in, len, ascii, out, outsize, &n, err) < 0)
		return -1;
	if (norm_domain_shape(out, n, "domain", in, len, err) < 0 ||
	    norm_hostname(out, n, in, len, err) < 0)
		return -1;
	*len_r = n;
	return 0;
}

#define NORM_SHOW norm_show(in, len, show, sizeof(show))

/* NORM_W - the octet b in each octet of a word */
#define NORM_W(b) (UINT64_C(0x0101010101010101) * (b))

/*
 * norm_word_bad - nonzero when one of the eight octets of w is outside
 * '!'..'~' or an upper-case letter: word-wide compares whose borrows and
 * carries stay inside each octet (x keeps every octet below 0x80, the
 * octets above are caught by hi)
 */
static inline uint64_t norm_word_bad(uint64_t w)
{
	uint64_t hi = w & NORM_W(0x80), x = w & NORM_W(0x7f),
		 del = x ^ NORM_W(0x7f);

	return hi | ((x - NORM_W(0x21)) & ~x & NORM_W(0x80)) |
	       ((del - NORM_W(0x01)) & ~del & NORM_W(0x80)) |
	       ((NORM_W(127 + 'Z' + 1) - x) & (x + NORM_W(127 - ('A' - 1))) &
		NORM_W(0x80));
}

/*
 * norm_ascii_folded - norm_address_ascii() without an output, the check of
 * a key that should already be folded (every recipient of a state that is
 * parsed): eight octets a step, then the rules on the "@" and the dots
 */
static int norm_ascii_folded(const char *in, size_t len)
{
	const char *at, *p, *end = in + len;
	size_t i;
	uint64_t w;

	for (i = 0; i + 8 <= len; i += 8) {
		memcpy(&w, in + i, 8);
		if (norm_word_bad(w))
			return 0;
	}
	for (; i < len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c < 0x21 || c > 0x7e || (c >= 'A' && c <= 'Z'))
			return 0;
	}
	at = len > 0 ? memrchr(in, '@', len) : NULL;
	if (at == NULL || (size_t)(at - in) > NORM_LOCAL_MAX)
		return 0;
	/* "@" in the local part: only when quoted; no quoted empty part */
	if ((in[0] != '"' && memchr(in, '@', (size_t)(at - in)) != NULL) ||
	    (at - in == 2 && in[0] == '"' && in[1] == '"'))
		return 0;
	if (end - at - 1 == 0 || end - at - 1 > NORM_DOMAIN_MAX ||
	    at[1] == '.' || end[-1] == '.')
		return 0;
	/* no ".." in the domain */
	for (p = at + 1;
	     (p = memchr(p, '.', (size_t)(end - p))) != NULL && p + 1 < end;
	     p++)
		if (p[1] == '.')
			return 0;
	return 1;
}

int norm_address_ascii(const char *in, size_t len, char *out, size_t outsize,
		       size_t *len_r)
{
	size_t i, at = len, first_at = len, dots = 0, dlen;

	if (len > NORM_ADDRESS_MAX || (out != NULL && len >= outsize))
		return 0;
	if (out == NULL) {
		if (!norm_ascii_folded(in, len))
			return 0;
		*len_r = len;
		return 1;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c < 0x21 || c > 0x7e ||
		    (out == NULL && c >= 'A' && c <= 'Z'))
			return 0;
		if (c == '@') {
			at = i;
			if (first_at == len)
				first_at = i;
		} else if (c == '.' && i > 0 && in[i - 1] == '.') {
			dots = i; /* last ".." ends here */
		}
		if (out != NULL)
			out[i] =
			    (c >= 'A' && c <= 'Z') ? (char)(c + 32) : (char)c;
	}
	if (at == len || at > NORM_LOCAL_MAX)
		return 0;
	/* "@" in the local part: only when quoted; no quoted empty part */
	if ((first_at != at && in[0] != '"') ||
	    (at == 2 && in[0] == '"' && in[1] == '"'))
		return 0;
	dlen = len - at - 1;
	if (dlen == 0 || dlen > NORM_DOMAIN_MAX || in[at + 1] == '.' ||
	    in[len - 1] == '.' || (dots > 0 && dots - 1 > at))
		return 0;
	if (out != NULL)
		out[len] = '\0';
	*len_r = len;
	return 1;
}

int norm_address(const char *in, size_t len, char *out, size_t outsize,
		 size_t *len_r, struct err *err)
{
	char show[NORM_SHOW_MAX * 4 + 8];
	const char *at;
	size_t n, llen;
	int ascii;

	if (norm_address_ascii(in, len, out, outsize, len_r))
		return 0;
	if (len > NORM_BUF_SIZE / 2)
		return err_set(err, "address longer than %d octets \"%s\"",
			       NORM_ADDRESS_MAX, NORM_SHOW);
	if (norm_check_text(in, len, 0, &ascii, "address", err) < 0)
		return -1;
	if (memrchr(in, '@', len) == NULL)
		return err_set(err, "no \"@\" in address \"%s\"", NORM_SHOW);
	if (norm_fold_checked(in, len, ascii, out, outsize, &n, err) < 0)
		return -1;
	/* Folding never creates or removes an "@"; split at the last one. */
	at = memrchr(out, '@', n);
	llen = (size_t)(at - out);
	/* "@domain" is the catch-all; a quoted empty local part is not. */
	if (llen == 2 && out[0] == '"' && out[1] == '"')
		return err_set(err, "empty local part in address \"%s\"",
			       NORM_SHOW);
	if (llen > 0 && memchr(out, '@', llen) != NULL && out[0] != '"')
		return err_set(err,
			       "unquoted \"@\" in local part of address \"%s\"",
			       NORM_SHOW);
	if (llen > NORM_LOCAL_MAX)
		return err_set(
		    err, "local part longer than %d octets in address \"%s\"",
		    NORM_LOCAL_MAX, NORM_SHOW);
	if (norm_domain_shape(at + 1, n - llen - 1, "address", in, len, err) <
	    0)
		return -1;
	if (n > NORM_ADDRESS_MAX)
		return err_set(err, "address longer than %d octets \"%s\"",
			       NORM_ADDRESS_MAX, NORM_SHOW);
	*len_r = n;
	return 0;
}

int norm_nexthop(const char *in, size_t len, struct err *err)
{
	char show[NORM_SHOW_MAX * 4 + 8];

	if (len == 0)
		return err_set(err, "empty nexthop");
	if (len > NORM_NEXTHOP_MAX)
		return err_set(err, "nexthop longer than %d octets \"%s\"",
			       NORM_NEXTHOP_MAX,
			       norm_show(in, len, show, sizeof(show)));
	if (norm_check_text(in, len, 1, NULL, "nexthop", err) < 0)
		return -1;
	if (in[0] == ' ' || in[len - 1] == ' ')
		return err_set(
		    err, "leading or trailing white space in nexthop \"%s\"",
		    norm_show(in, len, show, sizeof(show)));
	return 0;
}

int norm_folded(const char *key, size_t len, int domain, struct err *err)
{
	char out[NORM_BUF_SIZE];
	size_t n;
	int r;

	/* the common case: checked in place, nothing to fold */
	if (!domain && norm_address_ascii(key, len, NULL, 0, &n))
		return 0;
	if (domain)
		r = norm_domain(key, len, out, sizeof(out), &n, err);
	else
		r = norm_address(key, len, out, sizeof(out), &n, err);
	if (r < 0)
		return -1;
	if (n != len || memcmp(out, key, n) != 0)
		return err_set(err, "%s \"%.*s\" is not folded (\"%s\")",
			       domain ? "domain" : "address",
			       (int)(len > 255 ? 255 : len), key, out);
	return 0;
}

int norm_utf8_valid(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;

	while (i < len)
		if (norm_utf8_next(u, len, &i) < 0)
			return 0;
	return 1;
}
