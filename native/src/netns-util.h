/*
 * Running one call inside another network namespace, for the calling thread only: enter with
 * setns(), do the call, come back. Shared by the addons (sockets and netlink keep the namespace
 * they were created in, so only their creation needs it).
 */
#ifndef PRISM_NETNS_UTIL_H
#define PRISM_NETNS_UTIL_H

#include "napi-util.h"

#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Enter `spec` (a name under /var/run/netns, or a path if it contains '/'); *orig = -1 when
 * spec is NULL. On failure throws and returns false (nothing left open). */
static bool ns_enter(napi_env env, const char *spec, int *orig) {
  *orig = -1;
  if (!spec) return true;
  char path[PATH_MAX];
  if (strchr(spec, '/'))
    snprintf(path, sizeof path, "%s", spec);
  else
    snprintf(path, sizeof path, "/var/run/netns/%s", spec);
  int target = open(path, O_RDONLY | O_CLOEXEC);
  if (target < 0) {
    nu_throw_errno(env, errno, "open(netns)", path);
    return false;
  }
  int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (self < 0) {
    int e = errno;
    close(target);
    nu_throw_errno(env, e, "open(/proc/thread-self/ns/net)", NULL);
    return false;
  }
  if (setns(target, CLONE_NEWNET) < 0) {
    int e = errno;
    close(target);
    close(self);
    nu_throw_errno(env, e, "setns", path);
    return false;
  }
  close(target);
  *orig = self;
  return true;
}

/* Back to the namespace ns_enter() left. */
static void ns_leave(int orig) {
  if (orig < 0) return;
  if (setns(orig, CLONE_NEWNET) < 0) {
    /* The JS thread would silently stay in another namespace: that is not recoverable. */
    fprintf(stderr, "prism: cannot return to the original network namespace: %s\n", strerror(errno));
    abort();
  }
  close(orig);
}

#endif
