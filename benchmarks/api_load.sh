#!/usr/bin/env bash
# Load benchmark of the REST API's read endpoints while the autonomous loop runs.
#
# Starts `quarterdeck serve` (embedded simulator, flash-sale from 20m, loop in auto mode every
# 15 s of sim time) on a free 127.0.0.1 port with a viewer token from a fresh auth file, then
# for /healthz, /v1/services and /v1/proposals:
#   - wrk (Debian `wrk`; a Lua script adds the bearer header): the most requests/s the server
#     answers with CONNECTIONS connections, and the latency percentiles at that saturation;
#   - hey (Debian `hey`): the target load, 500 requests/s offered by 10 workers at 50/s each, and
#     the latency percentiles at that rate.
# Target on 2 cores: >= 500 req/s with p99 < 50 ms.
#
#   benchmarks/api_load.sh [DURATION] [CONNECTIONS] [SPEED]     # defaults: 15s 16 1
#
# SPEED is sim seconds per wall second: at 1 the loop passes every 15 s of wall time, as in
# production; at 10 every 1.5 s (a stress setting: each pass holds the event loop ~80 ms).
# wrk gets one thread so the server (one process, one event loop) keeps a core to itself.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
qd="$here/.venv/bin/quarterdeck"
py="$here/.venv/bin/python"
duration="${1:-15s}"
conns="${2:-16}"
speed="${3:-1}"
for tool in wrk hey curl; do
    command -v "$tool" >/dev/null || { echo "$tool not found: apt-get install -y $tool" >&2; exit 2; }
done

work="$(mktemp -d)"
server_pid=""
cleanup() {
    if [[ -n "$server_pid" ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

token="$("$qd" token new --name bench --role viewer 2>"$work/line")"
{ echo "principals:"; grep token_sha256 "$work/line"; } >"$work/auth.yaml"
port="$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"

QUARTERDECK_AUDIT_KEY_FILE="$work/audit.key" "$qd" serve --port "$port" --auth "$work/auth.yaml" \
    --state-dir "$work/state" --start-at 20m --speed "$speed" --mode auto --interval 15s \
    >"$work/serve.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
    curl -fs "$base/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -fs "$base/healthz" >/dev/null || { echo "server did not start:" >&2; cat "$work/serve.log" >&2; exit 1; }
printf 'wrk.headers["Authorization"] = "Bearer %s"\n' "$token" >"$work/auth.lua"
audit_entries() {
    curl -fs -H "Authorization: Bearer $token" "$base/v1/audit?limit=1" \
        | "$py" -c 'import json,sys; print(json.load(sys.stdin)["count"])'
}
before="$(audit_entries)"

echo "quarterdeck serve on $base: sim ${speed}x, loop auto every 15s sim; $(nproc) cores"
echo "wrk -t1 -c$conns -d$duration (saturation) | hey -c10 -q50 -z$duration (500 req/s offered)"
printf '%-15s | %9s %8s %8s | %9s %8s %8s %8s | %s\n' endpoint "max req/s" "p50 ms" "p99 ms" \
    "req/s" "p50 ms" "p90 ms" "p99 ms" "non-2xx"
for path in /healthz /v1/services /v1/proposals; do
    wrk_out="$(wrk -t1 -c"$conns" -d"$duration" --latency -s "$work/auth.lua" "$base$path")"
    hey_out="$(hey -c 10 -q 50 -z "$duration" -H "Authorization: Bearer $token" "$base$path")"
    "$py" - "$path" "$wrk_out" "$hey_out" <<'PY'
import re, sys
path, wrk, hey = sys.argv[1:4]
def wrk_ms(label):
    m = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\b", wrk, re.M)
    v, unit = float(m.group(1)), m.group(2)
    return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v
def hey_ms(label):
    return float(re.search(rf"{label}% in ([\d.]+) secs", hey).group(1)) * 1000
wrk_rps = float(re.search(r"Requests/sec:\s+([\d.]+)", wrk).group(1))
hey_rps = float(re.search(r"Requests/sec:\s+([\d.]+)", hey).group(1))
bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", wrk)
codes = dict((c, int(n)) for c, n in re.findall(r"\[(\d+)\]\s+(\d+) responses", hey))
non2xx = (int(bad.group(1)) if bad else 0) + sum(n for c, n in codes.items() if not c.startswith("2"))
print(f"{path:<15} | {wrk_rps:>9.0f} {wrk_ms('50'):>8.2f} {wrk_ms('99'):>8.2f} | "
      f"{hey_rps:>9.0f} {hey_ms('50'):>8.2f} {hey_ms('90'):>8.2f} {hey_ms('99'):>8.2f} | {non2xx}")
PY
done
after="$(audit_entries)"
loop="$(curl -fs -H "Authorization: Bearer $token" "$base/v1/loop")"
echo "loop during the run: $loop; the audit log grew by $((after - before)) entries"
