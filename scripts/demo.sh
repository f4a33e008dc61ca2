#!/usr/bin/env bash
# demo.sh — the main job, end to end on this machine: install what is missing, build
# wavegate, start a real InfluxDB 1.x on a free loopback port (temporary directory), write a
# generated deploy (staging healthy, prod-internal regressed, search feature without data)
# and gate each wave the way a pipeline would, printing every verdict and exit code.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
source scripts/deps.sh
wg_install_deps

echo "== building wavegate"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DWG_TESTS=OFF >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
wg=$root/build/wavegate

source tests/integration/lib.sh
echo "== starting InfluxDB 1.x on loopback"
influx_start
echo "   $INFLUX_URL (data in $WG_TMP)"
influx_query "" 'CREATE DATABASE "telemetry"'
deploy=$(( $(date +%s) / 60 * 60 - 11 * 60 ))
python3 scripts/gen_deploy.py "$deploy" "$WG_TMP/deploy.lp"
influx_write telemetry "$WG_TMP/deploy.lp"
deploy_time=$(date -u -d "@$deploy" +%Y-%m-%dT%H:%M:%SZ)
echo "   wrote $(wc -l < "$WG_TMP/deploy.lp") points: 30 min before and 10 min after a deploy at $deploy_time"
sed "s|@INFLUX_URL@|$INFLUX_URL|" examples/demo.yaml.in > "$WG_TMP/wavegate.yaml"
"$wg" validate --config "$WG_TMP/wavegate.yaml"

gate() {
    local title=$1; shift
    echo
    echo "== $title"
    echo "\$ wavegate check $*"
    set +e
    "$wg" check --config "$WG_TMP/wavegate.yaml" --deploy-time "$deploy_time" "$@"
    local rc=$?
    set -e
    echo "-> exit code $rc"
}
gate "staging: healthy deploy, promote (expect exit 0)" --wave staging --feature checkout
gate "prod-internal: regressed deploy, block (expect exit 1)" --wave prod-internal --feature checkout
gate "search feature has no data: cannot judge (expect exit 2)" --wave staging --feature search
echo
echo "== the same failing verdict as JSON (what a pipeline reads)"
"$wg" check --config "$WG_TMP/wavegate.yaml" --deploy-time "$deploy_time" \
    --wave prod-internal --feature checkout --format json | python3 -m json.tool | head -40 || true
echo
echo "== InfluxDB stopped: the gate cannot evaluate (expect exit 3, never 0)"
influx_stop
set +e
"$wg" check --config "$WG_TMP/wavegate.yaml" --deploy-time "$deploy_time" --wave staging \
    --feature checkout >/dev/null
echo "-> exit code $?"
