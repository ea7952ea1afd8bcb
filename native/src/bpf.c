/*
 * prism_bpf: a thin, synchronous N-API binding over libbpf for prism's embedded eBPF target.
 *
 * Objects: openObject(path) -> handle (napi external, tagged), closeObject(handle),
 *          listPrograms(handle), listMaps(handle)
 * Maps:    mapInfo, mapUpdate, mapLookup, mapDelete, mapKeys, numPossibleCpus
 * Progs:   progTestRun, progStats, enableStats, closeFd
 * tc:      tcAttach, tcDetach, tcQuery, tcHookDestroy, ifNameToIndex (all take an optional
 *          options.netns: a name under /var/run/netns or a path to a netns file)
 *
 * Errors follow napi-util.h: Error{code: 'E...', errno, syscall} for kernel/libbpf failures,
 * TypeError 'ERR_INVALID_ARG_TYPE', RangeError 'ERR_OUT_OF_RANGE'. Every failure path
 * closes what it opened. libbpf's own messages (including the verifier log) are captured
 * during each call and appended (last ~4 KB) to the error message when the call fails.
 */
#include "napi-util.h"
#include "netns-util.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/bpf.h>
#include <net/if.h>
#include <sched.h>
#include <unistd.h>

#define LOG_TAIL_BYTES 4096
#define CAPTURE_MAX (1u << 20) /* keep at most 1 MiB of libbpf output per call */
#define TEST_RUN_HEADROOM 512

/* ------------------------------------------------------------------------------------------ */
/* libbpf print capture                                                                       */
/* All calls are synchronous on the JS thread, so one global capture buffer is enough.        */

static char *cap_buf;
static size_t cap_len, cap_size;
static bool cap_active;

static int print_cb(enum libbpf_print_level level, const char *fmt, va_list ap) {
  if (!cap_active) {
    if (level == LIBBPF_WARN && getenv("PRISM_BPF_DEBUG")) vfprintf(stderr, fmt, ap);
    return 0;
  }
  if (level == LIBBPF_DEBUG && !getenv("PRISM_BPF_DEBUG")) return 0;
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap2);
  va_end(ap2);
  if (n <= 0) return 0;
  size_t need = cap_len + (size_t)n + 1;
  if (need > CAPTURE_MAX) {
    /* Drop the oldest half: the tail of a verifier log is what explains a rejection. */
    size_t keep = cap_len / 2;
    if (cap_buf && keep) memmove(cap_buf, cap_buf + cap_len - keep, keep);
    cap_len = keep;
    need = cap_len + (size_t)n + 1;
    if (need > CAPTURE_MAX) return 0;
  }
  if (need > cap_size) {
    size_t sz = cap_size ? cap_size : 4096;
    while (sz < need) sz *= 2;
    char *nb = realloc(cap_buf, sz);
    if (!nb) return 0;
    cap_buf = nb;
    cap_size = sz;
  }
  vsnprintf(cap_buf + cap_len, (size_t)n + 1, fmt, ap);
  cap_len += (size_t)n;
  return n;
}

static void cap_begin(void) {
  cap_len = 0;
  if (cap_buf) cap_buf[0] = '\0';
  cap_active = true;
}

/* Stop capturing; returns the last LOG_TAIL_BYTES of output (NUL-terminated, may be ""). */
static const char *cap_end(void) {
  cap_active = false;
  if (!cap_buf || cap_len == 0) return "";
  cap_buf[cap_len] = '\0';
  /* trim trailing whitespace */
  while (cap_len > 0 && (cap_buf[cap_len - 1] == '\n' || cap_buf[cap_len - 1] == ' ')) cap_buf[--cap_len] = '\0';
  if (cap_len <= LOG_TAIL_BYTES) return cap_buf;
  const char *tail = cap_buf + cap_len - LOG_TAIL_BYTES;
  const char *nl = strchr(tail, '\n'); /* start at a line boundary */
  if (nl && nl[1]) tail = nl + 1;
  return tail;
}

/* Throw an errno error, with the captured libbpf output (if any) as detail. */
static void throw_captured(napi_env env, int err, const char *op, const char *prefix) {
  const char *log = cap_end();
  if (!prefix && !*log) {
    nu_throw_errno(env, err, op, NULL);
    return;
  }
  size_t cap = (prefix ? strlen(prefix) : 0) + strlen(log) + 32;
  char *detail = malloc(cap);
  if (!detail) {
    nu_throw_errno(env, err, op, prefix);
    return;
  }
  if (prefix && *log)
    snprintf(detail, cap, "%s\n--- libbpf log (tail) ---\n%s", prefix, log);
  else if (prefix)
    snprintf(detail, cap, "%s", prefix);
  else
    snprintf(detail, cap, "%s", log); /* usually one line, e.g. "libbpf: Kernel error message: ..." */
  nu_throw_errno(env, err, op, detail);
  free(detail);
}

/* ------------------------------------------------------------------------------------------ */
/* object handles                                                                             */

static const napi_type_tag OBJ_TAG = {0x70726973d5b0c1a1ULL, 0x6270666f626a6563ULL};

typedef struct {
  struct bpf_object *obj;
} obj_handle;

static void obj_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  obj_handle *h = data;
  if (h->obj) bpf_object__close(h->obj);
  free(h);
}

/* Returns the handle (obj may be NULL when closed), or NULL after throwing. */
static obj_handle *get_handle(napi_env env, napi_value v, const char *name) {
  napi_valuetype t;
  if (!nu_typeof(env, v, &t)) return NULL;
  bool tagged = false;
  if (t == napi_external) NU_CALL(env, napi_check_object_type_tag(env, v, &OBJ_TAG, &tagged));
  if (!tagged) {
    nu_throw_type_error(env, "The \"%s\" argument must be a BPF object handle from openObject(). Received %s", name,
                        nu_typeof_name(t));
    return NULL;
  }
  void *data = NULL;
  NU_CALL(env, napi_get_value_external(env, v, &data));
  return data;
}

static struct bpf_object *get_open_object(napi_env env, napi_value v, const char *op) {
  obj_handle *h = get_handle(env, v, "handle");
  if (!h) return NULL;
  if (!h->obj) {
    nu_throw_errno(env, EBADF, op, "the BPF object handle is closed");
    return NULL;
  }
  return h->obj;
}

static napi_value js_open_object(napi_env env, napi_callback_info info) {
  NU_ARGS(env, info, 1);
  char *path = nu_arg_string(env, argv[0], "path");
  if (!path) return NULL;

  cap_begin();
  struct bpf_object *obj = bpf_object__open_file(path, NULL);
  if (!obj) {
    int e = errno;
    throw_captured(env, e, "bpf_object__open_file", path);
    free(path);
    return NULL;
  }
  int err = bpf_object__load(obj);
  if (err) {
    bpf_object__close(obj);
    throw_captured(env, err, "bpf_object__load", path);
    free(path);
    return NULL;
  }
  cap_end();
  free(path);

  obj_handle *h = malloc(sizeof *h);
  if (!h) {
    bpf_object__close(obj);
    nu_throw_errno(env, ENOMEM, "malloc", NULL);
    return NULL;
  }
  h->obj = obj;
  napi_value ext;
  if (napi_create_external(env, h, obj_finalize, NULL, &ext) != napi_ok) {
    bpf_object__close(obj);
    free(h);
    nu_throw_napi_status(env, napi_generic_failure, "napi_create_external");
    return NULL;
  }
  /* From here the finalizer owns h (and the object). */
  NU_CALL(env, napi_type_tag_object(env, ext, &OBJ_TAG));
  return ext;
}

static napi_value js_close_object(napi_env env, napi_callback_info info) {
  NU_ARGS(env, info, 1);
  obj_handle *h = get_handle(env, argv[0], "handle");
  if (!h) return NULL;
  if (h->obj) {
    bpf_object__close(h->obj);
    h->obj = NULL;
  }
  return NULL;
}

static napi_value js_list_programs(napi_env env, napi_callback_info info) {
  NU_ARGS(env, info, 1);
  struct bpf_object *obj = get_open_object(env, argv[0], "listPrograms");
  if (!obj) return NULL;
  napi_value arr;
  NU_CALL(env, napi_create_array(env, &arr));
  uint32_t i = 0;
  struct bpf_program *prog;
  bpf_object__for_each_program(prog, obj) {
    napi_value o;
    NU_CALL(env, napi_create_object(env, &o));
    enum bpf_prog_type type = bpf_program__type(prog);
    const char *tn = libbpf_bpf_prog_type_str(type);
    if (!nu_set_str(env, o, "name", bpf_program__name(prog)) ||
        !nu_set_str(env, o, "section", bpf_program__section_name(prog)) ||
        !nu_set_i64(env, o, "fd", bpf_program__fd(prog)) || !nu_set_u32(env, o, "type", (uint32_t)type) ||
        !nu_set_str(env, o, "typeName", tn ? tn : "unknown"))
      return NULL;
    NU_CALL(env, napi_set_element(env, arr, i++, o));
  }
  return arr;
}

static bool set_map_type(napi_env env, napi_value o, uint32_t type) {
  const char *tn = libbpf_bpf_map_type_str((enum bpf_map_type)type);
  return nu_set_u32(env, o, "type", type) && nu_set_str(env, o, "typeName", tn ? tn : "unknown");
}

static napi_value js_list_maps(napi_env env, napi_callback_info info) {
  NU_ARGS(env, info, 1);
  struct bpf_object *obj = get_open_object(env, argv[0], "listMaps");
  if (!obj) return NULL;
  napi_value arr;
  NU_CALL(env, napi_create_array(env, &arr));
  uint32_t i = 0;
  struct bpf_map *map;
  bpf_object__for_each_map(map, obj) {
    napi_value o;
    NU_CALL(env, napi_create_object(env, &o));
    if (!nu_set_str(env, o, "name", bpf_map__name(map)) || !nu_set_i64(env, o, "fd", bpf_map__fd(map)) ||
        !set_map_type(env, o, (uint32_t)bpf_map__type(map)) ||
        !nu_set_u32(env, o, "keySize", bpf_map__key_size(map)) ||
        !nu_set_u32(env, o, "valueSize", bpf_map__value_size(map)) ||
        !nu_set_u32(env, o, "maxEntries", bpf_map__max_entries(map)) ||
        !nu_set_u32(env, o, "flags", bpf_map__map_flags(map)))
      return NULL;
    NU_CALL(env, napi_set_element(env, arr, i++, o));
  }
  return arr;
}

/* ------------------------------------------------------------------------------------------ */
/* maps                                                                                       */

static bool is_percpu_map(uint32_t type) {
  switch (type) {
    case BPF_MAP_TYPE_PERCPU_HASH:
    case BPF_MAP_TYPE_PERCPU_ARRAY:
    case BPF_MAP_TYPE_LRU_PERCPU_HASH:
    case BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE:
      return true;
    default:
      return false;
  }
}

typedef struct {
  struct bpf_map_info info;
  size_t value_len; /* bytes user space passes/receives per element */
} map_meta;

static bool get_map_meta(napi_env env, int fd, const char *op, map_meta *m) {
  memset(m, 0, sizeof *m);
  uint32_t len = sizeof m->info;
  int err = bpf_obj_get_info_by_fd(fd, &m->info, &len);
  if (err) {
    nu_throw_errno(env, err, op, "bpf_obj_get_info_by_fd on the map fd failed");
    return false;
  }
  m->value_len = m->info.value_size;
  if (is_percpu_map(m->info.type)) {
    int ncpu = libbpf_num_possible_cpus();
    if (ncpu < 0) {
      nu_throw_errno(env, ncpu, "libbpf_num_possible_cpus", NULL);
      return false;
    }
    m->value_len = (((size_t)m->info.value_size + 7) & ~(size_t)7) * (size_t)ncpu;
  }
  return true;
}

/*
 * Sizes the caller already knows (the TS BpfMap caches them from mapInfo at open) save the
 * bpf_obj_get_info_by_fd syscall on every element operation; without them, ask the kernel.
 */
static bool map_meta_or_sizes(napi_env env, int fd, const char *op, napi_value key_size, napi_value value_len,
                              map_meta *m) {
  uint32_t ks = 0, vl = 0;
  if (nu_is_nullish(env, key_size)) return get_map_meta(env, fd, op, m);
  if (!nu_arg_u32(env, key_size, "keySize", &ks)) return false;
  if (value_len && !nu_is_nullish(env, value_len) && !nu_arg_u32(env, value_len, "valueLength", &vl)) return false;
  memset(m, 0, sizeof *m);
  m->info.key_size = ks;
  m->value_len = vl;
  return true;
}

static bool check_len(napi_env env, const char *what, size_t got, size_t want, const char *op) {
  if (got == want) return true;
  nu_throw_range_error(env, "%s: the %s buffer must be %zu bytes long for this map. Received %zu bytes", op, what, want,
                       got);
  return false;
}

static napi_value js_map_info(napi_env env, napi_callback_info info) {
  NU_ARGS(env, info, 1);
  int fd;
  if (!nu_arg_fd(env, argv[0], "fd", &fd)) return NULL;
  map_meta m;
  if (!get_map_meta(env, fd, "mapInfo", &m)) return NULL;
  napi_value o;
  NU_CALL(env, napi_create_object(env, &o));
  if (!nu_set_str(env, o, "name", m.info.name) || !nu_set_u32(env, o, "id", m.info.id) ||
      !set_map_type(env, o, m.info.type) || !nu_set_u32(env, o, "keySize", m.info.key_size) ||
      !nu_set_u32(env, o, "valueSize", m.info.value_size) ||
      !nu_set_u32(env, o, "maxEntries", m.info.max_entries) || !nu_set_u32(env, o, "flags", m.info.map_flags) ||
      !nu_set_i64(env, o, "valueBufferSize", (int64_t)m.value_len))
    return NULL;
  return o;
}

static napi_value js_map_update(napi_env env, napi_callback_info info) {
  NU_ARGS(env, info, 6);
  int fd;
  void *key, *value;
  size_t klen, vlen;
  uint32_t flags = 0;
  if (!nu_arg_fd(env, argv[0], "fd", &fd) || !nu_arg_bytes(env, argv[1], "key", &key, &klen) ||
      !nu_arg_bytes(env, argv[2], "value", &value, &vlen))
    return NULL;
  if (!nu_is_nullish(env, argv[3]) && !nu_arg_u32(env, argv[3], "flags", &flags)) return NULL;
  map_meta m;
  if (!map_meta_or_sizes(env, fd, "mapUpdate", argv[4], argv[5], &m) || !check_len(env, "key", klen, m.info.key_size, "mapUpdate") ||
      !check_len(env, "value", vlen, m.value_len, "mapUpdate"))
    return NULL;
  int err = bpf_map_update_elem(fd, key, value, flags);
  if (err) nu_throw_errno(env, err, "bpf_map_update_elem", NULL);
  return NULL;
}

/*
 * mapUpdateBatch(fd, keys, values, count, elemFlags, keySize, valueLength) -> {updated, errno, code}:
 * BPF_MAP_UPDATE_BATCH of `count` packed keys and values. It stops at the first element that
 * fails (say EEXIST with BPF_NOEXIST): `updated` elements before it are in the map, and `code`
 * names the failure (null when all went in), so the caller can report that one and go on.
 */
static napi_value js_map_update_batch(napi_env env, napi_callback_info info) {
  NU_ARGS(env, info, 7);
  int fd;
  void *keys, *values;
  size_t klen, vlen;
  uint32_t count, flags, ks, vl;
  if (!nu_arg_fd(env, argv[0], "fd", &fd) || !nu_arg_bytes(env, argv[1], "keys", &keys, &klen) ||
      !nu_arg_bytes(env, argv[2], "values", &values, &vlen) || !nu_arg_u32(env, argv[3], "count", &count) ||
      !nu_arg_u32(env, argv[4], "elemFlags", &flags) || !nu_arg_u32(env, argv[5], "keySize", &ks) ||
      !nu_arg_u32(env, argv[6], "valueLength", &vl))
    return NULL;
  if (!check_len(env, "keys", klen, (size_t)count * ks, "mapUpdateBatch") ||
      !check_len(env, "values", vlen, (size_t)count * vl, "mapUpdateBatch"))
    return NULL;
  LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = flags);
  uint32_t n = count;
  int err = count > 0 ? bpf_map_update_batch(fd, keys, values, &n, &opts) : 0;
  if (err == 0) n = count;
  napi_value o;
  NU_CALL(env, napi_create_object(env, &o));
  if (!nu_set_u32(env, o, "updated", n) || !nu_set_u32(env, o, "errno", err < 0 ? (uint32_t)-err : 0)) return NULL;
  napi_value code;
  if (err < 0) {
    const char *name = strerrorname_np(-err);
    NU_CALL(env, napi_create_string_utf8(env, name ? name : "EUNKNOWN", NAPI_AUTO_LENGTH, &code));
  } else {
    NU_CALL(env, napi_get_null(env, &code));
  }
  NU_CALL(env, napi_set_named_property(env, o, "code", code));
  return o;
}

static napi_value js_map_lookup(napi_env env, napi_callback_info info) {
  NU_ARGS(env, info, 4);
  int fd;
  void *key;
  size_t klen;
  if (!nu_arg_fd(env, argv[0], "fd", &fd) || !nu_arg_bytes(env, argv[1], "key", &key, &klen)) return NULL;
  map_meta m;
  if (!map_meta_or_sizes(env, fd, "mapLookup", argv[2], argv[3], &m) || !check_len(env, "key", klen, m.info.key_size, "mapLookup"))
    return NULL;
  napi_value buf;
  void *out;
  NU_CALL(env, napi_create_buffer(env, m.value_len, &out, &buf));
  int err = bpf_map_lookup_elem(fd, key, out);
  if (err == -ENOENT) {
    napi_value nul;
    NU_CALL(env, napi_get_null(env, &nul));
    return nul;
  }
  if (err) {
    nu_throw_errno(env, err, "bpf_map_lookup_elem", NULL);
    return NULL;
  }
  return buf;
}

static napi_value js_map_delete(napi_env env, napi_callback_info info) {
  NU_ARGS(env, info, 3);
  int fd;
  void *key;
  size_t klen;
  if (!nu_arg_fd(env, argv[0], "fd", &fd) || !nu_arg_bytes(env, argv[1], "key", &key, &klen)) return NULL;
  map_meta m;
  if (!map_meta_or_sizes(env, fd, "mapDelete", argv[2], NULL, &m) || !check_len(env, "key", klen, m.info.key_size, "mapDelete"))
    return NULL;
  int err = bpf_map_delete_elem(fd, key);
  if (err && err != -ENOENT) {
    nu_throw_errno(env, err, "bpf_map_delete_elem", NULL);
    return NULL;
  }
  napi_value r;
  NU_CALL(env, napi_get_boolean(env, err == 0, &r));
  return r;
}

static napi_value js_map_keys(napi_env env, napi_callback_info info) {
  NU_ARGS(env, info, 1);
  int fd;
  if (!nu_arg_fd(env, argv[0], "fd", &fd)) return NULL;
  map_meta m;
  if (!get_map_meta(env, fd, "mapKeys", &m)) return NULL;
  size_t ks = m.info.key_size;
  if (ks == 0) {
    nu_throw_errno(env, EINVAL, "mapKeys", "this map type has no keys");
    return NULL;
  }
  char *prev = malloc(ks), *next = malloc(ks);
  if (!prev || !next) {
    free(prev);
    free(next);
    nu_throw_errno(env, ENOMEM, "malloc", NULL);
    return NULL;
  }
  napi_value arr;
  if (napi_create_array(env, &arr) != napi_ok) goto napi_fail;
  uint32_t i = 0;
  bool first = true;
  /* A hash map being modified concurrently can restart iteration; bound it. */
  uint64_t limit = (uint64_t)m.info.max_entries + 1;
  for (;;) {
    int err = bpf_map_get_next_key(fd, first ? NULL : prev, next);
    if (err == -ENOENT) break;
    if (err) {
      free(prev);
      free(next);
      nu_throw_errno(env, err, "bpf_map_get_next_key", NULL);
      return NULL;
    }
    if (i >= limit) break;
    napi_value kb = nu_buffer_copy(env, next, ks);
    if (!kb || napi_set_element(env, arr, i++, kb) != napi_ok) goto napi_fail;
    memcpy(prev, next, ks);
    first = false;
  }
  free(prev);
  free(next);
  return arr;
napi_fail:
  free(prev);
  free(next);
  nu_throw_napi_status(env, napi_generic_failure, "mapKeys");
  return NULL;
}

static napi_value js_num_possible_cpus(napi_env env, napi_callback_info info) {
  (void)info;
  int n = libbpf_num_possible_cpus();
  if (n < 0) {
    nu_throw_errno(env, n, "libbpf_num_possible_cpus", NULL);
    return NULL;
  }
  napi_value r;
  NU_CALL(env, napi_create_int32(env, n, &r));
  return r;
}

/* ------------------------------------------------------------------------------------------ */
/* programs                                                                                   */

static napi_value js_prog_test_run(napi_env env, napi_callback_info info) {
  NU_ARGS(env, info, 3);
  int fd;
  void *data;
  size_t dlen;
  bool has_opts;
  if (!nu_arg_fd(env, argv[0], "progFd", &fd) || !nu_arg_bytes(env, argv[1], "data", &data, &dlen) ||
      !nu_arg_options(env, argv[2], "options", &has_opts))
    return NULL;
  napi_value opts = has_opts ? argv[2] : NULL;
  uint32_t repeat = 1;
  if (!nu_opt_u32(env, opts, "repeat", 1, &repeat)) return NULL;
  if (repeat > INT32_MAX) {
    nu_throw_range_error(env, "options.repeat must be <= %d", INT32_MAX);
    return NULL;
  }
  void *ctx_in = NULL;
  size_t ctx_len = 0;
  napi_value v;
  bool found;
  if (!nu_opt_get(env, opts, "ctxIn", &v, &found)) return NULL;
  if (found && !nu_arg_bytes(env, v, "options.ctxIn", &ctx_in, &ctx_len)) return NULL;
  if (dlen > UINT32_MAX - TEST_RUN_HEADROOM) {
    nu_throw_range_error(env, "data is too large (%zu bytes)", dlen);
    return NULL;
  }

  size_t out_cap = dlen + TEST_RUN_HEADROOM;
  char *out = malloc(out_cap);
  char *ctx_out = ctx_len ? malloc(ctx_len) : NULL;
  if (!out || (ctx_len && !ctx_out)) {
    free(out);
    free(ctx_out);
    nu_throw_errno(env, ENOMEM, "malloc", NULL);
    return NULL;
  }
  LIBBPF_OPTS(bpf_test_run_opts, t, .data_in = data, .data_size_in = (uint32_t)dlen, .data_out = out,
              .data_size_out = (uint32_t)out_cap, .repeat = (int)repeat);
  if (ctx_len) {
    t.ctx_in = ctx_in;
    t.ctx_size_in = (uint32_t)ctx_len;
    t.ctx_out = ctx_out;
    t.ctx_size_out = (uint32_t)ctx_len;
  }
  int err = bpf_prog_test_run_opts(fd, &t);
  if (err) {
    free(out);
    free(ctx_out);
    nu_throw_errno(env, err, "bpf_prog_test_run_opts", NULL);
    return NULL;
  }
  napi_value r, dout, cout = NULL;
  bool ok = napi_create_object(env, &r) == napi_ok;
  ok = ok && (dout = nu_buffer_copy(env, out, t.data_size_out <= out_cap ? t.data_size_out : out_cap)) != NULL;
  if (ok && ctx_len) ok = (cout = nu_buffer_copy(env, ctx_out, t.ctx_size_out <= ctx_len ? t.ctx_size_out : ctx_len)) != NULL;
  free(out);
  free(ctx_out);
  if (!ok) {
    nu_throw_napi_status(env, napi_generic_failure, "progTestRun");
    return NULL;
  }
  if (!nu_set_u32(env, r, "retval", t.retval) || !nu_set(env, r, "dataOut", dout) ||
      !nu_set_u32(env, r, "durationNs", t.duration))
    return NULL;
  if (cout && !nu_set(env, r, "ctxOut", cout)) return NULL;
  return r;
}

static napi_value js_prog_stats(napi_env env, napi_callback_info info) {
  NU_ARGS(env, info, 1);
  int fd;
  if (!nu_arg_fd(env, argv[0], "progFd", &fd)) return NULL;
  struct bpf_prog_info pi;
  memset(&pi, 0, sizeof pi);
  uint32_t len = sizeof pi;
  int err = bpf_obj_get_info_by_fd(fd, &pi, &len);
  if (err) {
    nu_throw_errno(env, err, "bpf_obj_get_info_by_fd", NULL);
    return NULL;
  }
  char tag[2 * BPF_TAG_SIZE + 1];
  for (int i = 0; i < BPF_TAG_SIZE; i++) snprintf(tag + 2 * i, 3, "%02x", pi.tag[i]);
  const char *tn = libbpf_bpf_prog_type_str((enum bpf_prog_type)pi.type);
  napi_value o;
  NU_CALL(env, napi_create_object(env, &o));
  if (!nu_set_bigu64(env, o, "runCnt", pi.run_cnt) || !nu_set_bigu64(env, o, "runTimeNs", pi.run_time_ns) ||
      !nu_set_str(env, o, "name", pi.name) || !nu_set_u32(env, o, "id", pi.id) ||
      !nu_set_u32(env, o, "type", pi.type) || !nu_set_str(env, o, "typeName", tn ? tn : "unknown") ||
      !nu_set_str(env, o, "tag", tag))
    return NULL;
  return o;
}

static napi_value js_enable_stats(napi_env env, napi_callback_info info) {
  (void)info;
  int fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
  if (fd < 0) {
    nu_throw_errno(env, fd, "bpf_enable_stats", NULL);
    return NULL;
  }
  return nu_return_fd(env, fd);
}

static napi_value js_close_fd(napi_env env, napi_callback_info info) {
  NU_ARGS(env, info, 1);
  int fd;
  if (!nu_arg_fd(env, argv[0], "fd", &fd)) return NULL;
  if (close(fd) < 0 && errno != EINTR) nu_throw_errno(env, errno, "close", NULL);
  return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* tc                                                                                         */

typedef struct {
  int ifindex;
  enum bpf_tc_attach_point point;
  uint32_t priority, handle;
  bool replace;
  char *netns;
} tc_args;

/* Parse options {direction?, priority?, handle?, replace?, netns?}. */
static bool parse_tc_opts(napi_env env, napi_value v, bool need_direction, tc_args *a) {
  bool present;
  a->point = 0;
  a->priority = 1;
  a->handle = 1;
  a->replace = false;
  a->netns = NULL;
  if (!nu_arg_options(env, v, "options", &present)) return false;
  if (!present) {
    if (need_direction) {
      nu_throw_type_error(env, "The \"options.direction\" property must be 'ingress' or 'egress'. Received undefined");
      return false;
    }
    return true;
  }
  napi_value d;
  bool found;
  if (!nu_opt_get(env, v, "direction", &d, &found)) return false;
  if (found || need_direction) {
    char *dir = found ? nu_arg_string(env, d, "options.direction") : NULL;
    if (found && !dir) return false;
    if (dir && strcmp(dir, "ingress") == 0)
      a->point = BPF_TC_INGRESS;
    else if (dir && strcmp(dir, "egress") == 0)
      a->point = BPF_TC_EGRESS;
    else {
      nu_throw_type_error(env, "The \"options.direction\" property must be 'ingress' or 'egress'. Received %s",
                          dir ? dir : "undefined");
      free(dir);
      return false;
    }
    free(dir);
  }
  if (!nu_opt_u32(env, v, "priority", 1, &a->priority) || !nu_opt_u32(env, v, "handle", 1, &a->handle)) return false;
  if (a->priority > 0xffff) {
    nu_throw_range_error(env, "options.priority must be <= 65535. Received %u", a->priority);
    return false;
  }
  napi_value r;
  if (!nu_opt_get(env, v, "replace", &r, &found)) return false;
  if (found) {
    napi_valuetype t;
    if (!nu_typeof(env, r, &t)) return false;
    if (t != napi_boolean) {
      nu_throw_type_error(env, "The \"options.replace\" property must be of type boolean. Received %s",
                          nu_typeof_name(t));
      return false;
    }
    NU_CALL_RET(env, napi_get_value_bool(env, r, &a->replace), false);
  }
  return nu_opt_string(env, v, "netns", &a->netns);
}

static bool arg_ifindex(napi_env env, napi_value v, int *out) {
  int64_t n;
  if (!nu_arg_int64_range(env, v, "ifindex", 1, INT32_MAX, &n)) return false;
  *out = (int)n;
  return true;
}

static napi_value tc_result(napi_env env, const struct bpf_tc_opts *o) {
  napi_value r;
  NU_CALL(env, napi_create_object(env, &r));
  if (!nu_set_u32(env, r, "handle", o->handle) || !nu_set_u32(env, r, "priority", o->priority) ||
      !nu_set_u32(env, r, "progId", o->prog_id))
    return NULL;
  return r;
}

static napi_value js_tc_attach(napi_env env, napi_callback_info info) {
  NU_ARGS(env, info, 3);
  tc_args a;
  int prog_fd;
  if (!arg_ifindex(env, argv[0], &a.ifindex) || !nu_arg_fd(env, argv[1], "progFd", &prog_fd) ||
      !parse_tc_opts(env, argv[2], true, &a))
    return NULL;
  int orig;
  if (!ns_enter(env, a.netns, &orig)) {
    free(a.netns);
    return NULL;
  }
  free(a.netns);
  cap_begin();
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = a.ifindex, .attach_point = a.point);
  int err = bpf_tc_hook_create(&hook);
  if (err && err != -EEXIST) {
    ns_leave(orig);
    throw_captured(env, err, "bpf_tc_hook_create", NULL);
    return NULL;
  }
  LIBBPF_OPTS(bpf_tc_opts, o, .prog_fd = prog_fd, .handle = a.handle, .priority = a.priority,
              .flags = a.replace ? BPF_TC_F_REPLACE : 0);
  err = bpf_tc_attach(&hook, &o);
  ns_leave(orig);
  if (err) {
    throw_captured(env, err, "bpf_tc_attach", NULL);
    return NULL;
  }
  cap_end();
  return tc_result(env, &o);
}

static napi_value js_tc_detach(napi_env env, napi_callback_info info) {
  NU_ARGS(env, info, 2);
  tc_args a;
  if (!arg_ifindex(env, argv[0], &a.ifindex) || !parse_tc_opts(env, argv[1], true, &a)) return NULL;
  int orig;
  if (!ns_enter(env, a.netns, &orig)) {
    free(a.netns);
    return NULL;
  }
  free(a.netns);
  cap_begin();
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = a.ifindex, .attach_point = a.point);
  LIBBPF_OPTS(bpf_tc_opts, o, .handle = a.handle, .priority = a.priority);
  int err = bpf_tc_detach(&hook, &o);
  ns_leave(orig);
  if (err) {
    throw_captured(env, err, "bpf_tc_detach", NULL);
    return NULL;
  }
  cap_end();
  return NULL;
}

static napi_value js_tc_query(napi_env env, napi_callback_info info) {
  NU_ARGS(env, info, 2);
  tc_args a;
  if (!arg_ifindex(env, argv[0], &a.ifindex) || !parse_tc_opts(env, argv[1], true, &a)) return NULL;
  int orig;
  if (!ns_enter(env, a.netns, &orig)) {
    free(a.netns);
    return NULL;
  }
  free(a.netns);
  cap_begin();
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = a.ifindex, .attach_point = a.point);
  LIBBPF_OPTS(bpf_tc_opts, o, .handle = a.handle, .priority = a.priority);
  int err = bpf_tc_query(&hook, &o);
  ns_leave(orig);
  if (err == -ENOENT || err == -EINVAL) {
    /* ENOENT: no such filter; EINVAL: no clsact qdisc on the device (kernel's answer). */
    cap_end();
    napi_value nul;
    NU_CALL(env, napi_get_null(env, &nul));
    return nul;
  }
  if (err) {
    throw_captured(env, err, "bpf_tc_query", NULL);
    return NULL;
  }
  cap_end();
  return tc_result(env, &o);
}

static napi_value js_tc_hook_destroy(napi_env env, napi_callback_info info) {
  NU_ARGS(env, info, 2);
  tc_args a;
  if (!arg_ifindex(env, argv[0], &a.ifindex) || !parse_tc_opts(env, argv[1], false, &a)) return NULL;
  int orig;
  if (!ns_enter(env, a.netns, &orig)) {
    free(a.netns);
    return NULL;
  }
  free(a.netns);
  cap_begin();
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = a.ifindex, .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);
  int err = bpf_tc_hook_destroy(&hook);
  ns_leave(orig);
  if (err == -ENOENT || err == -EINVAL) {
    cap_end();
    napi_value f;
    NU_CALL(env, napi_get_boolean(env, false, &f));
    return f;
  }
  if (err) {
    throw_captured(env, err, "bpf_tc_hook_destroy", NULL);
    return NULL;
  }
  cap_end();
  napi_value t;
  NU_CALL(env, napi_get_boolean(env, true, &t));
  return t;
}

static napi_value js_if_name_to_index(napi_env env, napi_callback_info info) {
  NU_ARGS(env, info, 2);
  char *name = nu_arg_string(env, argv[0], "name");
  if (!name) return NULL;
  bool present;
  char *netns = NULL;
  if (!nu_arg_options(env, argv[1], "options", &present) ||
      (present && !nu_opt_string(env, argv[1], "netns", &netns))) {
    free(name);
    return NULL;
  }
  int orig;
  if (!ns_enter(env, netns, &orig)) {
    free(name);
    free(netns);
    return NULL;
  }
  free(netns);
  unsigned idx = if_nametoindex(name);
  int e = errno;
  ns_leave(orig);
  if (idx == 0) {
    nu_throw_errno(env, e ? e : ENODEV, "if_nametoindex", name);
    free(name);
    return NULL;
  }
  free(name);
  napi_value r;
  NU_CALL(env, napi_create_uint32(env, idx, &r));
  return r;
}

/* ------------------------------------------------------------------------------------------ */

static napi_value init(napi_env env, napi_value exports) {
  libbpf_set_print(print_cb);
  static const struct {
    const char *name;
    napi_callback cb;
  } fns[] = {
      {"openObject", js_open_object},
      {"closeObject", js_close_object},
      {"listPrograms", js_list_programs},
      {"listMaps", js_list_maps},
      {"mapInfo", js_map_info},
      {"mapUpdate", js_map_update},
      {"mapUpdateBatch", js_map_update_batch},
      {"mapLookup", js_map_lookup},
      {"mapDelete", js_map_delete},
      {"mapKeys", js_map_keys},
      {"numPossibleCpus", js_num_possible_cpus},
      {"progTestRun", js_prog_test_run},
      {"progStats", js_prog_stats},
      {"enableStats", js_enable_stats},
      {"closeFd", js_close_fd},
      {"tcAttach", js_tc_attach},
      {"tcDetach", js_tc_detach},
      {"tcQuery", js_tc_query},
      {"tcHookDestroy", js_tc_hook_destroy},
      {"ifNameToIndex", js_if_name_to_index},
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++)
    if (!nu_export(env, exports, fns[i].name, fns[i].cb)) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
