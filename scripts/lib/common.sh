# Shared helpers for scripts/*. Sourced, never run.
log() { printf '%s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Re-run the calling script as root through sudo where sudo exists.
require_root() {
    local self="$1"; shift
    if [[ $EUID -ne 0 ]]; then
        if command -v sudo >/dev/null 2>&1; then
            exec sudo -E "$self" "$@"
        fi
        die "$(basename "$self") needs root (no sudo here): run it as root"
    fi
}

SMTPGW_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SMTPGW_BUILD="${SMTPGW_BUILD:-$SMTPGW_ROOT/build/release}"
