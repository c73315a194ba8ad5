#!/usr/bin/env bash
# Installs edgeflux as a systemd service, on Raspberry Pi OS / Debian, from a checkout
# (built here) or from an installed package (npm i -g edgeflux; then sudo edgeflux-install):
#   sudo systemd/install.sh              install (or upgrade) and start
#   sudo systemd/install.sh --uninstall  remove the program and the service; keep config and data
#   sudo systemd/install.sh --uninstall --purge   also remove /etc/edgeflux, /var/lib/edgeflux and the user
# Options: --prefix DIR (default /opt/edgeflux), --no-start, --dry-run (print what would be done).
# Needs Node.js >= 20 and npm (docs/raspberry-pi.md says how), systemd >= 246.
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
# Where this script lives, through the symlink npm makes for the edgeflux-install command.
SRC="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
# systemd runs this host when this directory exists (sd_booted(3)); a test may name another.
SYSTEMD_RUN_DIR="${EDGEFLUX_SYSTEMD_RUN_DIR:-/run/systemd/system}"

usage() { sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; }
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
  if systemd_running; then
    run systemctl disable --now edgeflux.service || true
  fi
  run rm -f "$UNIT_DIR/edgeflux.service" "$BIN_LINK" "$SYSUSERS_DIR/edgeflux.conf" "$TMPFILES_DIR/edgeflux.conf"
  run rm -rf "$UNIT_DIR/edgeflux.service.d"
  if systemd_running; then run systemctl daemon-reload || true; fi
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

# A checkout (src/ and package-lock.json: built here) or an installed package (dist/ and
# its node_modules: copied as it is).
source_kind() {
  if [ -f "$SRC/package-lock.json" ] && [ -d "$SRC/src" ]; then echo checkout
  elif [ -f "$SRC/dist/cli/main.js" ] && [ -f "$SRC/package.json" ]; then echo package
  else echo none
  fi
}

systemd_running() { [ -d "$SYSTEMD_RUN_DIR" ] && command -v systemctl >/dev/null 2>&1; }

check_prerequisites() {
  NODE="$(command -v node || true)"
  [ -n "$NODE" ] || die "Node.js >= 20 is required: install it from https://nodejs.org or NodeSource, then run this again"
  NODE="$(readlink -f "$NODE")"
  local major
  major="$("$NODE" -p 'process.versions.node.split(".")[0]')"
  [ "$major" -ge 20 ] || die "Node.js >= 20 is required, found $("$NODE" --version) at $NODE"
  [ "$(source_kind)" != none ] || die "run me from an edgeflux checkout or an installed edgeflux package ($SRC is neither)"
  if [ "$(source_kind)" = checkout ]; then command -v npm >/dev/null 2>&1 || die "npm is required (it comes with Node.js)"; fi
  if systemd_running; then command -v systemd-notify >/dev/null 2>&1 || die "systemd-notify not found (package systemd)"; fi
}

install_program() {
  local stage="$PREFIX.new"
  run rm -rf "$stage"
  run mkdir -p "$stage"
  if [ "$(source_kind)" = package ]; then
    say "installing the edgeflux package at $SRC into $PREFIX"
    run cp -a "$SRC/." "$stage/"
  else
    say "installing edgeflux from the checkout $SRC into $PREFIX"
    local item
    for item in package.json package-lock.json tsconfig.json scripts src devices status-page systemd examples schema docs grafana README.md CHANGELOG.md LICENSE; do
      if [ -e "$SRC/$item" ]; then run cp -a "$SRC/$item" "$stage/"; fi
    done
    # The build needs the dev toolchain (esbuild); the installed tree keeps production dependencies only.
    say "npm ci, build, then npm prune --omit=dev (a few minutes on a Pi)"
    run bash -c "cd '$stage' && npm ci --no-audit --no-fund && npm run build && npm prune --omit=dev --no-audit --no-fund"
  fi
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
  say "Grafana dashboards to import: $PREFIX/grafana/*.json"
}

# No systemd (a container, WSL without it): the program is installed, the service is not.
without_systemd() {
  say "systemd is not running on this host (a container?): edgeflux is installed in $PREFIX"
  say "and on the PATH as $BIN_LINK, but no service was set up. Run it in the foreground:"
  say "  edgeflux run --config edgeflux.yaml    (start from $PREFIX/examples/raspberry-pi.yaml)"
  say "On a host that runs systemd, run this installer again to get the service."
}

if [ "$MODE" = uninstall ]; then
  uninstall
  exit 0
fi
check_prerequisites
install_program
if ! systemd_running; then
  without_systemd
  exit 0
fi
install_system_files
install_config
start_service
