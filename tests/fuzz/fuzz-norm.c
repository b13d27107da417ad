/*
 * fuzz-norm - address and domain normalisation: the first octet picks the
 * function, the rest is the input.  A folded key must fold to itself, and
 * the one-pass ASCII fold must agree with norm_address() whenever it
 * answers.
 */
#include <string.h>

#include "../../formats/norm.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[NORM_BUF_SIZE], out2[NORM_BUF_SIZE], a[NORM_BUF_SIZE];
	const char *in = (const char *)data + 1;
	size_t len, n, n2, an;
	struct err err;
	int domain;

	if (size == 0)
		return 0;
	len = size - 1;
	domain = data[0] & 1;
	switch ((data[0] >> 1) % 4) {
	case 0:
	case 1:
		if ((domain ? norm_domain(in, len, out, sizeof(out), &n, &err)
			    : norm_address(in, len, out, sizeof(out), &n,
					   &err)) < 0)
			break;
		fuzz_assert(n == strlen(out));
		fuzz_assert(norm_folded(out, n, domain, &err) == 0);
		fuzz_assert(
		    (domain ? norm_domain(out, n, out2, sizeof(out2), &n2, &err)
			    : norm_address(out, n, out2, sizeof(out2), &n2,
					   &err)) == 0 &&
		    n2 == n && memcmp(out, out2, n) == 0);
		break;
	case 2:
		if (len < sizeof(a) &&
		    norm_address_ascii(in, len, a, sizeof(a), &an)) {
			fuzz_assert(norm_address(in, len, out, sizeof(out), &n,
						 &err) == 0);
			fuzz_assert(n == an && memcmp(out, a, n) == 0);
		}
		break;
	default:
		(void)norm_nexthop(in, len, &err);
		(void)norm_utf8_valid(in, len);
		break;
	}
	return 0;
}
