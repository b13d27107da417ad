/*
 * mem - advice to the kernel about large fresh buffers
 *
 * Filling a million-record buffer touches tens of megabytes of fresh memory;
 * with transparent huge pages a 2 MiB page takes one fault and one TLB entry
 * instead of 512.  Advice only: failure is ignored, and buffers too small to
 * gain are left alone.  Build with -DMEM_HUGE=0 to switch it off (make
 * bench compares both; see README "Scale").
 */
#ifndef MXSYNC_MEM_H
#define MXSYNC_MEM_H

#include <stddef.h>

/* mem_huge - transparent huge pages for the 2 MiB-aligned inside of p */
void mem_huge(void *p, size_t len);

#endif
