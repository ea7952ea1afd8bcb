/*
 * prism_packet: raw Ethernet frame I/O on one interface with an AF_PACKET socket, for the
 * embedded switch's CPU port (and for tests that play the data plane).
 *
 *   open(ifname, {netns?, rcvbuf?}) -> handle {fd, ifindex}   (a tagged, napi_wrap'd object)
 *   send(handle, frame) -> bytes written
 *   startReceive(handle, onFrames(frames: Buffer[]), onError?(err))  / stopReceive(handle)
 *   setRef(handle, ref)        whether a receiving handle keeps the event loop alive (default yes)
 *   stats(handle) -> {received, sent, dropped, truncated, errors, receiving, closed}
 *   close(handle)              idempotent; the GC finalizer and an env cleanup hook also close
 *
 * The socket is socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), created inside
 * `netns` when given (the calling thread setns()es there for socket + ioctl + bind and back; if
 * it cannot return the process aborts), then bound with sll_protocol = ETH_P_ALL and
 * sll_ifindex. Creating it with protocol 0 and naming ETH_P_ALL only in bind() means it never
 * queues frames from other interfaces in the window between socket() and bind().
 * PACKET_IGNORE_OUTGOING is set (frames transmitted on the interface, ours included, are not
 * read back), PACKET_AUXDATA is on (so VLAN tags the kernel moved into skb metadata are put back:
 * frames are read as they were on the wire), SO_RCVBUFFORCE (SO_RCVBUF when not permitted).
 *
 * Receiving runs on the Node event loop: a uv_poll_t watches the fd; on readability one
 * recvmmsg(MSG_DONTWAIT) reads up to RX_BATCH frames, each is copied into its own Buffer and
 * onFrames is called once with the array (via napi_make_callback, so microtasks run after it).
 * The poll is level-triggered: if more frames wait, the next loop iteration reads them, so a
 * flood never starves timers and other I/O. While receiving, the handle holds a strong
 * reference to itself (it cannot be collected while it may still call back). An exception
 * thrown by a callback becomes an uncaught exception (napi_fatal_exception).
 *
 * Errors follow napi-util.h: Error{code: 'E...', errno, syscall}, TypeError 'ERR_INVALID_ARG_TYPE',
 * RangeError 'ERR_OUT_OF_RANGE'. A closed handle throws EBADF.
 */
#include "napi-util.h"
#include "netns-util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#define RX_BATCH 64
/* Largest frame read without truncation: a 64 KiB GSO skb plus its MAC header, with room. */
#define RX_SLOT_BYTES (65536 + 512)
#define DEFAULT_RCVBUF (4 * 1024 * 1024)
/* How long send() keeps retrying a full socket / device queue before it throws. */
#define SEND_RETRY_NS (5 * 1000 * 1000)
#define VLAN_TAG_LEN 4

/* ------------------------------------------------------------------------------------------ */
/* handles                                                                                    */

static const napi_type_tag PKT_TAG = {0x70726973d5b0c1a2ULL, 0x7061636b65747363ULL};

/* A uv_poll_t lives in its own allocation: it is freed by its close callback, which may run
 * after the handle it served has been finalized. `hook` is set only when the env cleanup hook
 * closed it, and is then removed (telling Node that cleanup finished) when the close completes. */
typedef struct {
  uv_poll_t poll;
  napi_async_cleanup_hook_handle hook;
} poll_box;

typedef struct {
  napi_env env;
  int fd;          /* -1 once closed */
  int ifindex;
  poll_box *box;   /* non-NULL while receiving */
  napi_ref on_frames;
  napi_ref on_error;
  napi_ref self;   /* strong reference to the handle object while receiving */
  napi_async_context actx;
  bool unref;      /* setRef(false): a receiving handle does not keep the loop alive */
  bool teardown;   /* the env is shutting down: napi refs are no longer ours to delete */
  napi_async_cleanup_hook_handle hook;
  /* counters */
  uint64_t received, sent, kernel_drops, truncated, errors;
  /* receive buffers (allocated on first startReceive) */
  uint8_t *rx;
  struct mmsghdr *msgs;
  struct iovec *iov;
  uint8_t *cmsg;
} pkt_handle;

#define CMSG_SLOT CMSG_SPACE(sizeof(struct tpacket_auxdata))

static void box_closed(uv_handle_t *p) {
  poll_box *box = (poll_box *)p;
  if (box->hook) napi_remove_async_cleanup_hook(box->hook);
  free(box);
}

/* Stop the uv poll (if any); `hook` is handed to the box to be removed when its close ends. */
static void poll_release(pkt_handle *h, napi_async_cleanup_hook_handle hook) {
  poll_box *box = h->box;
  if (!box) {
    if (hook) napi_remove_async_cleanup_hook(hook);
    return;
  }
  h->box = NULL;
  box->hook = hook;
  uv_poll_stop(&box->poll);
  uv_close((uv_handle_t *)&box->poll, box_closed);
}

/* Drop the JS-side receive state (callbacks, self reference, async context). */
static void receive_refs_release(pkt_handle *h) {
  if (h->teardown) {
    h->on_frames = h->on_error = h->self = NULL;
    h->actx = NULL;
    return;
  }
  if (h->on_frames) napi_delete_reference(h->env, h->on_frames);
  if (h->on_error) napi_delete_reference(h->env, h->on_error);
  if (h->self) napi_delete_reference(h->env, h->self);
  if (h->actx) napi_async_destroy(h->env, h->actx);
  h->on_frames = h->on_error = h->self = NULL;
  h->actx = NULL;
}

static void read_kernel_drops(pkt_handle *h) {
  if (h->fd < 0) return;
  struct tpacket_stats st;
  socklen_t len = sizeof st;
  /* Reading PACKET_STATISTICS resets the kernel's counters: accumulate. */
  if (getsockopt(h->fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0) h->kernel_drops += st.tp_drops;
}

static void rx_buffers_free(pkt_handle *h) {
  free(h->rx);
  free(h->msgs);
  free(h->iov);
  free(h->cmsg);
  h->rx = NULL;
  h->msgs = NULL;
  h->iov = NULL;
  h->cmsg = NULL;
}

/* Also safe from inside a receive callback: on_readable touches no buffer after calling JS. */
static void handle_close(pkt_handle *h) {
  poll_release(h, NULL);
  receive_refs_release(h);
  if (h->fd >= 0) {
    read_kernel_drops(h);
    close(h->fd);
    h->fd = -1;
  }
  rx_buffers_free(h);
}

/* Env teardown (process exit, worker end): stop polling and close the fd before the loop goes. */
static void env_cleanup(napi_async_cleanup_hook_handle hook, void *arg) {
  pkt_handle *h = arg;
  h->hook = NULL;
  h->teardown = true;
  receive_refs_release(h);
  poll_release(h, hook); /* removes `hook` now, or when the poll's close has completed */
  if (h->fd >= 0) {
    close(h->fd);
    h->fd = -1;
  }
}

static void handle_finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  pkt_handle *h = data;
  if (h->hook) {
    napi_remove_async_cleanup_hook(h->hook);
    h->hook = NULL;
  }
  /* A receiving handle is strongly referenced, so here it is not receiving unless the env is
   * going away (then env_cleanup has already stopped it). */
  handle_close(h);
  free(h);
  (void)env;
}

static pkt_handle *get_handle(napi_env env, napi_value v, const char *name) {
  napi_valuetype t;
  if (!nu_typeof(env, v, &t)) return NULL;
  bool tagged = false;
  if (t == napi_object) NU_CALL(env, napi_check_object_type_tag(env, v, &PKT_TAG, &tagged));
  if (!tagged) {
    nu_throw_type_error(env, "The \"%s\" argument must be a packet socket handle from open(). Received %s", name,
                        nu_typeof_name(t));
    return NULL;
  }
  void *data = NULL;
  NU_CALL(env, napi_unwrap(env, v, &data));
  return data;
}

/* ------------------------------------------------------------------------------------------ */
/* open / close                                                                               */

/* socket + SIOCGIFINDEX + bind, in the current namespace. Returns fd or -errno (*op set). */
static int open_bound(const char *ifname, int *ifindex, const char **op) {
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *op = "socket(AF_PACKET)";
    return -errno;
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, ifname, strlen(ifname)); /* length checked by the caller */
  if (ioctl(fd, SIOCGIFINDEX, &ifr) < 0) {
    int e = errno;
    close(fd);
    *op = "ioctl(SIOCGIFINDEX)";
    return -e;
  }
  struct sockaddr_ll sll;
  memset(&sll, 0, sizeof sll);
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ALL);
  sll.sll_ifindex = ifr.ifr_ifindex;
  if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) {
    int e = errno;
    close(fd);
    *op = "bind(AF_PACKET)";
    return -e;
  }
  *ifindex = ifr.ifr_ifindex;
  return fd;
}

static napi_value js_open(napi_env env, napi_callback_info info) {
  NU_ARGS(env, info, 2);
  char *ifname = nu_arg_string(env, argv[0], "ifname");
  if (!ifname) return NULL;
  size_t n = strlen(ifname);
  if (n == 0 || n >= IFNAMSIZ) {
    nu_throw_range_error(env, "The value of \"ifname\" is out of range. It must be 1..%d bytes long. Received %zu bytes",
                         IFNAMSIZ - 1, n);
    free(ifname);
    return NULL;
  }
  bool present;
  char *netns = NULL;
  uint32_t rcvbuf = DEFAULT_RCVBUF;
  if (!nu_arg_options(env, argv[1], "options", &present) ||
      (present && (!nu_opt_string(env, argv[1], "netns", &netns) ||
                   !nu_opt_u32(env, argv[1], "rcvbuf", DEFAULT_RCVBUF, &rcvbuf)))) {
    free(ifname);
    free(netns);
    return NULL;
  }
  if (rcvbuf > INT_MAX / 2) rcvbuf = INT_MAX / 2;

  int orig;
  if (!ns_enter(env, netns, &orig)) {
    free(ifname);
    free(netns);
    return NULL;
  }
  int ifindex = 0;
  const char *op = NULL;
  int fd = open_bound(ifname, &ifindex, &op);
  ns_leave(orig);
  free(netns);
  if (fd < 0) {
    nu_throw_errno(env, -fd, op, ifname);
    free(ifname);
    return NULL;
  }
  free(ifname);

  int one = 1;
  if (setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) < 0 ||
      setsockopt(fd, SOL_PACKET, PACKET_AUXDATA, &one, sizeof one) < 0) {
    int e = errno;
    close(fd);
    nu_throw_errno(env, e, "setsockopt(SOL_PACKET)", NULL);
    return NULL;
  }
  int rb = (int)rcvbuf;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rb, sizeof rb) < 0 &&
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rb, sizeof rb) < 0) {
    int e = errno;
    close(fd);
    nu_throw_errno(env, e, "setsockopt(SO_RCVBUF)", NULL);
    return NULL;
  }

  pkt_handle *h = calloc(1, sizeof *h);
  if (!h) {
    close(fd);
    nu_throw_errno(env, ENOMEM, "malloc", NULL);
    return NULL;
  }
  h->env = env;
  h->fd = fd;
  h->ifindex = ifindex;

  napi_value obj;
  if (napi_create_object(env, &obj) != napi_ok || napi_wrap(env, obj, h, handle_finalize, NULL, NULL) != napi_ok) {
    close(fd);
    free(h);
    nu_throw_napi_status(env, napi_generic_failure, "napi_wrap");
    return NULL;
  }
  /* From here the finalizer owns h (and the fd). */
  NU_CALL(env, napi_type_tag_object(env, obj, &PKT_TAG));
  NU_CALL(env, napi_add_async_cleanup_hook(env, env_cleanup, h, &h->hook));
  napi_value jfd, jidx;
  NU_CALL(env, napi_create_int32(env, fd, &jfd));
  NU_CALL(env, napi_create_int32(env, ifindex, &jidx));
  napi_property_descriptor props[] = {
      {"fd", NULL, NULL, NULL, NULL, jfd, napi_enumerable, NULL},
      {"ifindex", NULL, NULL, NULL, NULL, jidx, napi_enumerable, NULL},
  };
  NU_CALL(env, napi_define_properties(env, obj, 2, props));
  return obj;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  NU_ARGS(env, info, 1);
  pkt_handle *h = get_handle(env, argv[0], "handle");
  if (!h) return NULL;
  handle_close(h);
  if (h->hook) {
    napi_remove_async_cleanup_hook(h->hook);
    h->hook = NULL;
  }
  return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* send                                                                                       */

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static napi_value js_send(napi_env env, napi_callback_info info) {
  NU_ARGS(env, info, 2);
  pkt_handle *h = get_handle(env, argv[0], "handle");
  if (!h) return NULL;
  void *data;
  size_t len;
  if (!nu_arg_bytes(env, argv[1], "frame", &data, &len)) return NULL;
  if (h->fd < 0) {
    nu_throw_errno(env, EBADF, "send", "the packet socket is closed");
    return NULL;
  }
  int64_t deadline = 0;
  for (;;) {
    ssize_t n = send(h->fd, len ? data : "", len, MSG_DONTWAIT);
    if (n >= 0) {
      h->sent++;
      napi_value r;
      NU_CALL(env, napi_create_int64(env, n, &r));
      return r;
    }
    int e = errno;
    if (e == EINTR) continue;
    /* EAGAIN: the socket's send buffer is full; ENOBUFS: the device queue dropped the frame
     * (a veth whose peer backlog is full). Both clear quickly: retry for a few ms. */
    if (e != EAGAIN && e != EWOULDBLOCK && e != ENOBUFS) {
      nu_throw_errno(env, e, "send", NULL);
      return NULL;
    }
    int64_t now = now_ns();
    if (!deadline) deadline = now + SEND_RETRY_NS;
    if (now >= deadline) {
      nu_throw_errno(env, e, "send", "still failing after retrying for 5 ms");
      return NULL;
    }
    if (e == ENOBUFS) {
      struct timespec ts = {0, 50 * 1000};
      nanosleep(&ts, NULL);
    } else {
      struct pollfd pfd = {.fd = h->fd, .events = POLLOUT};
      int ms = (int)((deadline - now + 999999) / 1000000);
      poll(&pfd, 1, ms > 0 ? ms : 1);
    }
  }
}

/* ------------------------------------------------------------------------------------------ */
/* receive                                                                                    */

static bool rx_buffers(pkt_handle *h) {
  if (h->rx) return true;
  h->rx = malloc((size_t)RX_BATCH * RX_SLOT_BYTES); /* untouched pages cost nothing */
  h->msgs = calloc(RX_BATCH, sizeof *h->msgs);
  h->iov = calloc(RX_BATCH, sizeof *h->iov);
  h->cmsg = calloc(RX_BATCH, CMSG_SLOT);
  if (!h->rx || !h->msgs || !h->iov || !h->cmsg) {
    rx_buffers_free(h);
    return false;
  }
  return true;
}

/* Call a JS callback held in `ref` with one argument; an exception becomes uncaught. */
static void call_js(pkt_handle *h, napi_ref ref, napi_value arg) {
  napi_env env = h->env;
  napi_value fn, recv;
  if (napi_get_reference_value(env, ref, &fn) != napi_ok || !fn) return;
  if (!h->self || napi_get_reference_value(env, h->self, &recv) != napi_ok || !recv) napi_get_undefined(env, &recv);
  napi_value result;
  napi_status st = napi_make_callback(env, h->actx, recv, fn, 1, &arg, &result);
  if (st != napi_ok) {
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) {
      napi_value exc;
      if (napi_get_and_clear_last_exception(env, &exc) == napi_ok) napi_fatal_exception(env, exc);
    }
  }
}

/* Build an errno Error the way nu_throw_errno does, but as a value. */
static napi_value make_errno_error(napi_env env, int err, const char *op) {
  nu_throw_errno(env, err, op, NULL);
  napi_value exc = NULL;
  if (napi_get_and_clear_last_exception(env, &exc) != napi_ok) return NULL;
  return exc;
}

static void report_error(pkt_handle *h, int err, const char *op) {
  h->errors++;
  if (!h->on_error) return;
  napi_handle_scope scope;
  if (napi_open_handle_scope(h->env, &scope) != napi_ok) return;
  napi_value e = make_errno_error(h->env, err, op);
  if (e) call_js(h, h->on_error, e); /* h may be closed (not freed) afterwards */
  napi_close_handle_scope(h->env, scope);
}

/* Copy frame i into a new Buffer, putting back a VLAN tag the kernel moved into metadata. */
static napi_value frame_buffer(napi_env env, pkt_handle *h, int i, size_t len) {
  const uint8_t *data = h->rx + (size_t)i * RX_SLOT_BYTES;
  struct msghdr *mh = &h->msgs[i].msg_hdr;
  const struct tpacket_auxdata *aux = NULL;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
    if (c->cmsg_level == SOL_PACKET && c->cmsg_type == PACKET_AUXDATA &&
        c->cmsg_len >= CMSG_LEN(sizeof(struct tpacket_auxdata)))
      aux = (const struct tpacket_auxdata *)CMSG_DATA(c);
  }
  napi_value buf;
  void *dst;
  bool vlan = aux && (aux->tp_vlan_tci != 0 || (aux->tp_status & TP_STATUS_VLAN_VALID)) && len >= 12;
  if (!vlan) {
    buf = nu_buffer_copy(env, data, len);
    /* A frame sent by a local stack with checksum offload (CHECKSUM_PARTIAL) carries only the
     * pseudo-header sum in its L4 checksum field: flag it so the reader can finish the sum. */
    if (buf && aux && (aux->tp_status & TP_STATUS_CSUMNOTREADY)) {
      napi_value t;
      if (napi_get_boolean(env, true, &t) != napi_ok || napi_set_named_property(env, buf, "csumNotReady", t) != napi_ok) return NULL;
    }
    return buf;
  }
  if (napi_create_buffer(env, len + VLAN_TAG_LEN, &dst, &buf) != napi_ok) return NULL;
  uint8_t *d = dst;
  uint16_t tpid = (aux->tp_status & TP_STATUS_VLAN_TPID_VALID) ? aux->tp_vlan_tpid : ETH_P_8021Q;
  memcpy(d, data, 12);
  d[12] = (uint8_t)(tpid >> 8);
  d[13] = (uint8_t)tpid;
  d[14] = (uint8_t)(aux->tp_vlan_tci >> 8);
  d[15] = (uint8_t)aux->tp_vlan_tci;
  memcpy(d + 16, data + 12, len - 12);
  return buf;
}

static void on_readable(uv_poll_t *p, int status, int events) {
  (void)events;
  poll_box *box = (poll_box *)p;
  pkt_handle *h = box->poll.data;
  if (!h || h->fd < 0 || h->box != box) return;
  if (status < 0) {
    /* libuv reports POLLERR as UV_EBADF and stops the handle. On a packet socket POLLERR means a
     * pending socket error (ENETDOWN when the interface goes down or away): fetch (and clear) it
     * with SO_ERROR, report it and keep receiving. */
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    if (status == UV_EBADF && fcntl(h->fd, F_GETFD) >= 0 && getsockopt(h->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 &&
        uv_poll_start(&box->poll, UV_READABLE, on_readable) == 0) {
      if (soerr) {
        report_error(h, soerr, "recv(SO_ERROR)");
      } else {
        /* POLLERR without sk_err: entries on the error queue (none are expected). Drain them so
         * the level-triggered poll does not spin. */
        char tmp[64];
        for (int i = 0; i < RX_BATCH && recv(h->fd, tmp, sizeof tmp, MSG_ERRQUEUE | MSG_DONTWAIT) >= 0; i++) {
        }
      }
      return;
    }
    /* The fd is unusable for polling: stop and report. */
    poll_release(h, NULL);
    report_error(h, -status, "uv_poll");
    if (!h->box) receive_refs_release(h); /* unless the error callback restarted receiving */
    return;
  }
  for (int i = 0; i < RX_BATCH; i++) {
    h->iov[i].iov_base = h->rx + (size_t)i * RX_SLOT_BYTES;
    h->iov[i].iov_len = RX_SLOT_BYTES;
    memset(&h->msgs[i], 0, sizeof h->msgs[i]);
    h->msgs[i].msg_hdr.msg_iov = &h->iov[i];
    h->msgs[i].msg_hdr.msg_iovlen = 1;
    h->msgs[i].msg_hdr.msg_control = h->cmsg + (size_t)i * CMSG_SLOT;
    h->msgs[i].msg_hdr.msg_controllen = CMSG_SLOT;
  }
  int n;
  do n = recvmmsg(h->fd, h->msgs, RX_BATCH, MSG_DONTWAIT | MSG_TRUNC, NULL);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    int e = errno;
    if (e == EAGAIN || e == EWOULDBLOCK) return;
    /* e.g. ENETDOWN once when the interface goes down or away; the socket stays usable. */
    report_error(h, e, "recvmmsg");
    return;
  }
  if (n == 0) return;

  napi_env env = h->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value arr;
  if (napi_create_array(env, &arr) != napi_ok) goto out;
  uint32_t k = 0;
  for (int i = 0; i < n; i++) {
    size_t len = h->msgs[i].msg_len;
    if ((h->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) || len > RX_SLOT_BYTES) {
      h->truncated++;
      continue;
    }
    napi_value b = frame_buffer(env, h, i, len);
    if (!b || napi_set_element(env, arr, k, b) != napi_ok) goto out;
    k++;
  }
  h->received += k;
  if (k == 0) goto out;
  /* Nothing of h is touched after the callback: it may stop or close the handle. */
  call_js(h, h->on_frames, arr);
out:
  if (nu_exception_pending(env)) {
    napi_value exc;
    if (napi_get_and_clear_last_exception(env, &exc) == napi_ok) napi_fatal_exception(env, exc);
  }
  napi_close_handle_scope(env, scope);
}

static bool arg_function(napi_env env, napi_value v, const char *name, bool optional) {
  napi_valuetype t;
  if (!nu_typeof(env, v, &t)) return false;
  if (t == napi_function || (optional && (t == napi_undefined || t == napi_null))) return true;
  nu_throw_type_error(env, "The \"%s\" argument must be of type function. Received %s", name, nu_typeof_name(t));
  return false;
}

static napi_value js_start_receive(napi_env env, napi_callback_info info) {
  NU_ARGS(env, info, 3);
  pkt_handle *h = get_handle(env, argv[0], "handle");
  if (!h) return NULL;
  if (!arg_function(env, argv[1], "onFrames", false) || !arg_function(env, argv[2], "onError", true)) return NULL;
  if (h->fd < 0) {
    nu_throw_errno(env, EBADF, "startReceive", "the packet socket is closed");
    return NULL;
  }
  if (h->box) {
    /* Already receiving: just swap the callbacks. */
    napi_ref f = NULL, e = NULL;
    NU_CALL(env, napi_create_reference(env, argv[1], 1, &f));
    if (!nu_is_nullish(env, argv[2])) NU_CALL(env, napi_create_reference(env, argv[2], 1, &e));
    if (h->on_frames) napi_delete_reference(env, h->on_frames);
    if (h->on_error) napi_delete_reference(env, h->on_error);
    h->on_frames = f;
    h->on_error = e;
    return NULL;
  }
  if (!rx_buffers(h)) {
    nu_throw_errno(env, ENOMEM, "malloc", "receive buffers");
    return NULL;
  }
  uv_loop_t *loop;
  NU_CALL(env, napi_get_uv_event_loop(env, &loop));
  poll_box *box = calloc(1, sizeof *box);
  if (!box) {
    nu_throw_errno(env, ENOMEM, "malloc", NULL);
    return NULL;
  }
  int r = uv_poll_init(loop, &box->poll, h->fd);
  if (r < 0) {
    free(box);
    nu_throw_errno(env, -r, "uv_poll_init", NULL);
    return NULL;
  }
  box->poll.data = h;
  napi_value name;
  if (napi_create_reference(env, argv[1], 1, &h->on_frames) != napi_ok ||
      (!nu_is_nullish(env, argv[2]) && napi_create_reference(env, argv[2], 1, &h->on_error) != napi_ok) ||
      napi_create_reference(env, argv[0], 1, &h->self) != napi_ok ||
      napi_create_string_utf8(env, "PrismPacketReceive", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_async_init(env, argv[0], name, &h->actx) != napi_ok) {
    receive_refs_release(h);
    uv_close((uv_handle_t *)&box->poll, box_closed);
    nu_throw_napi_status(env, napi_generic_failure, "startReceive");
    return NULL;
  }
  r = uv_poll_start(&box->poll, UV_READABLE, on_readable);
  if (r < 0) {
    receive_refs_release(h);
    uv_close((uv_handle_t *)&box->poll, box_closed);
    nu_throw_errno(env, -r, "uv_poll_start", NULL);
    return NULL;
  }
  if (h->unref) uv_unref((uv_handle_t *)&box->poll);
  h->box = box;
  return NULL;
}

static napi_value js_stop_receive(napi_env env, napi_callback_info info) {
  NU_ARGS(env, info, 1);
  pkt_handle *h = get_handle(env, argv[0], "handle");
  if (!h) return NULL;
  poll_release(h, NULL);
  receive_refs_release(h);
  return NULL;
}

static napi_value js_set_ref(napi_env env, napi_callback_info info) {
  NU_ARGS(env, info, 2);
  pkt_handle *h = get_handle(env, argv[0], "handle");
  if (!h) return NULL;
  napi_valuetype t;
  if (!nu_typeof(env, argv[1], &t)) return NULL;
  if (t != napi_boolean) {
    nu_throw_type_error(env, "The \"ref\" argument must be of type boolean. Received %s", nu_typeof_name(t));
    return NULL;
  }
  bool ref;
  NU_CALL(env, napi_get_value_bool(env, argv[1], &ref));
  h->unref = !ref;
  if (h->box) {
    if (ref)
      uv_ref((uv_handle_t *)&h->box->poll);
    else
      uv_unref((uv_handle_t *)&h->box->poll);
  }
  return NULL;
}

static napi_value js_stats(napi_env env, napi_callback_info info) {
  NU_ARGS(env, info, 1);
  pkt_handle *h = get_handle(env, argv[0], "handle");
  if (!h) return NULL;
  read_kernel_drops(h);
  napi_value o, b;
  NU_CALL(env, napi_create_object(env, &o));
  if (!nu_set_i64(env, o, "received", (int64_t)h->received) || !nu_set_i64(env, o, "sent", (int64_t)h->sent) ||
      !nu_set_i64(env, o, "dropped", (int64_t)h->kernel_drops) ||
      !nu_set_i64(env, o, "truncated", (int64_t)h->truncated) || !nu_set_i64(env, o, "errors", (int64_t)h->errors))
    return NULL;
  NU_CALL(env, napi_get_boolean(env, h->box != NULL, &b));
  if (!nu_set(env, o, "receiving", b)) return NULL;
  NU_CALL(env, napi_get_boolean(env, h->fd < 0, &b));
  if (!nu_set(env, o, "closed", b)) return NULL;
  return o;
}

/* ------------------------------------------------------------------------------------------ */

static napi_value init(napi_env env, napi_value exports) {
  static const struct {
    const char *name;
    napi_callback cb;
  } fns[] = {
      {"open", js_open},
      {"close", js_close},
      {"send", js_send},
      {"startReceive", js_start_receive},
      {"stopReceive", js_stop_receive},
      {"setRef", js_set_ref},
      {"stats", js_stats},
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++)
    if (!nu_export(env, exports, fns[i].name, fns[i].cb)) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
