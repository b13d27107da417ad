/*
 * mem - advice to the kernel about large fresh buffers
 *
 * Filling a million-record buffer touches tens of megabytes of fresh memory;
 * with a page fault per 4 KiB page the faults cost more than the work.  Both
 * calls are advice only: failure is ignored, and buffers too small to gain
 * are left alone.
 */
#ifndef MXSYNC_MEM_H
#define MXSYNC_MEM_H

#include <stddef.h>

/* mem_huge - transparent huge pages for the 2 MiB-aligned inside of p */
void mem_huge(void *p, size_t len);

/*
 * mem_populate - map the page-aligned inside of p in with one call instead
 * of a fault per page; write when it is about to be written, not read
 */
void mem_populate(const void *p, size_t len, int write);

#endif
