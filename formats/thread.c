/*
 * thread - one job on a second thread, with every signal blocked (see
 * thread.h)
 */
#include <signal.h>

#include "thread.h"

static void *thread_main(void *arg)
{
	struct thread *t = arg;

	t->fn(t->arg);
	return NULL;
}

void thread_start(struct thread *t, void (*fn)(void *arg), void *arg)
{
	sigset_t all, old;

	t->fn = fn;
	t->arg = arg;
	t->started = 0;
	sigfillset(&all);
	if (pthread_sigmask(SIG_SETMASK, &all, &old) == 0) {
		t->started = pthread_create(&t->th, NULL, thread_main, t) == 0;
		(void)pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	if (!t->started)
		fn(arg);
}

void thread_wait(struct thread *t)
{
	if (t->started) {
		(void)pthread_join(t->th, NULL);
		t->started = 0;
	}
}
