/*
 * rkt-native.node: the two system calls stage0 needs and Node does not have (a Node-API addon, loaded by
 * src/common/native.ts). Built by hack/build-launcher, into build/.
 *
 *   flock(fd, exclusive) -> true when this open file description now holds the lock (shared when
 *   `exclusive` is false), false when another one holds a conflicting lock. Never waits (LOCK_NB). It replaced
 *   a flock(1) process per lock taken: a process spawn was most of what taking a pod lock cost.
 *
 *   execve(file, argv, env, keepFds) -> only on failure (throws): this process becomes `file`, as stage0 hands
 *   a fly pod to its stage1 (appc's stage0 execs stage1's run entrypoint). Descriptors 0, 1, 2 and those in
 *   `keepFds` are inherited (close-on-exec cleared: Node may have set it on stdio); every other one Node opened
 *   is close-on-exec already. Signals are given
 *   back as a new program expects them: default dispositions (Node ignores SIGPIPE), nothing blocked, and no
 *   interval timer armed (a profiler's SIGPROF would kill the new program). If the exec fails, all of that is
 *   put back as it was.
 *
 * Any failure throws an Error whose `code` is the errno name (EBADF, ENOENT …), as Node's own fs calls do.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/time.h>
#include <unistd.h>

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

/* A JavaScript string as a malloc'd C string, or NULL (not a string, or no memory). */
static char *c_string(napi_env env, napi_value v) {
  size_t n;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &n) != napi_ok) return NULL;
  char *s = malloc(n + 1);
  if (s != NULL && napi_get_value_string_utf8(env, v, s, n + 1, &n) != napi_ok) { free(s); return NULL; }
  return s;
}

/* A JavaScript array of strings as a NULL-terminated malloc'd vector, or NULL. */
static char **c_vector(napi_env env, napi_value arr) {
  uint32_t n;
  bool is;
  if (napi_is_array(env, arr, &is) != napi_ok || !is || napi_get_array_length(env, arr, &n) != napi_ok) return NULL;
  char **v = calloc((size_t)n + 1, sizeof(char *));
  if (v == NULL) return NULL;
  for (uint32_t i = 0; i < n; i++) {
    napi_value e;
    if (napi_get_element(env, arr, i, &e) != napi_ok || (v[i] = c_string(env, e)) == NULL) {
      for (uint32_t k = 0; k < i; k++) free(v[k]);
      free(v);
      return NULL;
    }
  }
  return v;
}

static void free_vector(char **v) {
  if (v == NULL) return;
  for (char **p = v; *p != NULL; p++) free(*p);
  free(v);
}

#define MAX_KEEP (16 + 3)

static napi_value do_execve(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value args[4];
  char *file = NULL, **argv = NULL, **envp = NULL;
  int keep[MAX_KEEP] = { 0, 1, 2 }, nkeep = 3, keepFlags[MAX_KEEP];
  uint32_t n = 0;
  bool ok = napi_get_cb_info(env, info, &argc, args, NULL, NULL) == napi_ok && argc == 4
    && (file = c_string(env, args[0])) != NULL && (argv = c_vector(env, args[1])) != NULL && argv[0] != NULL
    && (envp = c_vector(env, args[2])) != NULL && napi_get_array_length(env, args[3], &n) == napi_ok && n <= MAX_KEEP - 3;
  for (uint32_t i = 0; ok && i < n; i++) {
    napi_value e;
    ok = napi_get_element(env, args[3], i, &e) == napi_ok && napi_get_value_int32(env, e, &keep[nkeep]) == napi_ok;
    if (ok) nkeep++;
  }
  if (!ok) {
    free(file); free_vector(argv); free_vector(envp);
    napi_throw_type_error(env, NULL, "execve(file: string, argv: string[] (not empty), env: string[], keepFds: number[] (at most 16))");
    return NULL;
  }
  int err = 0, k;
  for (k = 0; k < nkeep; k++) {
    keepFlags[k] = fcntl(keep[k], F_GETFD);
    if (keepFlags[k] < 0 && k < 3 && errno == EBADF) continue;   /* a closed stdio descriptor stays closed */
    if (keepFlags[k] < 0 || fcntl(keep[k], F_SETFD, keepFlags[k] & ~FD_CLOEXEC) < 0) { err = errno; break; }
  }
  struct sigaction old[NSIG], dfl;
  sigset_t oldmask, none;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&none);
  struct itimerval timers[3], off;
  memset(&off, 0, sizeof off);
  if (err == 0) {
    for (int w = 0; w < 3; w++) setitimer(w, &off, &timers[w]);   /* ITIMER_REAL, _VIRTUAL, _PROF */
    sigprocmask(SIG_SETMASK, &none, &oldmask);
    for (int s = 1; s < NSIG; s++) if (s != SIGKILL && s != SIGSTOP) sigaction(s, &dfl, &old[s]);
    execve(file, argv, envp);
    err = errno;
    for (int s = 1; s < NSIG; s++) if (s != SIGKILL && s != SIGSTOP) sigaction(s, &old[s], NULL);
    sigprocmask(SIG_SETMASK, &oldmask, NULL);
    for (int w = 0; w < 3; w++) setitimer(w, &timers[w], NULL);
  }
  while (--k >= 0) if (keepFlags[k] >= 0) fcntl(keep[k], F_SETFD, keepFlags[k]);
  free(file); free_vector(argv); free_vector(envp);
  return fail(env, err);
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "flock", NAPI_AUTO_LENGTH, do_flock, NULL, &fn);
  napi_set_named_property(env, exports, "flock", fn);
  napi_create_function(env, "execve", NAPI_AUTO_LENGTH, do_execve, NULL, &fn);
  napi_set_named_property(env, exports, "execve", fn);
  return exports;
}
