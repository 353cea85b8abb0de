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
