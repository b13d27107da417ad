/*
 * test-buf - the growable byte buffer: appends, printf, NUL termination,
 * steal, reset, and refusal of sizes that would overflow.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../formats/buf.h"
#include "test.h"

int main(void)
{
	struct buf b = BUF_INIT;
	size_t len = 99, i;
	char *p;
	int good = 1;

	ok(b.data == NULL && b.len == 0, "starts empty");
	ok(buf_append(&b, "abc", 3) == 0 && b.len == 3, "append");
	ok(b.data[3] == '\0', "NUL after data");
	ok(buf_putc(&b, 'd') == 0 && strcmp(b.data, "abcd") == 0, "putc");
	ok(buf_printf(&b, "-%d-%s", 42, "x") == 0, "printf");
	is_str(b.data, "abcd-42-x", "printf appends");
	ok(buf_append(&b, NULL, 0) == 0 && b.len == 9, "empty append");
	for (i = 0; i < 100000; i++)
		good &= buf_putc(&b, (char)('a' + i % 26)) == 0;
	ok(good && b.len == 100009 && b.data[b.len] == '\0', "grows to 100009");
	ok(b.data[9] == 'a' && b.data[100008] == 'a' + (99999 % 26),
	   "contents kept while growing");

	ok(buf_reserve(&b, SIZE_MAX) == -1, "reserve refuses SIZE_MAX");
	ok(buf_reserve(&b, SIZE_MAX - b.len) == -1,
	   "reserve refuses a size that overflows with the NUL");
	ok(buf_append(&b, "x", SIZE_MAX - 1) == -1 && b.len == 100009,
	   "a failed append leaves the contents");

	buf_reset(&b);
	ok(b.len == 0 && b.data != NULL && b.data[0] == '\0',
	   "reset keeps memory");
	buf_append(&b, "hello", 5);
	p = buf_steal(&b, &len);
	ok(p != NULL && len == 5 && strcmp(p, "hello") == 0, "steal");
	ok(b.data == NULL && b.len == 0 && b.cap == 0,
	   "stolen buffer is empty");
	free(p);
	p = buf_steal(&b, &len);
	ok(p != NULL && len == 0 && p[0] == '\0', "steal of empty gives \"\"");
	free(p);

	ok(buf_printf(&b, "%s", "") == 0 && b.len == 0 && b.data[0] == '\0',
	   "printf of nothing still terminates");
	buf_free(&b);
	buf_free(&b);
	buf_free(NULL);
	ok(b.data == NULL, "free twice and NULL are safe");
	return test_done();
}
