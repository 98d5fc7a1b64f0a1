# Shared by cpu_suite.sh and gpu_suite.sh (sourced): run one step_time.py
# configuration in its own process, so its peak memory is its own, and record it.
# Needs PY, ST (the script), OUT (the JSON-lines file) and ONE_TIMEOUT (seconds).
# A configuration that fails (out of memory, killed, timed out) is recorded as
# {"failed": true, ...} with the last line of its error.
one() {
  local log
  log=$(mktemp)
  if timeout "$ONE_TIMEOUT" "$PY" "$ST" "$@" >"$log" 2>&1; then
    grep '^{' "$log" | tee -a "$OUT"
  else
    local err
    err=$(grep -E 'RESOURCE_EXHAUSTED|Error|error|Killed' "$log" | tail -1 | cut -c1-300 | tr '"' "'")
    printf '{"failed": true, "args": "%s", "error": "%s"}\n' "$*" "$err" | tee -a "$OUT"
  fi
  rm -f "$log"
}

has() { [[ " $SECTIONS " == *" $1 "* ]]; }
