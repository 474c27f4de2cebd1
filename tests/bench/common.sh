# shellcheck shell=bash
# What every benchmark script needs before it measures: a tool installed from Debian's
# packages, and the release binary. Sourced from the repository root.

# ensure_tool NAME: installs the Debian package NAME when its command is missing.
ensure_tool() {
    command -v "$1" >/dev/null && return
    apt-get install -y -q "$1" >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q "$1" >/dev/null; }
}

# release_binary [CARGO ARGS…]: sets BIN to $TIDEMARK_BIN, or builds the release binary
# (with the given arguments, e.g. features) and points BIN at it.
release_binary() {
    if [[ -n ${TIDEMARK_BIN:-} ]]; then
        BIN=$TIDEMARK_BIN
    else
        cargo build --release -q -p tidemark "$@"
        BIN=$CARGO_TARGET_DIR/release/tidemark
    fi
}
