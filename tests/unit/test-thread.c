/*
 * test-thread - thread_start() runs the job once, on a thread that blocks
 * every signal, and thread_wait() waits for it
 */
#include <pthread.h>
#include <signal.h>
#include <string.h>

#include "../../formats/thread.h"
#include "test.h"

struct test_job {
	pthread_t self;
	int runs, term_blocked, usr1_blocked;
};

static void test_job_run(void *arg)
{
	struct test_job *j = arg;
	sigset_t now;

	j->self = pthread_self();
	pthread_sigmask(SIG_SETMASK, NULL, &now);
	j->term_blocked = sigismember(&now, SIGTERM) == 1;
	j->usr1_blocked = sigismember(&now, SIGUSR1) == 1;
	j->runs++;
}

int main(void)
{
	struct test_job j;
	struct thread t;
	sigset_t now;

	memset(&j, 0, sizeof(j));
	thread_start(&t, test_job_run, &j);
	thread_wait(&t);
	ok(j.runs == 1, "the job ran once");
	ok(!pthread_equal(j.self, pthread_self()), "on another thread");
	ok(j.term_blocked && j.usr1_blocked, "with every signal blocked");
	pthread_sigmask(SIG_SETMASK, NULL, &now);
	ok(sigismember(&now, SIGTERM) == 0, "the caller's mask is as before");
	thread_wait(&t);
	ok(j.runs == 1, "a second wait is a no-op");
	return test_done();
}
