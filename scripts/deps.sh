# deps.sh — install what wavegate needs from Debian, only what is missing. Sourced by demo.sh
# and test.sh. Uses sudo when not root.
WG_DEB_PACKAGES=(build-essential cmake pkg-config curl ca-certificates python3 openssl
    libcurl4-openssl-dev libcjson-dev libyaml-dev libmicrohttpd-dev libcmocka-dev
    libsqlite3-dev libssl-dev influxdb prometheus-alertmanager python3-yaml libpq-dev
    chromium)
WG_DEB_PACKAGES+=(postgresql) # tests/integration/test_replicas_pg.sh (a throwaway cluster)
WG_DEB_PACKAGES+=(wrk) # tests/integration/test_serve_soak.sh (skips without it)
# tests/integration/test_events_unleash.sh: PostgreSQL for a real Unleash (npm unleash-server)
# (nodejs brings npm here; the Debian `npm` package is added only where no npm is on PATH: it
# conflicts with a nodejs that bundles npm)
WG_DEB_PACKAGES+=(postgresql nodejs)
command -v npm >/dev/null 2>&1 || WG_DEB_PACKAGES+=(npm)

wg_install_deps() {
    local missing=() p
    for p in "${WG_DEB_PACKAGES[@]}" "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
            missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "installing: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    # The Debian influxdb package would start a system service on :8086; nothing here needs it.
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >/dev/null
}
