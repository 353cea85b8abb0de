/*
 * rkt-flock.node: flock(2) for Node, which has none (a Node-API addon, loaded by src/pod/lock.ts).
 *
 *   flock(fd, exclusive) -> true when this open file description now holds the lock (shared when
 *   `exclusive` is false), false when another one holds a conflicting lock. Never waits (LOCK_NB).
 *   Any other failure throws an Error whose `code` is the errno name (EBADF …), as Node's own fs calls do.
 *
 * It replaces a flock(1) process per lock taken: a process spawn is most of what taking a pod lock cost
 * (`rkt run`, `rkt gc`, the lock probes of `rkt list`). Built by hack/build-launcher, into build/.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <node_api.h>
#include <string.h>
#include <sys/file.h>

static napi_value fail(napi_env env, int err) {
  const char *name = strerrorname_np(err);
  napi_value code, msg, error;
  napi_create_string_utf8(env, name != NULL ? name : "EIO", NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, strerror(err), NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, code, msg, &error);
  napi_set_named_property(env, error, "code", code);
  napi_throw(env, error);
  return NULL;
}

static napi_value do_flock(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t fd;
  bool exclusive;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 2
      || napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_get_value_bool(env, argv[1], &exclusive) != napi_ok) {
    napi_throw_type_error(env, NULL, "flock(fd: number, exclusive: boolean)");
    return NULL;
  }
  int r;
  do r = flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB);
  while (r < 0 && errno == EINTR);
  if (r < 0 && errno != EWOULDBLOCK) return fail(env, errno);
  napi_value result;
  napi_get_boolean(env, r == 0, &result);
  return result;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "flock", NAPI_AUTO_LENGTH, do_flock, NULL, &fn);
  napi_set_named_property(env, exports, "flock", fn);
  return exports;
}
