#include <zmq.h>
/* The reactor wakes its poll with an eventfd. */
#include <sys/eventfd.h>
#include <pthread.h>

/* Names the calling thread (shows in top, perf, gdb). Declared here because
   glibc hides pthread_setname_np without _GNU_SOURCE. */
extern int pthread_setname_np(pthread_t thread, const char *name);
static inline void exam_name_this_thread(const char *name) {
    pthread_setname_np(pthread_self(), name);
}
