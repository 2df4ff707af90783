#include <zmq.h>
/* The reactor wakes its poll with an eventfd. */
#include <sys/eventfd.h>
