# Shared by hack/bench and the part of it that runs inside a test host (sourced, not run).

# The nspawn floor tree: the stage1 image with one unit that runs /bin/true in the busybox tree ($1: dir, $2: busybox tree).
make_floor_tree() {
  local fl=$1 tree=$2; rm -rf "$fl"; mkdir -p "$fl"
  tar -xf build/stage1.aci -C "$fl"
  local root=$fl/rootfs
  mkdir -p "$root/opt/stage2/app/rootfs"; cp -a "$tree"/rootfs/. "$root/opt/stage2/app/rootfs/"
  cat > "$root/etc/systemd/system/default.target" <<'UNIT'
[Unit]
Description=bench
Wants=app.service
UNIT
  cat > "$root/etc/systemd/system/app.service" <<'UNIT'
[Unit]
DefaultDependencies=no
SuccessAction=exit-force
FailureAction=exit-force
[Service]
RootDirectory=/opt/stage2/app/rootfs
MountAPIVFS=yes
ExecStart=/bin/true
UNIT
}

# mem_pod LABEL RKT IMAGE WORK: run an idle pod of IMAGE (busybox's sleep) with RKT ("node dist/bin/rkt.js
# --dir=…"), wait until it runs with its app started, print the resident memory of what rkt left running for it
# (hack/bench-mem.mjs: per process, then summed, the app apart), then stop it and collect it.
mem_pod() {
  local label=$1 rkt=$2 image=$3 work=$4
  rm -f "$work/mem-uuid"
  $rkt run --net=host --uuid-file-save="$work/mem-uuid" "$image" --exec /bin/sleep -- 100000 </dev/null >"$work/mem-log" 2>&1 &
  local rp=$!
  until [ -s "$work/mem-uuid" ]; do
    kill -0 "$rp" 2>/dev/null || { echo "$label: the pod did not start:" >&2; cat "$work/mem-log" >&2; return 1; }
    sleep 0.1
  done
  local u; u=$(cat "$work/mem-uuid")
  $rkt status --wait-ready=60s "$u" >/dev/null
  sleep 2   # an idle pod is measured: let its systemd finish starting up
  node hack/bench-mem.mjs "$label" "$u" "$rp" busybox
  $rkt stop "$u" >/dev/null || true
  wait "$rp" || true
  $rkt gc --grace-period=0s >/dev/null 2>&1 || true
}

# podman as a peer of rkt run (Debian's podman): podman_true ROOTFS STORE runs `podman run --rm --network=host
# --rootfs ROOTFS /bin/true` (the same busybox tree rkt runs) with its storage in STORE, and the --ulimit values this
# machine's hard limits allow (podman's defaults are above them). crun refuses a cgroup v1+v2 hybrid host whose
# cgroup2 holds a controller (here hugetlb): there podman runs in a private mount namespace without
# /sys/fs/cgroup/unified, so that crun sees the v1 controllers alone.
podman_true() {
  local run=(podman --root="$2/root" --runroot="$2/run" run --rm --network=host --ulimit nofile=20000:20000 --ulimit nproc=32768:32768 --rootfs "$1" /bin/true)
  if [ -n "$(cat /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null)" ]; then   # (cgroupfs files have no size)
    unshare --mount --propagation private sh -c 'umount /sys/fs/cgroup/unified && exec "$@"' sh "${run[@]}"
  else
    "${run[@]}"
  fi
}

# podman_peer ROOTFS STORE: whether podman_true works here; if not, PODMAN_WHY says why (printed instead of a figure).
podman_peer() {
  PODMAN_WHY=''
  if ! command -v podman >/dev/null; then PODMAN_WHY='podman is not installed (hack/setup installs it)'; return 0; fi
  local err
  err=$(podman_true "$1" "$2" 2>&1 </dev/null) || PODMAN_WHY="podman run fails here: $(echo "$err" | tail -1)"
}
