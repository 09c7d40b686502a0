// Pinning a pool thread to one CPU; see ckernels.h.
#define _GNU_SOURCE
#include "ckernels.h"

#include <sched.h>

int ck_pin_to_allowed_cpu(size_t index) {
  cpu_set_t allowed;
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return -1;
  int count = CPU_COUNT(&allowed);
  if (count < 2) return -1;
  size_t wanted = index % (size_t)count;
  for (int cpu = 0, seen = 0; cpu < CPU_SETSIZE; cpu++) {
    if (!CPU_ISSET(cpu, &allowed)) continue;
    if ((size_t)seen++ != wanted) continue;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    return sched_setaffinity(0, sizeof one, &one) == 0 ? cpu : -1;
  }
  return -1;
}
