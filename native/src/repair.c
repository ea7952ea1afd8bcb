/*
 * prism_repair: TCP connection hand-off with Linux TCP_REPAIR (CAP_NET_ADMIN), fd based.
 *
 *   restore(state, opts?: {netns?, localIp?}) -> fd     a connected socket, still in repair mode
 *   leaveRepair(fd, {windowProbe})                      TCP_REPAIR = 0 (probe) or -1 (no probe)
 *   freeze(fd)                                          TCP_REPAIR = 1 on a live socket
 *   dump(fd) -> state                                   the frozen socket's state + unread bytes
 *   closeSilently(fd)                                   repair mode (if not yet) + close(): no FIN/RST
 *   isRepair(fd) -> boolean
 *   queues(fd) -> {outq, notsent, inq}                  SIOCOUTQ / SIOCOUTQNSD / SIOCINQ
 *   tcpInfo(fd) -> {...}                                a few TCP_INFO fields
 *   peek(fd, max) -> Buffer | null                      recv(MSG_PEEK|MSG_DONTWAIT) (not in repair mode)
 *   recv(fd, max) -> Buffer | null                      recv(MSG_DONTWAIT); both: null on EAGAIN, empty at EOF
 *   listen(ip, port, opts?: {netns?, backlog?}) -> fd   a TCP listener (tests, in-process demos)
 *
 * The kernel facts this relies on (net/ipv4/tcp.c, tcp_output.c, tcp_input.c, Linux 6.x; see
 * docs/native.md for the whole list):
 *   - TCP_REPAIR 1 / 0 / -1 (TCP_REPAIR_OFF_NO_WP); 0 calls tcp_send_window_probe(). Needs
 *     CAP_NET_ADMIN in the socket's netns and a non-listening socket. Repair mode sets
 *     sk_reuse = SK_FORCE_REUSE, so bind() succeeds on a port a listener holds.
 *   - TCP_QUEUE_SEQ only while sk_state == TCP_CLOSE (before connect); for the send queue it sets
 *     write_seq (refused once the retransmit queue is non-empty), for the receive queue rcv_nxt
 *     and copied_seq. connect() in repair mode runs tcp_connect_init() (snd_una = snd_nxt =
 *     write_seq, rcv_wup = copied_seq = rcv_nxt) then tcp_finish_connect(): ESTABLISHED, no SYN.
 *     tcp_v4_connect() leaves write_seq and tsoffset alone in repair mode, but sets tcp_usec_ts
 *     from the route: TCP_TIMESTAMP is set after connect().
 *   - TCP_REPAIR_OPTIONS only in ESTABLISHED: {TCPOPT_MSS, mss_clamp}, {TCPOPT_WINDOW,
 *     snd_wscale | rcv_wscale << 16} (each <= 14, else EFBIG; sets wscale_ok), {TCPOPT_SACK_PERM, 0},
 *     {TCPOPT_TIMESTAMP, 0}. Without TCPOPT_WINDOW the socket has wscale_ok = 0.
 *   - connect() in repair mode computes mss_cache from the default mss_clamp; TCP_REPAIR_OPTIONS
 *     changes mss_clamp only, so TCP_MAXSEG (user_mss) is set before connect() (see restore_steps).
 *   - TCP_TIMESTAMP (repair only): tsoffset = val - tcp_clock_ts(usec); since 6.7 the low bit of
 *     val selects usec resolution, and getsockopt returns the clock with the low bit = that flag.
 *     We keep millisecond TSvals: an odd TSval is rounded up to the next even value (never back).
 *   - send() in repair mode with TCP_REPAIR_QUEUE = TCP_RECV_QUEUE goes to tcp_send_rcvq(): the
 *     bytes land in the receive queue at rcv_nxt and advance it; one skb takes at most
 *     MAX_SKB_FRAGS pages and must fit the receive buffer (else ENOMEM): written in chunks.
 *   - recv() in repair mode is allowed only with MSG_PEEK; on TCP_RECV_QUEUE it peeks the unread
 *     receive queue from copied_seq.
 *   - TCP_REPAIR_WINDOW set: max_window >= snd_wnd, snd_wl1 not after rcv_nxt + rcv_wnd, rcv_wup
 *     not after rcv_nxt (else EINVAL); get needs repair mode (EPERM) and exactly sizeof(struct).
 *   - close() in repair mode: __tcp_close() calls tcp_disconnect(), which for tp->repair sets
 *     sk_err = ECONNABORTED and sends nothing (no FIN, no RST, no TIME_WAIT).
 *   - getsockopt(TCP_MAXSEG) in repair mode returns rx_opt.mss_clamp (the peer's MSS).
 *
 * Errors follow napi-util.h: Error{code: 'E...', errno, syscall: '<op>'} for a failed call
 * (ops such as 'setsockopt(TCP_REPAIR_WINDOW)'), TypeError 'ERR_INVALID_ARG_TYPE', RangeError
 * 'ERR_OUT_OF_RANGE'. restore() closes its socket on every failure path.
 */
#include "napi-util.h"
#include "netns-util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

/* TCP option kinds as include/net/tcp.h names them (what TCP_REPAIR_OPTIONS switches on). */
#define PR_TCPOPT_MSS 2
#define PR_TCPOPT_WINDOW 3
#define PR_TCPOPT_SACK_PERM 4
#define PR_TCPOPT_TIMESTAMP 8
#define PR_TCP_MAX_WSCALE 14

/* Receive-queue bytes restored per send(): 16 pages, under MAX_SKB_FRAGS (17) pages per skb. */
#define RCVQ_CHUNK (64 * 1024)
#define RCVQ_MIN_CHUNK 4096

/* socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC) in `netns` (NULL: the current one). -1 after throwing. */
static int socket_in(napi_env env, const char *netns) {
  int orig;
  if (!ns_enter(env, netns, &orig)) return -1;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int e = errno;
  ns_leave(orig);
  if (fd < 0) {
    nu_throw_errno(env, e, "socket(AF_INET, SOCK_STREAM)", NULL);
    return -1;
  }
  return fd;
}

/* ------------------------------------------------------------------------------------------ */
/* reading the state object                                                                    */

static bool prop_get(napi_env env, napi_value obj, const char *key, napi_value *out, bool *found) {
  NU_CALL_RET(env, napi_get_named_property(env, obj, key, out), false);
  napi_valuetype t;
  if (!nu_typeof(env, *out, &t)) return false;
  *found = t != napi_undefined && t != napi_null;
  return true;
}

/* state[key]: an integer within [min, max]; required unless `dflt` >= 0 (then the default). */
static bool prop_u32(napi_env env, napi_value obj, const char *key, uint32_t min, uint32_t max, int64_t dflt, uint32_t *out) {
  napi_value v;
  bool found;
  if (!prop_get(env, obj, key, &v, &found)) return false;
  char name[64];
  snprintf(name, sizeof name, "state.%s", key);
  if (!found) {
    if (dflt >= 0) {
      *out = (uint32_t)dflt;
      return true;
    }
    nu_throw_type_error(env, "The \"%s\" property must be of type number. Received undefined", name);
    return false;
  }
  int64_t n;
  if (!nu_arg_int64_range(env, v, name, min, max, &n)) return false;
  *out = (uint32_t)n;
  return true;
}

static bool prop_bool(napi_env env, napi_value obj, const char *key, bool *out) {
  napi_value v;
  bool found;
  if (!prop_get(env, obj, key, &v, &found)) return false;
  if (!found) {
    *out = false;
    return true;
  }
  napi_valuetype t;
  if (!nu_typeof(env, v, &t)) return false;
  if (t != napi_boolean) {
    nu_throw_type_error(env, "The \"state.%s\" property must be of type boolean. Received %s", key, nu_typeof_name(t));
    return false;
  }
  NU_CALL_RET(env, napi_get_value_bool(env, v, out), false);
  return true;
}

/* An IPv4 address given as 4 raw bytes (network order), as control.proto carries it. */
static bool value_ipv4(napi_env env, napi_value v, const char *name, struct in_addr *out) {
  void *data;
  size_t len;
  if (!nu_arg_bytes(env, v, name, &data, &len)) return false;
  if (len != 4) {
    nu_throw_range_error(env,
                         "The value of \"%s\" is out of range. It must be 4 bytes (an IPv4 address in network order; IPv6 "
                         "is not supported yet). Received %zu bytes",
                         name, len);
    return false;
  }
  memcpy(&out->s_addr, data, 4);
  return true;
}

static bool prop_ipv4(napi_env env, napi_value obj, const char *key, struct in_addr *out) {
  napi_value v;
  bool found;
  if (!prop_get(env, obj, key, &v, &found)) return false;
  char name[64];
  snprintf(name, sizeof name, "state.%s", key);
  if (!found) {
    nu_throw_type_error(env, "The \"%s\" property must be an instance of Buffer or Uint8Array. Received undefined", name);
    return false;
  }
  return value_ipv4(env, v, name, out);
}

typedef struct {
  struct in_addr client_ip, vip_ip;
  uint32_t client_port, vip_port;
  uint32_t snd_nxt, rcv_nxt, snd_una;
  uint32_t snd_wnd, rcv_wnd, snd_wscale, rcv_wscale, mss;
  bool sack_permitted, timestamps_enabled, wscale_ok;
  uint32_t ts_val, ts_recent;
  uint32_t snd_wl1, max_window, rcv_wup;
  const uint8_t *rcvq;
  size_t rcvq_len;
} repair_state;

static bool read_state(napi_env env, napi_value obj, repair_state *s) {
  napi_valuetype t;
  if (!nu_typeof(env, obj, &t)) return false;
  if (t != napi_object) {
    nu_throw_type_error(env, "The \"state\" argument must be of type object. Received %s", nu_typeof_name(t));
    return false;
  }
  memset(s, 0, sizeof *s);
  if (!prop_ipv4(env, obj, "clientIp", &s->client_ip) || !prop_u32(env, obj, "clientPort", 1, 65535, -1, &s->client_port) ||
      !prop_ipv4(env, obj, "vipIp", &s->vip_ip) || !prop_u32(env, obj, "vipPort", 1, 65535, -1, &s->vip_port) ||
      !prop_u32(env, obj, "sndNxt", 0, UINT32_MAX, -1, &s->snd_nxt) ||
      !prop_u32(env, obj, "rcvNxt", 0, UINT32_MAX, -1, &s->rcv_nxt) ||
      !prop_u32(env, obj, "sndUna", 0, UINT32_MAX, -1, &s->snd_una) ||
      !prop_u32(env, obj, "sndWnd", 0, UINT32_MAX, -1, &s->snd_wnd) ||
      !prop_u32(env, obj, "rcvWnd", 0, UINT32_MAX, -1, &s->rcv_wnd) ||
      !prop_u32(env, obj, "sndWscale", 0, PR_TCP_MAX_WSCALE, 0, &s->snd_wscale) ||
      !prop_u32(env, obj, "rcvWscale", 0, PR_TCP_MAX_WSCALE, 0, &s->rcv_wscale) ||
      !prop_u32(env, obj, "mss", 88, 65535, -1, &s->mss) || !prop_bool(env, obj, "sackPermitted", &s->sack_permitted) ||
      !prop_bool(env, obj, "timestampsEnabled", &s->timestamps_enabled) ||
      !prop_u32(env, obj, "tsVal", 0, UINT32_MAX, 0, &s->ts_val) ||
      !prop_u32(env, obj, "tsRecent", 0, UINT32_MAX, 0, &s->ts_recent) ||
      !prop_u32(env, obj, "sndWl1", 0, UINT32_MAX, -1, &s->snd_wl1) ||
      !prop_u32(env, obj, "maxWindow", 0, UINT32_MAX, -1, &s->max_window) ||
      !prop_u32(env, obj, "rcvWup", 0, UINT32_MAX, -1, &s->rcv_wup))
    return false;
  /* wscaleOk (control.proto wscale_ok): absent means "negotiated if a shift is non-zero". */
  napi_value wv;
  bool wfound;
  if (!prop_get(env, obj, "wscaleOk", &wv, &wfound)) return false;
  if (wfound) {
    if (!prop_bool(env, obj, "wscaleOk", &s->wscale_ok)) return false;
  } else {
    s->wscale_ok = s->snd_wscale != 0 || s->rcv_wscale != 0;
  }
  if (!s->wscale_ok && (s->snd_wscale || s->rcv_wscale)) {
    nu_throw_range_error(env, "state.sndWscale and state.rcvWscale must be 0 when state.wscaleOk is false. Received %u and %u",
                         s->snd_wscale, s->rcv_wscale);
    return false;
  }
  if (s->snd_nxt != s->snd_una) {
    nu_throw_range_error(env,
                         "The value of \"state.sndUna\" is out of range. It must equal state.sndNxt (%u): the send queue is "
                         "restored empty, so unacknowledged data cannot be handed over. Received %u",
                         s->snd_nxt, s->snd_una);
    return false;
  }
  napi_value q;
  bool found;
  if (!prop_get(env, obj, "recvQueue", &q, &found)) return false;
  if (found) {
    void *data;
    if (!nu_arg_bytes(env, q, "state.recvQueue", &data, &s->rcvq_len)) return false;
    s->rcvq = data;
    if (s->rcvq_len > (size_t)INT32_MAX) {
      nu_throw_range_error(env, "The value of \"state.recvQueue\" is out of range. It must be under 2 GiB");
      return false;
    }
  }
  return true;
}

/* ------------------------------------------------------------------------------------------ */
/* restore                                                                                      */

static int set_int(int fd, int level, int opt, int val) { return setsockopt(fd, level, opt, &val, sizeof val); }

/* The restore steps on an fd in repair mode; returns 0 or errno with *op set. */
static int restore_steps(int fd, const repair_state *s, const struct in_addr *local, const char **op) {
#define STEP(name, call)  \
  do {                    \
    if ((call) < 0) {     \
      *op = (name);       \
      return errno;       \
    }                     \
  } while (0)

  /* Lets bind() take a local address that is not (yet) configured on the host (a VIP). */
  STEP("setsockopt(IP_FREEBIND)", set_int(fd, SOL_IP, IP_FREEBIND, 1));
  /* No SO_REUSEADDR: it would set sk_reuse = SK_CAN_REUSE and so undo the SK_FORCE_REUSE that
   * TCP_REPAIR set, and bind() would then fail with EADDRINUSE next to the listener. */

  struct sockaddr_in la = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->vip_port), .sin_addr = *local};
  STEP("bind", bind(fd, (struct sockaddr *)&la, sizeof la));

  /* Sequence numbers: only in TCP_CLOSE. Everything sent is acknowledged, so the send queue is
   * empty and write_seq = snd_una = snd_nxt; the receive queue starts len(recvQueue) before rcv_nxt. */
  STEP("setsockopt(TCP_REPAIR_QUEUE, TCP_SEND_QUEUE)", set_int(fd, SOL_TCP, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE));
  STEP("setsockopt(TCP_QUEUE_SEQ, send)", set_int(fd, SOL_TCP, TCP_QUEUE_SEQ, (int)s->snd_nxt));
  STEP("setsockopt(TCP_REPAIR_QUEUE, TCP_RECV_QUEUE)", set_int(fd, SOL_TCP, TCP_REPAIR_QUEUE, TCP_RECV_QUEUE));
  STEP("setsockopt(TCP_QUEUE_SEQ, recv)", set_int(fd, SOL_TCP, TCP_QUEUE_SEQ, (int)(s->rcv_nxt - (uint32_t)s->rcvq_len)));

  /* TCP_REPAIR_OPTIONS sets mss_clamp but does not resync mss_cache, which connect() computed
   * from the default clamp (536): segments would stay at 524 bytes. With user_mss set before
   * connect(), tcp_connect_init() takes mss_clamp = user_mss and tcp_sync_mss() sizes mss_cache
   * from it. TCP_MAXSEG accepts 88..32767 only (larger MSSs exist on loopback: then skipped). */
  if (s->mss <= 32767) STEP("setsockopt(TCP_MAXSEG)", set_int(fd, SOL_TCP, TCP_MAXSEG, (int)s->mss));

  /* In repair mode connect() sends no SYN: the socket goes straight to ESTABLISHED. */
  struct sockaddr_in pa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->client_port), .sin_addr = s->client_ip};
  STEP("connect", connect(fd, (struct sockaddr *)&pa, sizeof pa));

  struct tcp_repair_opt opts[4];
  int n = 0;
  opts[n].opt_code = PR_TCPOPT_MSS;
  opts[n++].opt_val = s->mss;
  if (s->wscale_ok) {
    opts[n].opt_code = PR_TCPOPT_WINDOW;
    opts[n++].opt_val = s->snd_wscale | (s->rcv_wscale << 16);
  }
  if (s->sack_permitted) {
    opts[n].opt_code = PR_TCPOPT_SACK_PERM;
    opts[n++].opt_val = 0;
  }
  if (s->timestamps_enabled) {
    opts[n].opt_code = PR_TCPOPT_TIMESTAMP;
    opts[n++].opt_val = 0;
  }
  STEP("setsockopt(TCP_REPAIR_OPTIONS)", setsockopt(fd, SOL_TCP, TCP_REPAIR_OPTIONS, opts, (socklen_t)(n * sizeof opts[0])));

  if (s->timestamps_enabled) {
    /* Low bit set would switch the socket to usec TSvals (Linux >= 6.7): keep ms, round up. */
    uint32_t ts = (s->ts_val + 1u) & ~1u;
    STEP("setsockopt(TCP_TIMESTAMP)", set_int(fd, SOL_TCP, TCP_TIMESTAMP, (int)ts));
  }

  if (s->rcvq_len) {
    int rcvbuf = 0;
    socklen_t len = sizeof rcvbuf;
    if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, &len) == 0 && (size_t)rcvbuf < 2 * s->rcvq_len + 65536) {
      /* The restored bytes must fit the receive buffer (sk_rcvbuf is already doubled). */
      int want = s->rcvq_len > (size_t)INT_MAX / 4 ? INT_MAX / 2 : (int)(2 * s->rcvq_len + 65536);
      if (set_int(fd, SOL_SOCKET, SO_RCVBUFFORCE, want) < 0) (void)set_int(fd, SOL_SOCKET, SO_RCVBUF, want);
    }
    STEP("setsockopt(TCP_REPAIR_QUEUE, TCP_RECV_QUEUE)", set_int(fd, SOL_TCP, TCP_REPAIR_QUEUE, TCP_RECV_QUEUE));
    size_t off = 0, chunk = RCVQ_CHUNK;
    while (off < s->rcvq_len) {
      size_t want = s->rcvq_len - off < chunk ? s->rcvq_len - off : chunk;
      ssize_t w = send(fd, s->rcvq + off, want, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (w < 0) {
        if (errno == EINTR) continue;
        if (errno == ENOMEM && chunk > RCVQ_MIN_CHUNK) {
          chunk /= 2;
          continue;
        }
        *op = "send(TCP_RECV_QUEUE)";
        return errno;
      }
      if (w == 0) {
        *op = "send(TCP_RECV_QUEUE)";
        return EIO;
      }
      off += (size_t)w;
    }
  }
  STEP("setsockopt(TCP_REPAIR_QUEUE, TCP_NO_QUEUE)", set_int(fd, SOL_TCP, TCP_REPAIR_QUEUE, TCP_NO_QUEUE));

  /* Windows last: the checks compare against the final rcv_nxt. */
  struct tcp_repair_window w = {
      .snd_wl1 = s->snd_wl1,
      .snd_wnd = s->snd_wnd,
      .max_window = s->max_window,
      .rcv_wnd = s->rcv_wnd,
      .rcv_wup = s->rcv_wup,
  };
  STEP("setsockopt(TCP_REPAIR_WINDOW)", setsockopt(fd, SOL_TCP, TCP_REPAIR_WINDOW, &w, sizeof w));
  return 0;
#undef STEP
}

static napi_value js_restore(napi_env env, napi_callback_info info) {
  NU_ARGS(env, info, 2);
  repair_state s;
  if (!read_state(env, argv[0], &s)) return NULL;
  bool present;
  char *netns = NULL;
  struct in_addr local = s.vip_ip;
  if (!nu_arg_options(env, argv[1], "options", &present)) return NULL;
  if (present) {
    napi_value v;
    bool found;
    if (!nu_opt_get(env, argv[1], "localIp", &v, &found)) return NULL;
    if (found && !nu_is_nullish(env, v) && !value_ipv4(env, v, "options.localIp", &local)) return NULL;
    if (!nu_opt_string(env, argv[1], "netns", &netns)) return NULL;
  }
  int fd = socket_in(env, netns);
  free(netns);
  if (fd < 0) return NULL;
  /* Repair mode first: it needs CAP_NET_ADMIN, and makes bind() force-reuse the port. */
  if (set_int(fd, SOL_TCP, TCP_REPAIR, TCP_REPAIR_ON) < 0) {
    int e = errno;
    close(fd);
    nu_throw_errno(env, e, "setsockopt(TCP_REPAIR)", e == EPERM ? "needs CAP_NET_ADMIN" : NULL);
    return NULL;
  }
  const char *op = NULL;
  int err = restore_steps(fd, &s, &local, &op);
  if (err) {
    close(fd); /* still in repair mode: closing sends nothing */
    nu_throw_errno(env, err, op, NULL);
    return NULL;
  }
  return nu_return_fd(env, fd);
}

/* ------------------------------------------------------------------------------------------ */
/* leaveRepair / freeze / closeSilently / isRepair                                              */

/* getsockopt(SOL_TCP, opt) into `buf`; on failure throws with `op` named and returns false. */
static bool get_tcp_opt(napi_env env, int fd, int opt, void *buf, socklen_t size, const char *op) {
  socklen_t len = size;
  if (getsockopt(fd, SOL_TCP, opt, buf, &len) < 0) {
    nu_throw_errno(env, errno, op, NULL);
    return false;
  }
  return true;
}

static bool get_repair(napi_env env, int fd, int *on) {
  return get_tcp_opt(env, fd, TCP_REPAIR, on, sizeof *on, "getsockopt(TCP_REPAIR)");
}

static napi_value js_leave_repair(napi_env env, napi_callback_info info) {
  NU_ARGS(env, info, 2);
  int fd;
  if (!nu_arg_fd(env, argv[0], "fd", &fd)) return NULL;
  bool present, probe = true;
  if (!nu_arg_options(env, argv[1], "options", &present)) return NULL;
  if (present) {
    napi_value v;
    bool found;
    if (!nu_opt_get(env, argv[1], "windowProbe", &v, &found)) return NULL;
    if (found) {
      napi_valuetype t;
      if (!nu_typeof(env, v, &t)) return NULL;
      if (t != napi_boolean) {
        nu_throw_type_error(env, "The \"options.windowProbe\" property must be of type boolean. Received %s", nu_typeof_name(t));
        return NULL;
      }
      NU_CALL(env, napi_get_value_bool(env, v, &probe));
    }
  }
  if (set_int(fd, SOL_TCP, TCP_REPAIR, probe ? TCP_REPAIR_OFF : TCP_REPAIR_OFF_NO_WP) < 0) {
    nu_throw_errno(env, errno, "setsockopt(TCP_REPAIR)", probe ? "off" : "off, no window probe");
    return NULL;
  }
  return NULL;
}

static napi_value js_freeze(napi_env env, napi_callback_info info) {
  NU_ARGS(env, info, 1);
  int fd;
  if (!nu_arg_fd(env, argv[0], "fd", &fd)) return NULL;
  if (set_int(fd, SOL_TCP, TCP_REPAIR, TCP_REPAIR_ON) < 0) {
    nu_throw_errno(env, errno, "setsockopt(TCP_REPAIR)", errno == EPERM ? "needs CAP_NET_ADMIN and a non-listening socket" : NULL);
    return NULL;
  }
  return NULL;
}

static napi_value js_is_repair(napi_env env, napi_callback_info info) {
  NU_ARGS(env, info, 1);
  int fd, on = 0;
  if (!nu_arg_fd(env, argv[0], "fd", &fd)) return NULL;
  if (!get_repair(env, fd, &on)) return NULL;
  napi_value r;
  NU_CALL(env, napi_get_boolean(env, on != 0, &r));
  return r;
}

static napi_value js_close_silently(napi_env env, napi_callback_info info) {
  NU_ARGS(env, info, 1);
  int fd, on = 0;
  if (!nu_arg_fd(env, argv[0], "fd", &fd)) return NULL;
  /* Only a TCP socket can be closed silently: check before touching it. */
  if (!get_repair(env, fd, &on)) return NULL;
  if (!on && set_int(fd, SOL_TCP, TCP_REPAIR, TCP_REPAIR_ON) < 0) {
    nu_throw_errno(env, errno, "setsockopt(TCP_REPAIR)", "cannot close silently");
    return NULL;
  }
  if (close(fd) < 0 && errno != EINTR) {
    nu_throw_errno(env, errno, "close", NULL);
    return NULL;
  }
  return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* dump                                                                                         */

static bool set_obj_ip(napi_env env, napi_value obj, const char *key, struct in_addr a) {
  napi_value b = nu_buffer_copy(env, &a.s_addr, 4);
  return b && nu_set(env, obj, key, b);
}

static bool set_obj_bool(napi_env env, napi_value obj, const char *key, bool v) {
  napi_value b;
  NU_CALL_RET(env, napi_get_boolean(env, v, &b), false);
  return nu_set(env, obj, key, b);
}

static bool queue_seq(napi_env env, int fd, int queue, uint32_t *seq) {
  if (set_int(fd, SOL_TCP, TCP_REPAIR_QUEUE, queue) < 0) {
    nu_throw_errno(env, errno, queue == TCP_SEND_QUEUE ? "setsockopt(TCP_REPAIR_QUEUE, TCP_SEND_QUEUE)" : "setsockopt(TCP_REPAIR_QUEUE, TCP_RECV_QUEUE)", NULL);
    return false;
  }
  int v = 0;
  if (!get_tcp_opt(env, fd, TCP_QUEUE_SEQ, &v, sizeof v, queue == TCP_SEND_QUEUE ? "getsockopt(TCP_QUEUE_SEQ, send)" : "getsockopt(TCP_QUEUE_SEQ, recv)")) return false;
  *seq = (uint32_t)v;
  return true;
}

static bool ioctl_int(napi_env env, int fd, unsigned long req, const char *op, int *out) {
  if (ioctl(fd, req, out) < 0) {
    nu_throw_errno(env, errno, op, NULL);
    return false;
  }
  return true;
}

static bool set_tcp_info(napi_env env, napi_value obj, const struct tcp_info *ti) {
  napi_value o;
  NU_CALL_RET(env, napi_create_object(env, &o), false);
  return nu_set_u32(env, o, "state", ti->tcpi_state) && nu_set_u32(env, o, "options", ti->tcpi_options) &&
         nu_set_u32(env, o, "sndWscale", ti->tcpi_snd_wscale) && nu_set_u32(env, o, "rcvWscale", ti->tcpi_rcv_wscale) &&
         nu_set_u32(env, o, "sndMss", ti->tcpi_snd_mss) && nu_set_u32(env, o, "rcvMss", ti->tcpi_rcv_mss) &&
         nu_set_u32(env, o, "advmss", ti->tcpi_advmss) && nu_set_u32(env, o, "pmtu", ti->tcpi_pmtu) &&
         nu_set_u32(env, o, "unacked", ti->tcpi_unacked) && nu_set_u32(env, o, "retransmits", ti->tcpi_retransmits) &&
         nu_set_u32(env, o, "totalRetrans", ti->tcpi_total_retrans) && nu_set_u32(env, o, "rto", ti->tcpi_rto) &&
         nu_set_u32(env, o, "rtt", ti->tcpi_rtt) && nu_set_u32(env, o, "sndCwnd", ti->tcpi_snd_cwnd) &&
         nu_set(env, obj, "tcpInfo", o);
}

static bool get_tcp_info(napi_env env, int fd, struct tcp_info *ti) {
  memset(ti, 0, sizeof *ti);
  return get_tcp_opt(env, fd, TCP_INFO, ti, sizeof *ti, "getsockopt(TCP_INFO)");
}

static napi_value js_dump(napi_env env, napi_callback_info info) {
  NU_ARGS(env, info, 1);
  int fd, on = 0;
  if (!nu_arg_fd(env, argv[0], "fd", &fd)) return NULL;
  if (!get_repair(env, fd, &on)) return NULL;
  if (!on) {
    nu_throw_errno(env, EPERM, "dump", "the socket is not in repair mode: freeze() it first");
    return NULL;
  }
  struct sockaddr_in la, pa;
  socklen_t ll = sizeof la, pl = sizeof pa;
  if (getsockname(fd, (struct sockaddr *)&la, &ll) < 0) {
    nu_throw_errno(env, errno, "getsockname", NULL);
    return NULL;
  }
  if (getpeername(fd, (struct sockaddr *)&pa, &pl) < 0) {
    nu_throw_errno(env, errno, "getpeername", NULL);
    return NULL;
  }
  if (la.sin_family != AF_INET || pa.sin_family != AF_INET) {
    nu_throw_errno(env, EAFNOSUPPORT, "dump", "only IPv4 sockets are supported");
    return NULL;
  }
  struct tcp_info ti;
  if (!get_tcp_info(env, fd, &ti)) return NULL;
  if (ti.tcpi_state != 1 /* TCP_ESTABLISHED */) {
    char detail[96];
    snprintf(detail, sizeof detail, "the socket is in TCP state %u, not ESTABLISHED", ti.tcpi_state);
    nu_throw_errno(env, ENOTCONN, "dump", detail);
    return NULL;
  }
  uint32_t write_seq, rcv_nxt;
  int outq, notsent, inq;
  if (!queue_seq(env, fd, TCP_SEND_QUEUE, &write_seq) || !queue_seq(env, fd, TCP_RECV_QUEUE, &rcv_nxt) ||
      !ioctl_int(env, fd, SIOCOUTQ, "ioctl(SIOCOUTQ)", &outq) ||
      !ioctl_int(env, fd, SIOCOUTQNSD, "ioctl(SIOCOUTQNSD)", &notsent) || !ioctl_int(env, fd, SIOCINQ, "ioctl(SIOCINQ)", &inq))
    return NULL;

  /* Unread receive-queue bytes: peek them (TCP_REPAIR_QUEUE is still TCP_RECV_QUEUE). */
  uint8_t *rq = NULL;
  ssize_t got = 0;
  if (inq > 0) {
    rq = malloc((size_t)inq);
    if (!rq) {
      nu_throw_errno(env, ENOMEM, "malloc", NULL);
      return NULL;
    }
    for (;;) {
      got = recv(fd, rq, (size_t)inq, MSG_PEEK | MSG_DONTWAIT);
      if (got < 0 && errno == EINTR) continue;
      break;
    }
    if (got < 0) {
      int e = errno;
      free(rq);
      nu_throw_errno(env, e, "recv(MSG_PEEK, TCP_RECV_QUEUE)", NULL);
      return NULL;
    }
    if (got != inq) {
      free(rq);
      char detail[96];
      snprintf(detail, sizeof detail, "peeked %zd of %d queued bytes", got, inq);
      nu_throw_errno(env, EIO, "recv(MSG_PEEK, TCP_RECV_QUEUE)", detail);
      return NULL;
    }
  }
  /* Send-queue bytes from snd_una (sent and unacknowledged, then unsent): peek them on the
   * send queue, so whoever takes the connection over can retransmit them. */
  uint8_t *sq = NULL;
  ssize_t sgot = 0;
  if (outq > 0) {
    sq = malloc((size_t)outq);
    const char *sop = NULL;
    int se = 0;
    if (!sq) {
      sop = "malloc";
      se = ENOMEM;
    } else if (set_int(fd, SOL_TCP, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE) < 0) {
      sop = "setsockopt(TCP_REPAIR_QUEUE, TCP_SEND_QUEUE)";
      se = errno;
    } else {
      do sgot = recv(fd, sq, (size_t)outq, MSG_PEEK | MSG_DONTWAIT);
      while (sgot < 0 && errno == EINTR);
      if (sgot < 0) {
        sop = "recv(MSG_PEEK, TCP_SEND_QUEUE)";
        se = errno;
      } else if (sgot < outq) {
        /* A frozen socket still processes incoming ACKs: the peer acknowledged part of the queue
         * since SIOCOUTQ. The queue as peeked is the truth; snd_una follows from it below. */
        outq = (int)sgot;
        if (notsent > outq) notsent = outq;
      }
    }
    if (sop) {
      free(rq);
      free(sq);
      nu_throw_errno(env, se, sop, NULL);
      return NULL;
    }
  }
  int mss = 0, tsval = 0;
  struct tcp_repair_window w;
  socklen_t l1 = sizeof mss, l2 = sizeof w, l3 = sizeof tsval;
  const char *op = NULL;
  if (set_int(fd, SOL_TCP, TCP_REPAIR_QUEUE, TCP_NO_QUEUE) < 0)
    op = "setsockopt(TCP_REPAIR_QUEUE, TCP_NO_QUEUE)";
  else if (getsockopt(fd, SOL_TCP, TCP_MAXSEG, &mss, &l1) < 0)
    op = "getsockopt(TCP_MAXSEG)";
  else if (getsockopt(fd, SOL_TCP, TCP_REPAIR_WINDOW, &w, &l2) < 0)
    op = "getsockopt(TCP_REPAIR_WINDOW)";
  else if (getsockopt(fd, SOL_TCP, TCP_TIMESTAMP, &tsval, &l3) < 0)
    op = "getsockopt(TCP_TIMESTAMP)";
  if (op) {
    int e = errno;
    free(rq);
    free(sq);
    nu_throw_errno(env, e, op, NULL);
    return NULL;
  }

  napi_value o;
  napi_value qbuf = nu_buffer_copy(env, rq, (size_t)got);
  free(rq);
  napi_value sbuf = qbuf ? nu_buffer_copy(env, sq, (size_t)sgot) : NULL;
  free(sq);
  if (!qbuf || !sbuf) return NULL;
  NU_CALL(env, napi_create_object(env, &o));
  bool ts = (ti.tcpi_options & TCPI_OPT_TIMESTAMPS) != 0;
  bool ws = (ti.tcpi_options & TCPI_OPT_WSCALE) != 0;
  uint32_t snd_una = write_seq - (uint32_t)outq;
  uint32_t snd_nxt = write_seq - (uint32_t)notsent;
  bool ok = set_obj_ip(env, o, "clientIp", pa.sin_addr) && nu_set_u32(env, o, "clientPort", ntohs(pa.sin_port)) &&
            set_obj_ip(env, o, "vipIp", la.sin_addr) && nu_set_u32(env, o, "vipPort", ntohs(la.sin_port)) &&
            nu_set_u32(env, o, "sndNxt", snd_nxt) && nu_set_u32(env, o, "rcvNxt", rcv_nxt) &&
            nu_set_u32(env, o, "sndUna", snd_una) && nu_set_u32(env, o, "sndWnd", w.snd_wnd) &&
            nu_set_u32(env, o, "rcvWnd", w.rcv_wnd) && nu_set_u32(env, o, "sndWscale", ws ? ti.tcpi_snd_wscale : 0) &&
            nu_set_u32(env, o, "rcvWscale", ws ? ti.tcpi_rcv_wscale : 0) && nu_set_u32(env, o, "mss", (uint32_t)mss) &&
            set_obj_bool(env, o, "sackPermitted", (ti.tcpi_options & TCPI_OPT_SACK) != 0) &&
            set_obj_bool(env, o, "timestampsEnabled", ts) &&
            nu_set_u32(env, o, "tsVal", ts ? ((uint32_t)tsval & ~1u) : 0) &&
            /* ts_recent is not readable through any socket option: 0 = unknown. */
            nu_set_u32(env, o, "tsRecent", 0) && nu_set_u32(env, o, "sndWl1", w.snd_wl1) &&
            nu_set_u32(env, o, "maxWindow", w.max_window) && nu_set_u32(env, o, "rcvWup", w.rcv_wup) &&
            set_obj_bool(env, o, "wscaleOk", ws) &&
            nu_set(env, o, "recvQueue", qbuf) && nu_set(env, o, "sendQueue", sbuf) && nu_set_u32(env, o, "sendQueueBytes", (uint32_t)outq) &&
            nu_set_u32(env, o, "unsentBytes", (uint32_t)notsent) &&
            nu_set_u32(env, o, "unackedBytes", (uint32_t)(outq - notsent)) &&
            set_obj_bool(env, o, "usecTimestamps", ts && (tsval & 1)) && set_tcp_info(env, o, &ti);
  return ok ? o : NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* queues / tcpInfo / peek / recv                                                              */

static napi_value js_queues(napi_env env, napi_callback_info info) {
  NU_ARGS(env, info, 1);
  int fd, outq, notsent, inq;
  if (!nu_arg_fd(env, argv[0], "fd", &fd)) return NULL;
  if (!ioctl_int(env, fd, SIOCOUTQ, "ioctl(SIOCOUTQ)", &outq) ||
      !ioctl_int(env, fd, SIOCOUTQNSD, "ioctl(SIOCOUTQNSD)", &notsent) || !ioctl_int(env, fd, SIOCINQ, "ioctl(SIOCINQ)", &inq))
    return NULL;
  napi_value o;
  NU_CALL(env, napi_create_object(env, &o));
  if (!nu_set_u32(env, o, "outq", (uint32_t)outq) || !nu_set_u32(env, o, "notsent", (uint32_t)notsent) ||
      !nu_set_u32(env, o, "inq", (uint32_t)inq))
    return NULL;
  return o;
}

static napi_value js_tcp_info(napi_env env, napi_callback_info info) {
  NU_ARGS(env, info, 1);
  int fd;
  if (!nu_arg_fd(env, argv[0], "fd", &fd)) return NULL;
  struct tcp_info ti;
  if (!get_tcp_info(env, fd, &ti)) return NULL;
  napi_value o, r;
  NU_CALL(env, napi_create_object(env, &o));
  if (!set_tcp_info(env, o, &ti)) return NULL;
  NU_CALL(env, napi_get_named_property(env, o, "tcpInfo", &r));
  return r;
}

static napi_value do_recv(napi_env env, napi_callback_info info, bool peek) {
  NU_ARGS(env, info, 2);
  int fd;
  uint32_t max;
  if (!nu_arg_fd(env, argv[0], "fd", &fd) || !nu_arg_u32(env, argv[1], "max", &max)) return NULL;
  if (max > 64u * 1024 * 1024) {
    nu_throw_range_error(env, "The value of \"max\" is out of range. It must be <= 67108864. Received %u", max);
    return NULL;
  }
  if (max == 0) return nu_buffer_copy(env, "", 0);
  uint8_t *buf = malloc(max);
  if (!buf) {
    nu_throw_errno(env, ENOMEM, "malloc", NULL);
    return NULL;
  }
  ssize_t n;
  do n = recv(fd, buf, max, MSG_DONTWAIT | (peek ? MSG_PEEK : 0));
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    int e = errno;
    free(buf);
    if (e == EAGAIN || e == EWOULDBLOCK) {
      napi_value nul;
      NU_CALL(env, napi_get_null(env, &nul));
      return nul;
    }
    nu_throw_errno(env, e, peek ? "recv(MSG_PEEK)" : "recv", NULL);
    return NULL;
  }
  napi_value r = nu_buffer_copy(env, buf, (size_t)n);
  free(buf);
  return r;
}

static napi_value js_peek(napi_env env, napi_callback_info info) { return do_recv(env, info, true); }
static napi_value js_recv(napi_env env, napi_callback_info info) { return do_recv(env, info, false); }

/* ------------------------------------------------------------------------------------------ */
/* listen (tests and in-process demos: a listener inside another netns)                          */

static napi_value js_listen(napi_env env, napi_callback_info info) {
  NU_ARGS(env, info, 3);
  struct in_addr ip;
  uint32_t port, backlog = 128;
  if (!value_ipv4(env, argv[0], "ip", &ip) || !nu_arg_u32(env, argv[1], "port", &port)) return NULL;
  if (port > 65535) {
    nu_throw_range_error(env, "The value of \"port\" is out of range. It must be <= 65535. Received %u", port);
    return NULL;
  }
  bool present;
  char *netns = NULL;
  if (!nu_arg_options(env, argv[2], "options", &present)) return NULL;
  if (present && (!nu_opt_u32(env, argv[2], "backlog", 128, &backlog) || !nu_opt_string(env, argv[2], "netns", &netns)))
    return NULL;
  int fd = socket_in(env, netns);
  free(netns);
  if (fd < 0) return NULL;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr = ip};
  const char *op = NULL;
  if (set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1) < 0)
    op = "setsockopt(SO_REUSEADDR)";
  else if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0)
    op = "bind";
  else if (listen(fd, backlog > INT_MAX ? INT_MAX : (int)backlog) < 0)
    op = "listen";
  if (op) {
    int e = errno;
    close(fd);
    nu_throw_errno(env, e, op, NULL);
    return NULL;
  }
  napi_value r;
  NU_CALL(env, napi_create_int32(env, fd, &r));
  return r;
}

/* ------------------------------------------------------------------------------------------ */

static napi_value init(napi_env env, napi_value exports) {
  if (!nu_export(env, exports, "restore", js_restore) || !nu_export(env, exports, "leaveRepair", js_leave_repair) ||
      !nu_export(env, exports, "freeze", js_freeze) || !nu_export(env, exports, "dump", js_dump) ||
      !nu_export(env, exports, "closeSilently", js_close_silently) || !nu_export(env, exports, "isRepair", js_is_repair) ||
      !nu_export(env, exports, "queues", js_queues) || !nu_export(env, exports, "tcpInfo", js_tcp_info) ||
      !nu_export(env, exports, "peek", js_peek) || !nu_export(env, exports, "recv", js_recv) ||
      !nu_export(env, exports, "listen", js_listen))
    return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
