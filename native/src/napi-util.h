/*
 * napi-util.h: small helpers shared by prism's N-API addons (plain C, N-API version 8).
 *
 * Conventions every addon follows:
 *   - A bad argument type throws a TypeError with code 'ERR_INVALID_ARG_TYPE'.
 *   - A bad argument value (out of range, wrong length) throws a RangeError with code
 *     'ERR_OUT_OF_RANGE'.
 *   - A failed system/kernel call throws an Error with code = the errno name ('EPERM'),
 *     errno = the positive errno number, syscall = the operation name. The message is
 *     "<op>: <strerror> (<ENAME>)" optionally followed by extra detail (e.g. a verifier log).
 *
 * Every helper returns false (or NULL) after having thrown, so callers write
 *   if (!nu_arg_u32(env, argv[0], "fd", &fd)) return NULL;
 *
 * Everything here is static so several targets can include it without link clashes.
 */
#ifndef PRISM_NAPI_UTIL_H
#define PRISM_NAPI_UTIL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#define NAPI_VERSION 8
#include <node_api.h>
#include <unistd.h>

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Evaluate an N-API call; on failure throw (if nothing is pending yet) and return `ret`. */
#define NU_CALL_RET(env, call, ret)                                                  \
  do {                                                                               \
    napi_status nu_status_ = (call);                                                 \
    if (nu_status_ != napi_ok) {                                                     \
      nu_throw_napi_status((env), nu_status_, #call);                                \
      return ret;                                                                    \
    }                                                                                \
  } while (0)

#define NU_CALL(env, call) NU_CALL_RET(env, call, NULL)

/* Fetch exactly up to N arguments; missing ones are `undefined`. */
#define NU_ARGS(env, info, n)                                                        \
  size_t argc = (n);                                                                 \
  napi_value argv[(n) > 0 ? (n) : 1];                                                \
  NU_CALL((env), napi_get_cb_info((env), (info), &argc, argv, NULL, NULL));          \
  for (size_t nu_i_ = argc; nu_i_ < (size_t)(n); nu_i_++)                            \
    NU_CALL((env), napi_get_undefined((env), &argv[nu_i_]))

static inline bool nu_exception_pending(napi_env env) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  return pending;
}

static void nu_throw_napi_status(napi_env env, napi_status status, const char *what) {
  if (nu_exception_pending(env)) return;
  const napi_extended_error_info *info = NULL;
  napi_get_last_error_info(env, &info);
  char msg[256];
  snprintf(msg, sizeof msg, "N-API call failed (%d): %s: %s", (int)status, what,
           info && info->error_message ? info->error_message : "unknown");
  napi_throw_error(env, "ERR_NAPI", msg);
}

/* Set obj[key] = value; returns false when it threw. */
/* A new file descriptor as a JS number; closed again if that fails, so it never leaks. */
static inline napi_value nu_return_fd(napi_env env, int fd) {
  napi_value r;
  if (napi_create_int32(env, fd, &r) != napi_ok) {
    close(fd);
    nu_throw_napi_status(env, napi_generic_failure, "napi_create_int32");
    return NULL;
  }
  return r;
}

static inline bool nu_set(napi_env env, napi_value obj, const char *key, napi_value value) {
  NU_CALL_RET(env, napi_set_named_property(env, obj, key, value), false);
  return true;
}

static inline bool nu_set_str(napi_env env, napi_value obj, const char *key, const char *s) {
  napi_value v;
  NU_CALL_RET(env, napi_create_string_utf8(env, s ? s : "", NAPI_AUTO_LENGTH, &v), false);
  return nu_set(env, obj, key, v);
}

static inline bool nu_set_i64(napi_env env, napi_value obj, const char *key, int64_t n) {
  napi_value v;
  NU_CALL_RET(env, napi_create_int64(env, n, &v), false);
  return nu_set(env, obj, key, v);
}

static inline bool nu_set_u32(napi_env env, napi_value obj, const char *key, uint32_t n) {
  napi_value v;
  NU_CALL_RET(env, napi_create_uint32(env, n, &v), false);
  return nu_set(env, obj, key, v);
}

static inline bool nu_set_bigu64(napi_env env, napi_value obj, const char *key, uint64_t n) {
  napi_value v;
  NU_CALL_RET(env, napi_create_bigint_uint64(env, n, &v), false);
  return nu_set(env, obj, key, v);
}

/* Throw `ctor`-style error (TypeError/RangeError/Error) with a code property. */
static void nu_throw_typed(napi_env env, napi_status (*ctor)(napi_env, napi_value, napi_value, napi_value *),
                           const char *code, const char *msg) {
  if (nu_exception_pending(env)) return;
  napi_value jcode, jmsg, err;
  if (napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &jcode) != napi_ok ||
      napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &jmsg) != napi_ok ||
      ctor(env, jcode, jmsg, &err) != napi_ok) {
    napi_throw_error(env, code, msg);
    return;
  }
  napi_throw(env, err);
}

static void nu_throw_type_error(napi_env env, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void nu_throw_type_error(napi_env env, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  nu_throw_typed(env, napi_create_type_error, "ERR_INVALID_ARG_TYPE", msg);
}

static void nu_throw_range_error(napi_env env, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void nu_throw_range_error(napi_env env, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  nu_throw_typed(env, napi_create_range_error, "ERR_OUT_OF_RANGE", msg);
}

/* Name of an errno value ("ENOENT"), or "E<n>" if unknown. `buf` must hold 16 bytes. */
static const char *nu_errno_name(int err, char buf[16]) {
  const char *name = strerrorname_np(err);
  if (name) return name;
  /* Kernel-internal codes that leak to user space through BPF helpers/netlink. */
  switch (err) {
    case 524: return "ENOTSUPP";
    case 525: return "ETOOSMALL";
    default: break;
  }
  snprintf(buf, 16, "E%d", err);
  return buf;
}

/*
 * Throw Error{code: ENAME, errno, syscall: op}; message "<op>: <strerror> (<ENAME>)[: detail]".
 * `err` may be given positive or negative (libbpf returns -errno).
 */
static void nu_throw_errno(napi_env env, int err, const char *op, const char *detail) {
  if (nu_exception_pending(env)) return;
  if (err < 0) err = -err;
  if (err == 0) err = EIO;
  char namebuf[16];
  const char *name = nu_errno_name(err, namebuf);
  const char *desc = err == 524 ? "Operation not supported" : strerror(err);
  size_t dlen = detail ? strlen(detail) : 0;
  size_t cap = strlen(op) + strlen(desc) + strlen(name) + dlen + 16;
  char *msg = malloc(cap);
  if (!msg) {
    napi_throw_error(env, name, op);
    return;
  }
  if (dlen)
    snprintf(msg, cap, "%s: %s (%s): %s", op, desc, name, detail);
  else
    snprintf(msg, cap, "%s: %s (%s)", op, desc, name);
  napi_value jcode, jmsg, error;
  bool ok = napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &jcode) == napi_ok &&
            napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &jmsg) == napi_ok &&
            napi_create_error(env, jcode, jmsg, &error) == napi_ok;
  if (ok) {
    napi_value jerrno, jop;
    ok = napi_create_int32(env, err, &jerrno) == napi_ok &&
         napi_set_named_property(env, error, "errno", jerrno) == napi_ok &&
         napi_create_string_utf8(env, op, NAPI_AUTO_LENGTH, &jop) == napi_ok &&
         napi_set_named_property(env, error, "syscall", jop) == napi_ok;
  }
  if (ok)
    napi_throw(env, error);
  else
    napi_throw_error(env, name, msg);
  free(msg);
}

static inline const char *nu_typeof_name(napi_valuetype t) {
  switch (t) {
    case napi_undefined: return "undefined";
    case napi_null: return "null";
    case napi_boolean: return "boolean";
    case napi_number: return "number";
    case napi_string: return "string";
    case napi_symbol: return "symbol";
    case napi_object: return "object";
    case napi_function: return "function";
    case napi_external: return "external";
    case napi_bigint: return "bigint";
  }
  return "unknown";
}

static inline bool nu_typeof(napi_env env, napi_value v, napi_valuetype *t) {
  NU_CALL_RET(env, napi_typeof(env, v, t), false);
  return true;
}

static inline bool nu_is_nullish(napi_env env, napi_value v) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return false;
  return t == napi_undefined || t == napi_null;
}

/* An integer-valued number within [min, max]. */
static bool nu_arg_int64_range(napi_env env, napi_value v, const char *name, int64_t min, int64_t max, int64_t *out) {
  napi_valuetype t;
  if (!nu_typeof(env, v, &t)) return false;
  if (t != napi_number) {
    nu_throw_type_error(env, "The \"%s\" argument must be of type number. Received %s", name, nu_typeof_name(t));
    return false;
  }
  double d;
  NU_CALL_RET(env, napi_get_value_double(env, v, &d), false);
  if (d != d || d != (double)(int64_t)d || d < (double)min || d > (double)max) {
    nu_throw_range_error(env, "The value of \"%s\" is out of range. It must be an integer >= %lld and <= %lld. Received %g",
                         name, (long long)min, (long long)max, d);
    return false;
  }
  *out = (int64_t)d;
  return true;
}

static inline bool nu_arg_u32(napi_env env, napi_value v, const char *name, uint32_t *out) {
  int64_t n;
  if (!nu_arg_int64_range(env, v, name, 0, UINT32_MAX, &n)) return false;
  *out = (uint32_t)n;
  return true;
}

/* A file descriptor: integer 0..INT32_MAX. */
static inline bool nu_arg_fd(napi_env env, napi_value v, const char *name, int *out) {
  int64_t n;
  if (!nu_arg_int64_range(env, v, name, 0, INT32_MAX, &n)) return false;
  *out = (int)n;
  return true;
}

/* A string argument, copied into a malloc'd buffer the caller frees. */
static char *nu_arg_string(napi_env env, napi_value v, const char *name) {
  napi_valuetype t;
  if (!nu_typeof(env, v, &t)) return NULL;
  if (t != napi_string) {
    nu_throw_type_error(env, "The \"%s\" argument must be of type string. Received %s", name, nu_typeof_name(t));
    return NULL;
  }
  size_t len = 0;
  NU_CALL(env, napi_get_value_string_utf8(env, v, NULL, 0, &len));
  char *s = malloc(len + 1);
  if (!s) {
    nu_throw_errno(env, ENOMEM, "malloc", NULL);
    return NULL;
  }
  if (napi_get_value_string_utf8(env, v, s, len + 1, &len) != napi_ok) {
    free(s);
    nu_throw_napi_status(env, napi_generic_failure, "napi_get_value_string_utf8");
    return NULL;
  }
  if (strlen(s) != len) {
    free(s);
    nu_throw_type_error(env, "The \"%s\" argument must be a string without null bytes", name);
    return NULL;
  }
  return s;
}

/* A Buffer / Uint8Array argument (borrowed memory, valid during the call). */
static bool nu_arg_bytes(napi_env env, napi_value v, const char *name, void **data, size_t *len) {
  bool is = false;
  NU_CALL_RET(env, napi_is_buffer(env, v, &is), false);
  if (is) {
    NU_CALL_RET(env, napi_get_buffer_info(env, v, data, len), false);
    return true;
  }
  NU_CALL_RET(env, napi_is_typedarray(env, v, &is), false);
  if (is) {
    napi_typedarray_type type;
    size_t length, offset;
    napi_value ab;
    NU_CALL_RET(env, napi_get_typedarray_info(env, v, &type, &length, data, &ab, &offset), false);
    if (type == napi_uint8_array) {
      *len = length;
      return true;
    }
  }
  napi_valuetype t = napi_undefined;
  napi_typeof(env, v, &t);
  nu_throw_type_error(env, "The \"%s\" argument must be an instance of Buffer or Uint8Array. Received %s", name,
                      nu_typeof_name(t));
  return false;
}

/* `v` must be an object, undefined or null (options bag). *present=false for nullish. */
static bool nu_arg_options(napi_env env, napi_value v, const char *name, bool *present) {
  napi_valuetype t;
  if (!nu_typeof(env, v, &t)) return false;
  if (t == napi_undefined || t == napi_null) {
    *present = false;
    return true;
  }
  if (t != napi_object) {
    nu_throw_type_error(env, "The \"%s\" argument must be of type object. Received %s", name, nu_typeof_name(t));
    return false;
  }
  *present = true;
  return true;
}

/* Read opts[key]; *found=false when missing/undefined. `opts` may be NULL (no options). */
static bool nu_opt_get(napi_env env, napi_value opts, const char *key, napi_value *out, bool *found) {
  *found = false;
  if (!opts) return true;
  NU_CALL_RET(env, napi_get_named_property(env, opts, key, out), false);
  napi_valuetype t;
  if (!nu_typeof(env, *out, &t)) return false;
  *found = t != napi_undefined;
  return true;
}

static bool nu_opt_u32(napi_env env, napi_value opts, const char *key, uint32_t dflt, uint32_t *out) {
  napi_value v;
  bool found;
  if (!nu_opt_get(env, opts, key, &v, &found)) return false;
  if (!found) {
    *out = dflt;
    return true;
  }
  char name[64];
  snprintf(name, sizeof name, "options.%s", key);
  return nu_arg_u32(env, v, name, out);
}

/* Optional string option; *out is malloc'd (caller frees) or NULL when absent. */
static bool nu_opt_string(napi_env env, napi_value opts, const char *key, char **out) {
  napi_value v;
  bool found;
  *out = NULL;
  if (!nu_opt_get(env, opts, key, &v, &found)) return false;
  if (!found) return true;
  char name[64];
  snprintf(name, sizeof name, "options.%s", key);
  *out = nu_arg_string(env, v, name);
  return *out != NULL;
}

/* Create a Buffer holding a copy of `len` bytes. */
static napi_value nu_buffer_copy(napi_env env, const void *data, size_t len) {
  napi_value out;
  void *dst;
  NU_CALL(env, napi_create_buffer_copy(env, len, len ? data : "", &dst, &out));
  return out;
}

/* Register a function property on `exports`. */
static bool nu_export(napi_env env, napi_value exports, const char *name, napi_callback cb) {
  napi_value fn;
  NU_CALL_RET(env, napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, NULL, &fn), false);
  return nu_set(env, exports, name, fn);
}

#endif /* PRISM_NAPI_UTIL_H */
