#!/usr/bin/env bash
# Installs edgeflux as a systemd service from this checkout, on Raspberry Pi OS / Debian:
#   sudo systemd/install.sh              install (or upgrade) and start
#   sudo systemd/install.sh --uninstall  remove the program and the service; keep config and data
#   sudo systemd/install.sh --uninstall --purge   also remove /etc/edgeflux, /var/lib/edgeflux and the user
# Options: --prefix DIR (default /opt/edgeflux), --no-start, --dry-run (print what would be done).
# Needs Node.js >= 20 and npm (e.g. from nodejs.org or NodeSource), systemd >= 246.
set -euo pipefail

PREFIX=/opt/edgeflux
CONF_DIR=/etc/edgeflux
STATE_DIR=/var/lib/edgeflux
UNIT_DIR=/etc/systemd/system
SYSUSERS_DIR=/etc/sysusers.d
TMPFILES_DIR=/etc/tmpfiles.d
BIN_LINK=/usr/local/bin/edgeflux
MODE=install
PURGE=0
START=1
DRY=0
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

usage() { sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "install.sh: $*" >&2; exit 1; }
say() { echo "==> $*"; }
# Runs a command, or only prints it with --dry-run.
run() {
  if [ "$DRY" = 1 ]; then printf '+ %s\n' "$*"; else "$@"; fi
}

while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) [ $# -ge 2 ] || die "--prefix needs a directory"; PREFIX="$2"; shift 2 ;;
    --prefix=*) PREFIX="${1#*=}"; shift ;;
    --uninstall) MODE=uninstall; shift ;;
    --purge) PURGE=1; shift ;;
    --no-start) START=0; shift ;;
    --dry-run) DRY=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
done
case "$PREFIX" in /*) ;; *) die "--prefix must be an absolute path" ;; esac
[ "$PURGE" = 0 ] || [ "$MODE" = uninstall ] || die "--purge goes with --uninstall"
if [ "$DRY" = 0 ] && [ "$(id -u)" != 0 ]; then die "run as root (sudo $0 $*)"; fi

uninstall() {
  say "stopping and disabling edgeflux.service"
  if command -v systemctl >/dev/null 2>&1; then
    run systemctl disable --now edgeflux.service || true
  fi
  run rm -f "$UNIT_DIR/edgeflux.service" "$BIN_LINK" "$SYSUSERS_DIR/edgeflux.conf" "$TMPFILES_DIR/edgeflux.conf"
  run rm -rf "$UNIT_DIR/edgeflux.service.d"
  if command -v systemctl >/dev/null 2>&1; then run systemctl daemon-reload || true; fi
  say "removing $PREFIX"
  run rm -rf "$PREFIX"
  if [ "$PURGE" = 1 ]; then
    say "purging $CONF_DIR, $STATE_DIR and the edgeflux user"
    run rm -rf "$CONF_DIR" "$STATE_DIR"
    if getent passwd edgeflux >/dev/null 2>&1; then run userdel edgeflux || true; fi
    if getent group edgeflux >/dev/null 2>&1; then run groupdel edgeflux || true; fi
  else
    say "kept $CONF_DIR (config, credentials) and $STATE_DIR (journal, dead letters); --purge removes them"
  fi
}

check_prerequisites() {
  command -v systemctl >/dev/null 2>&1 || die "systemd is required (systemctl not found)"
  command -v systemd-notify >/dev/null 2>&1 || die "systemd-notify not found (package systemd)"
  NODE="$(command -v node || true)"
  [ -n "$NODE" ] || die "Node.js >= 20 is required: install it from https://nodejs.org or NodeSource, then run this again"
  NODE="$(readlink -f "$NODE")"
  local major
  major="$("$NODE" -p 'process.versions.node.split(".")[0]')"
  [ "$major" -ge 20 ] || die "Node.js >= 20 is required, found $("$NODE" --version) at $NODE"
  command -v npm >/dev/null 2>&1 || die "npm is required (it comes with Node.js)"
  [ -f "$SRC/package.json" ] && [ -f "$SRC/package-lock.json" ] || die "run me from an edgeflux checkout ($SRC has no package.json/package-lock.json)"
}

install_program() {
  say "installing edgeflux from $SRC into $PREFIX"
  local stage="$PREFIX.new"
  run rm -rf "$stage"
  run mkdir -p "$stage"
  local item
  for item in package.json package-lock.json tsconfig.json tsconfig.build.json src devices systemd examples schema docs README.md LICENSE; do
    if [ -e "$SRC/$item" ]; then run cp -a "$SRC/$item" "$stage/"; fi
  done
  # The build needs the dev toolchain (TypeScript); the installed tree keeps production dependencies only.
  say "npm ci, build, then npm prune --omit=dev (a few minutes on a Pi)"
  run bash -c "cd '$stage' && npm ci --no-audit --no-fund && npm run build && npm prune --omit=dev --no-audit --no-fund"
  run chmod 0755 "$stage/dist/cli/main.js"
  run rm -rf "$PREFIX.old"
  if [ -e "$PREFIX" ]; then run mv "$PREFIX" "$PREFIX.old"; fi
  run mv "$stage" "$PREFIX"
  run rm -rf "$PREFIX.old"
  run ln -sf "$PREFIX/dist/cli/main.js" "$BIN_LINK"
}

install_system_files() {
  say "system user, directories and unit"
  run install -D -m 0644 "$SRC/systemd/edgeflux.sysusers" "$SYSUSERS_DIR/edgeflux.conf"
  run install -D -m 0644 "$SRC/systemd/edgeflux.tmpfiles" "$TMPFILES_DIR/edgeflux.conf"
  run systemd-sysusers "$SYSUSERS_DIR/edgeflux.conf"
  run systemd-tmpfiles --create "$TMPFILES_DIR/edgeflux.conf"
  # The unit names /usr/bin/node and /opt/edgeflux: substitute what is really used here.
  local unit
  unit="$(sed -e "s#/usr/bin/node #$NODE #" -e "s#/opt/edgeflux/#$PREFIX/#g" "$SRC/systemd/edgeflux.service")"
  if [ "$DRY" = 1 ]; then
    printf '+ write %s (ExecStart=%s)\n' "$UNIT_DIR/edgeflux.service" "$(printf '%s\n' "$unit" | sed -n 's/^ExecStart=//p')"
  else
    printf '%s\n' "$unit" > "$UNIT_DIR/edgeflux.service"
    chmod 0644 "$UNIT_DIR/edgeflux.service"
  fi
}

install_config() {
  local conf="$CONF_DIR/edgeflux.yaml"
  if [ -e "$conf" ]; then
    say "keeping the existing $conf"
  else
    say "no $conf yet: copying examples/raspberry-pi.yaml (edit it, then: sudo systemctl reload edgeflux)"
    run install -m 0640 -o root -g edgeflux "$SRC/examples/raspberry-pi.yaml" "$conf"
  fi
  say "checking $conf"
  if [ "$DRY" = 0 ] && grep -v '^[[:space:]]*#' "$conf" | grep -q 'CREDENTIALS_DIRECTORY'; then
    say "the config reads systemd credentials, which exist only inside the service: the start will check it"
  elif [ "$DRY" = 1 ]; then
    printf '+ %s\n' "runuser -u edgeflux -- $NODE $PREFIX/dist/cli/main.js check --config $conf"
  elif ! runuser -u edgeflux -- "$NODE" "$PREFIX/dist/cli/main.js" check --config "$conf"; then
    die "fix $conf (errors above), then: sudo systemctl restart edgeflux"
  fi
}

start_service() {
  run systemctl daemon-reload
  if [ "$START" = 0 ]; then
    run systemctl enable edgeflux.service
    say "installed; start it with: sudo systemctl start edgeflux"
    return
  fi
  say "enabling and (re)starting edgeflux.service"
  run systemctl enable edgeflux.service
  run systemctl restart edgeflux.service
  if [ "$DRY" = 0 ]; then
    systemctl --no-pager --lines=5 status edgeflux.service || die "edgeflux did not start: journalctl -u edgeflux -e"
  fi
  say "done. Health: curl -s http://127.0.0.1:9274/healthz   Logs: journalctl -u edgeflux -f"
}

if [ "$MODE" = uninstall ]; then
  uninstall
  exit 0
fi
check_prerequisites
install_program
install_system_files
install_config
start_service
