/*
 * rkt-native.node: the system calls stage0 needs and Node does not have (a Node-API addon, loaded by
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
 *   pipe() -> [readFd, writeFd], both close-on-exec.
 *
 *   spawn(file, argv, fds, cwd) -> pid: start `file` with `argv` and this process's environment, in `cwd`, with
 *   descriptor i of the child being fds[i] of ours (-1: /dev/null) and no other descriptor, signals at their
 *   defaults and unblocked. posix_spawn(3) (a vfork: the child shares our memory until it execs), not Node's
 *   fork(2) through child_process: no page table of Node's heap is copied, none of its pages is write-faulted
 *   back afterwards, and node:child_process (which loads net, dgram and the streams) is not loaded.
 *
 *   waitExit(pid, relayFd, relayWaitMs) -> Promise<{ code, signal }>: in a thread of Node's pool, waitpid(2) for
 *   the child, then (relayFd >= 0) read relayFd until end of file, for at most relayWaitMs after the child
 *   ended. code is its exit status (null if killed), signal the number of the signal that killed it (null).
 *
 * Any failure throws an Error whose `code` is the errno name (EBADF, ENOENT …), as Node's own fs calls do.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
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
  bool reset[NSIG] = { false };   /* glibc keeps a few signals for itself (SIGCANCEL …): those are refused */
  sigset_t oldmask, none;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&none);
  struct itimerval timers[3], off;
  memset(&off, 0, sizeof off);
  if (err == 0) {
    for (int w = 0; w < 3; w++) setitimer(w, &off, &timers[w]);   /* ITIMER_REAL, _VIRTUAL, _PROF */
    sigprocmask(SIG_SETMASK, &none, &oldmask);
    for (int s = 1; s < NSIG; s++) if (s != SIGKILL && s != SIGSTOP) reset[s] = sigaction(s, &dfl, &old[s]) == 0;
    execve(file, argv, envp);
    err = errno;
    for (int s = 1; s < NSIG; s++) if (reset[s]) sigaction(s, &old[s], NULL);
    sigprocmask(SIG_SETMASK, &oldmask, NULL);
    for (int w = 0; w < 3; w++) setitimer(w, &timers[w], NULL);
  }
  while (--k >= 0) if (keepFlags[k] >= 0) fcntl(keep[k], F_SETFD, keepFlags[k]);
  free(file); free_vector(argv); free_vector(envp);
  return fail(env, err);
}

static napi_value do_pipe(napi_env env, napi_callback_info info) {
  (void)info;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return fail(env, errno);
  napi_value arr, v;
  napi_create_array_with_length(env, 2, &arr);
  for (uint32_t i = 0; i < 2; i++) {
    napi_create_int32(env, fds[i], &v);
    napi_set_element(env, arr, i, v);
  }
  return arr;
}

#define MAX_CHILD_FDS 16

static napi_value do_spawn(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value args[4];
  char *file = NULL, **argv = NULL, *cwd = NULL;
  int fds[MAX_CHILD_FDS];
  uint32_t n = 0;
  bool ok = napi_get_cb_info(env, info, &argc, args, NULL, NULL) == napi_ok && argc == 4
    && (file = c_string(env, args[0])) != NULL && (argv = c_vector(env, args[1])) != NULL && argv[0] != NULL
    && napi_get_array_length(env, args[2], &n) == napi_ok && n <= MAX_CHILD_FDS && (cwd = c_string(env, args[3])) != NULL;
  for (uint32_t i = 0; ok && i < n; i++) {
    napi_value e;
    ok = napi_get_element(env, args[2], i, &e) == napi_ok && napi_get_value_int32(env, e, &fds[i]) == napi_ok && fds[i] >= -1;
  }
  if (!ok) {
    free(file); free_vector(argv); free(cwd);
    napi_throw_type_error(env, NULL, "spawn(file: string, argv: string[] (not empty), fds: number[] (at most 16, -1: /dev/null), cwd: string)");
    return NULL;
  }
  /* Each source first to a descriptor above all of them and all targets, then onto its target: a source that
   * is another's target (3 -> 4, 4 -> 3) is never overwritten before it is copied. */
  int top = (int)n;
  for (uint32_t i = 0; i < n; i++) if (fds[i] >= top) top = fds[i] + 1;
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&attr);
  for (uint32_t i = 0; i < n; i++) if (fds[i] >= 0) posix_spawn_file_actions_adddup2(&fa, fds[i], top + (int)i);
  for (uint32_t i = 0; i < n; i++) {
    if (fds[i] >= 0) posix_spawn_file_actions_adddup2(&fa, top + (int)i, (int)i);
    else posix_spawn_file_actions_addopen(&fa, (int)i, "/dev/null", O_RDWR, 0);
  }
  posix_spawn_file_actions_addclosefrom_np(&fa, (int)n);
  posix_spawn_file_actions_addchdir_np(&fa, cwd);
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  pid_t pid;
  extern char **environ;
  int err = posix_spawn(&pid, file, &fa, &attr, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  free(file); free_vector(argv); free(cwd);
  if (err != 0) return fail(env, err);
  napi_value result;
  napi_create_int32(env, pid, &result);
  return result;
}

struct wait_job {
  napi_async_work work;
  napi_deferred deferred;
  pid_t pid;
  int relay_fd, relay_wait_ms, status, err;
};

static void wait_execute(napi_env env, void *data) {
  (void)env;
  struct wait_job *j = data;
  while (waitpid(j->pid, &j->status, 0) < 0) {
    if (errno != EINTR) { j->err = errno; return; }
  }
  if (j->relay_fd < 0) return;
  struct timespec start, now;
  clock_gettime(CLOCK_MONOTONIC, &start);
  char buf[4096];
  for (;;) {
    clock_gettime(CLOCK_MONOTONIC, &now);
    long left = j->relay_wait_ms - ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000);
    if (left <= 0) return;
    struct pollfd p = { .fd = j->relay_fd, .events = POLLIN };
    int r = poll(&p, 1, (int)left);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return;
    ssize_t got = read(j->relay_fd, buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return;   /* end of file: every writer is gone */
  }
}

static void wait_complete(napi_env env, napi_status status, void *data) {
  struct wait_job *j = data;
  napi_value result, code, sig, nul;
  napi_get_null(env, &nul);
  if (status != napi_ok || j->err != 0) {
    napi_value msg, error, ecode;
    int e = j->err != 0 ? j->err : EIO;
    const char *name = strerrorname_np(e);
    napi_create_string_utf8(env, name != NULL ? name : "EIO", NAPI_AUTO_LENGTH, &ecode);
    napi_create_string_utf8(env, strerror(e), NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, ecode, msg, &error);
    napi_set_named_property(env, error, "code", ecode);
    napi_reject_deferred(env, j->deferred, error);
  } else {
    napi_create_object(env, &result);
    if (WIFEXITED(j->status)) napi_create_int32(env, WEXITSTATUS(j->status), &code); else code = nul;
    if (WIFSIGNALED(j->status)) napi_create_int32(env, WTERMSIG(j->status), &sig); else sig = nul;
    napi_set_named_property(env, result, "code", code);
    napi_set_named_property(env, result, "signal", sig);
    napi_resolve_deferred(env, j->deferred, result);
  }
  napi_delete_async_work(env, j->work);
  free(j);
}

static napi_value do_wait_exit(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value args[3], promise, name;
  int32_t pid, fd, ms;
  if (napi_get_cb_info(env, info, &argc, args, NULL, NULL) != napi_ok || argc != 3 || napi_get_value_int32(env, args[0], &pid) != napi_ok
      || napi_get_value_int32(env, args[1], &fd) != napi_ok || napi_get_value_int32(env, args[2], &ms) != napi_ok || pid <= 0) {
    napi_throw_type_error(env, NULL, "waitExit(pid: number, relayFd: number (-1: none), relayWaitMs: number)");
    return NULL;
  }
  struct wait_job *j = calloc(1, sizeof *j);
  if (j == NULL) return fail(env, ENOMEM);
  j->pid = pid;
  j->relay_fd = fd;
  j->relay_wait_ms = ms;
  napi_create_promise(env, &j->deferred, &promise);
  napi_create_string_utf8(env, "rkt:waitExit", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, wait_execute, wait_complete, j, &j->work);
  napi_queue_async_work(env, j->work);
  return promise;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "flock", NAPI_AUTO_LENGTH, do_flock, NULL, &fn);
  napi_set_named_property(env, exports, "flock", fn);
  napi_create_function(env, "execve", NAPI_AUTO_LENGTH, do_execve, NULL, &fn);
  napi_set_named_property(env, exports, "execve", fn);
  napi_create_function(env, "pipe", NAPI_AUTO_LENGTH, do_pipe, NULL, &fn);
  napi_set_named_property(env, exports, "pipe", fn);
  napi_create_function(env, "spawn", NAPI_AUTO_LENGTH, do_spawn, NULL, &fn);
  napi_set_named_property(env, exports, "spawn", fn);
  napi_create_function(env, "waitExit", NAPI_AUTO_LENGTH, do_wait_exit, NULL, &fn);
  napi_set_named_property(env, exports, "waitExit", fn);
  return exports;
}
