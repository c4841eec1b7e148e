#!/usr/bin/env bash
# Integration test of `panic-tda slurm submit` against a real single-node Slurm on localhost:
#   1. installs Debian's slurm-wlm, munge and sqlite3 when missing,
#   2. starts munged, slurmctld and slurmd as plain background processes (no systemd, no
#      cgroups) with a throwaway config, state and logs in a temporary folder,
#   3. submits a dummy-model experiment as a 3-task array plus the merge job, waits for it,
#   4. checks the merged database against single-machine runs of the same config
#      (same experiment and run ids, same outputs and embeddings, same counts),
#   5. always stops the daemons and removes the folder (PANIC_TDA_SLURM_KEEP=1 keeps it).
# Must run as root (it is what CI does). PANIC_TDA_SKIP_SLURM=1 skips it, saying so.
# Environment: PANIC_TDA_BIN (default target/debug/panic-tda), PANIC_TDA_SLURM_TIMEOUT (seconds
# to wait for the jobs, default 300).
# Usage: tests/slurm/integration.sh
set -euo pipefail

say() { printf '==> slurm-check: %s\n' "$*"; }
fail() {
  printf 'FAILED: slurm-check: %s\n' "$*" >&2
  exit 1
}

if [ "${PANIC_TDA_SKIP_SLURM:-0}" = 1 ]; then
  say "SKIPPED because PANIC_TDA_SKIP_SLURM=1 (the Slurm integration test did not run)"
  exit 0
fi

repo="$(cd "$(dirname "$0")/../.." && pwd)"
bin="${PANIC_TDA_BIN:-${CARGO_TARGET_DIR:-$repo/target}/debug/panic-tda}"
wait_limit="${PANIC_TDA_SLURM_TIMEOUT:-300}"
[ -x "$bin" ] || fail "no panic-tda binary at $bin; build it (make test or cargo build) or set PANIC_TDA_BIN"
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"
[ "$(id -u)" -eq 0 ] || fail "must run as root (slurmd starts jobs as their user); use sudo, or set PANIC_TDA_SKIP_SLURM=1 to skip"

# --- 1. packages --------------------------------------------------------------------------------
packages=(slurm-wlm munge sqlite3)
missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$package")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  command -v apt-get >/dev/null || fail "missing ${missing[*]} and no apt-get to install them"
  say "installing Debian packages: ${missing[*]}"
  # Keep the packages' init scripts from starting system-wide daemons (a container has no
  # init system, and this test runs its own).
  policy=/usr/sbin/policy-rc.d
  added_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
    added_policy=1
  fi
  apt-get update -qq
  status=0
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || status=$?
  if [ "$added_policy" = 1 ]; then rm -f "$policy"; fi
  [ "$status" -eq 0 ] || fail "apt-get install ${missing[*]} failed"
fi
for command in munged mungekey slurmctld slurmd sbatch squeue scontrol sinfo sqlite3; do
  command -v "$command" >/dev/null || fail "$command not found after installing ${packages[*]}"
done

# --- 2. a throwaway single-node cluster ---------------------------------------------------------
# The daemons' files go to $work (slurm.conf allows no spaces in paths); the experiment's to
# $exp, whose name has a space so the job scripts' quoting is exercised for real.
work="$(mktemp -d -t panic-tda-slurm.XXXXXX)"
exp="$work/exp folder"
mkdir -p "$work"/{munge,state,spool,log,run} "$exp"
chmod 755 "$work" "$work/run"
chmod 700 "$work/munge"
export SLURM_CONF="$work/slurm.conf"
munge_socket="$work/run/munge.socket"
array_job=""
merge_job=""
pids=()

diagnostics() {
  set +e
  echo "---- diagnostics ----" >&2
  echo "## sinfo" >&2; sinfo -N -l >&2; sinfo -R >&2
  echo "## squeue" >&2; squeue -a --states=all -l >&2
  for job in $array_job $merge_job; do
    echo "## scontrol show job $job" >&2; scontrol show job "$job" >&2
  done
  echo "## sacct (needs accounting, off here)" >&2; sacct -a -X 2>&1 | head -20 >&2
  for log in "$exp"/*/logs/*.log "$work"/log/*.out; do
    [ -f "$log" ] || continue
    echo "## tail $log" >&2
    tail -n 60 "$log" >&2
  done
  echo "---- end of diagnostics ----" >&2
}

cleanup() {
  local code=$?
  set +e
  trap '' PIPE # a closed stdout (`| head`) must not stop the clean-up half-way
  if [ "$code" -ne 0 ] && [ -f "$work/slurm.conf" ]; then diagnostics; fi
  # Cancel whatever still runs on this private cluster and let it end, so no job step
  # (slurmstepd) outlives slurmd.
  local jobs
  jobs="$(squeue -h -o %A 2>/dev/null)"
  if [ -n "$jobs" ]; then
    # shellcheck disable=SC2086 # one job id per word
    scancel $jobs 2>/dev/null
    for _ in $(seq 60); do
      [ -z "$(squeue -h -t RUNNING,COMPLETING,CONFIGURING,SUSPENDED 2>/dev/null)" ] && break
      sleep 0.5
    done
  fi
  # Stop in reverse order of starting; each daemon is one we started, by its pid.
  local index
  for ((index = ${#pids[@]} - 1; index >= 0; index--)); do
    kill "${pids[index]}" 2>/dev/null
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null
  done
  if [ "${PANIC_TDA_SLURM_KEEP:-0}" = 1 ]; then
    say "kept $work"
  else
    rm -rf "$work"
  fi
  exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Two free TCP ports, so a Slurm already running on this machine (or a second copy of this
# test) is not disturbed.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
ctld_port=""
for _ in $(seq 50); do
  candidate=$((20000 + RANDOM % 30000))
  if port_free "$candidate" && port_free "$((candidate + 1))"; then
    ctld_port=$candidate
    break
  fi
done
[ -n "$ctld_port" ] || fail "found no free TCP port pair for slurmctld and slurmd"

say "starting munged"
mungekey --create --keyfile="$work/munge/munge.key" --force
chmod 600 "$work/munge/munge.key"
# --force: munged refuses root and shared folders without it. The daemons run in the
# foreground (logging to stderr) so that they are children of this script, stopped by pid.
munged --force --foreground --socket="$munge_socket" --key-file="$work/munge/munge.key" \
  --pid-file="$work/run/munged.pid" --seed-file="$work/munge/munged.seed" \
  --log-file="$work/log/munged.log" >"$work/log/munged.out" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  [ -S "$munge_socket" ] && break
  sleep 0.1
done
munge --socket="$munge_socket" --no-input | unmunge --socket="$munge_socket" >/dev/null \
  || fail "munged does not answer on $munge_socket"

host="$(hostname -s)"
# The node exactly as slurmd detects it (CPUs, sockets, cores, threads, memory), renamed to
# the short host name the daemons are started with.
node="$(slurmd -C | head -n 1 | sed -E "s/^NodeName=[^ ]+/NodeName=$host/")"
case "$node" in NodeName=*CPUs=*) ;; *) fail "unexpected 'slurmd -C' output: $node" ;; esac
cat >"$SLURM_CONF" <<EOF
ClusterName=panictda
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$((ctld_port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$munge_socket
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/run/slurmctld.pid
SlurmdPidFile=$work/run/slurmd.pid
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
ReturnToService=2
MinJobAge=3600
KillWait=5
MailProg=/bin/true
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF

say "starting slurmctld and slurmd (node $host, ports $ctld_port/$((ctld_port + 1)))"
slurmctld -D -i >"$work/log/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -N "$host" >"$work/log/slurmd.out" 2>&1 &
pids+=($!)
node_state=""
for _ in $(seq 60); do
  node_state="$(sinfo -h -N -n "$host" -o %T 2>/dev/null || true)"
  [ "$node_state" = idle ] && break
  for pid in "${pids[@]}"; do
    kill -0 "$pid" 2>/dev/null || fail "a Slurm or munge daemon exited (pid $pid)"
  done
  sleep 1
done
[ "$node_state" = idle ] || fail "node $host is '${node_state:-unknown}', not idle, after 60 s"

# --- 3. the experiment --------------------------------------------------------------------------
config="$exp/config.json"
cat >"$config" <<'EOF'
{
  "networks": [["DummyT2I", "DummyI2T"], ["DummyT2I2", "DummyI2T2"]],
  "prompts": ["a red apple", "a cat on a mat", "the sea at night", "a tall tower", "two dogs"],
  "seeds": [7, 11],
  "embedding_models": ["DummyText"],
  "max_length": 12,
  "image_size": 32
}
EOF
export PANIC_TDA_DEVICE=cpu
slurm_dir="$exp/slurm run"
cd "$exp"

# A config the shards would reject is refused before anything is queued.
sed 's/"DummyI2T"]/"NoSuchModel"]/' "$config" >"$exp/bad.json"
if "$bin" slurm submit "$exp/bad.json" --shards 3 --gres '' --dir "$exp/bad" >"$work/log/bad.out" 2>&1; then
  fail "slurm submit accepted a config with an unknown model"
fi
grep -q NoSuchModel "$work/log/bad.out" || fail "slurm submit's refusal does not name the bad model: $(cat "$work/log/bad.out")"
[ -z "$(squeue -h -o %A)" ] || fail "slurm submit queued jobs for an invalid config"

started=$SECONDS
say "submitting 3 shards"
"$bin" slurm submit "$config" --shards 3 --gres '' --time 00:10:00 --dir "$slurm_dir" \
  | tee "$work/log/submit.out"
# The job ids, from the submission record `slurm status` reads.
record="$slurm_dir/slurm-job.json"
[ -f "$record" ] || fail "slurm submit wrote no $record"
array_job="$(sed -n 's/.*"array_job_id": *"\([0-9]*\)".*/\1/p' "$record")"
merge_job="$(sed -n 's/.*"merge_job_id": *"\([0-9]*\)".*/\1/p' "$record")"
[ -n "$array_job" ] && [ -n "$merge_job" ] || fail "no job ids in $record"

# Meanwhile, the same experiment on one machine: as one shard of one (same ids) and as a
# plain run (new ids, same outputs).
say "running the single-machine references"
"$bin" --db "$exp/single.sqlite" experiment run "$config" --shard 0/1 >"$work/log/single.out" 2>&1
"$bin" --db "$exp/plain.sqlite" experiment run "$config" >"$work/log/plain.out" 2>&1

job_states() {
  # One line per job (array tasks separately): "ID STATE REASON".
  scontrol -o show job "$1" 2>/dev/null | awk '{
    id = ""; state = ""; reason = ""
    for (i = 1; i <= NF; i++) {
      if ($i ~ /^JobId=/) id = substr($i, 7)
      else if ($i ~ /^JobState=/) state = substr($i, 10)
      else if ($i ~ /^Reason=/) reason = substr($i, 8)
    }
    print id, state, reason
  }'
}
# wait_done JOB WHAT: waits until every task of JOB is COMPLETED; fails as soon as one ends
# otherwise or can never start.
wait_done() {
  local job="$1" what="$2" states
  while :; do
    states="$(job_states "$job")"
    [ -n "$states" ] || fail "Slurm does not know $what (job $job)"
    if echo "$states" | grep -Eq ' (FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|BOOT_FAIL|DEADLINE|PREEMPTED) '; then
      fail "$what (job $job) failed: $states"
    fi
    case "$states" in *DependencyNeverSatisfied*)
      fail "$what (job $job) will never run: a shard task failed" ;;
    esac
    echo "$states" | grep -vq ' COMPLETED ' || return 0
    [ $((SECONDS - started)) -lt "$wait_limit" ] || fail "$what (job $job) not done after $wait_limit s: $states"
    sleep 1
  done
}
say "waiting for array job $array_job and merge job $merge_job (at most $wait_limit s)"
wait_done "$array_job" "the shard tasks"
wait_done "$merge_job" "the merge job"
say "merge job done after $((SECONDS - started)) s"

# --- 4. checks ----------------------------------------------------------------------------------
merged="$slurm_dir/merged.sqlite"
[ -f "$merged" ] || fail "the merge job succeeded but $merged does not exist"
for index in 0 1 2; do
  [ -f "$slurm_dir/shard_$index.sqlite" ] || fail "shard database $index is missing"
  [ -f "$slurm_dir/logs/shard_$index.log" ] || fail "log of shard $index is missing"
done

say "panic-tda slurm status"
"$bin" slurm status "$slurm_dir" | tee "$work/log/status.out"
"$bin" slurm status "$slurm_dir" --json >"$work/log/status.json"
for index in 0 1 2; do
  grep -Eq "^shard $index: ([0-9]+)/\\1 invocations, 0 runs unfinished" "$work/log/status.out" \
    || fail "slurm status does not show shard $index finished"
done
grep -q "^merged: " "$work/log/status.out" || fail "slurm status does not show the merged database"
# This cluster keeps no accounting, so the job states come from squeue.
for job in "${array_job}_0" "${array_job}_1" "${array_job}_2" "$merge_job"; do
  grep -Eq "^$job +COMPLETED\$" "$work/log/status.out" \
    || fail "slurm status does not show job $job COMPLETED"
done
grep -q '"invocations_done"' "$work/log/status.json" || fail "slurm status --json printed no shard progress"

mismatch=0
compare() {
  # compare WHAT EXPECTED_FILE ACTUAL_FILE
  if ! diff -u "$2" "$3" >"$work/log/diff.txt"; then
    echo "mismatch in $1 (expected vs merged):" >&2
    head -n 40 "$work/log/diff.txt" >&2
    mismatch=1
  fi
}
query() { sqlite3 -readonly -batch -noheader "$1" "$2" >"$3"; }

ids_query='
SELECT "experiment", id, status FROM experiment;
SELECT "run", id, experiment_id, network_index, prompt_index, seed_index, seed, max_length,
       stop_reason, loop_length FROM run ORDER BY id;
SELECT "invocation", id, run_id, sequence_number, model, output_type, input_invocation_id, seed,
       hex(output_hash) FROM invocation ORDER BY id;
SELECT "embedding", id, invocation_id, embedding_model, dimension, hex(vector)
       FROM embedding ORDER BY id;
SELECT "prompt_embedding", run_id, embedding_model, hex(vector)
       FROM prompt_embedding ORDER BY run_id, embedding_model;'
query "$exp/single.sqlite" "$ids_query" "$work/log/single.rows"
query "$merged" "$ids_query" "$work/log/merged.rows"
[ -s "$work/log/single.rows" ] || fail "the single-machine database is empty"
compare "ids and outputs" "$work/log/single.rows" "$work/log/merged.rows"

# Against the plain run the ids differ, so rows are keyed by what they are.
content_query='
SELECT r.network_index, r.prompt_index, r.seed_index, r.stop_reason, r.loop_length,
       i.sequence_number, i.model, hex(i.output_hash),
       (SELECT group_concat(e.embedding_model || ":" || hex(e.vector)) FROM embedding e
         WHERE e.invocation_id = i.id)
  FROM run r JOIN invocation i ON i.run_id = r.id
 ORDER BY 1, 2, 3, 6;'
query "$exp/plain.sqlite" "$content_query" "$work/log/plain.content"
query "$merged" "$content_query" "$work/log/merged.content"
compare "outputs keyed by network, prompt, seed and step" \
  "$work/log/plain.content" "$work/log/merged.content"

# The status report's counts (the id and timestamps differ by nature).
status_counts() {
  "$bin" --db "$1" experiment status latest --json \
    | grep -Ev '"(id|experiment_id|created_at|started_at|completed_at|eta[a-z_]*|elapsed[a-z_]*)"' >"$2"
}
status_counts "$exp/plain.sqlite" "$work/log/plain.status"
status_counts "$merged" "$work/log/merged.status"
compare "experiment status" "$work/log/plain.status" "$work/log/merged.status"

"$bin" --db "$merged" doctor >"$work/log/doctor.out" 2>&1 \
  || { cat "$work/log/doctor.out" >&2; fail "doctor finds problems in the merged database"; }

# A requeued task (as after a node failure) reruns its shard on the existing database: it
# resumes, finds nothing left to do and changes nothing.
shard_query="$(echo "$ids_query" | grep -v '"experiment"')"
query "$slurm_dir/shard_0.sqlite" "$shard_query" "$work/log/shard_0.rows"
say "requeueing shard task ${array_job}_0"
scontrol requeue "${array_job}_0"
# Slurm holds a requeued job back for a while (BeginTime); this test need not wait for that.
scontrol update JobId="${array_job}_0" StartTime=now
started=$SECONDS
wait_done "${array_job}_0" "the requeued shard task"
scontrol -o show job "${array_job}_0" | grep -q ' Restarts=1 ' || fail "task ${array_job}_0 did not run again"
[ "$(grep -c '^experiment .*, shard 0/3: ' "$slurm_dir/logs/shard_0.log")" = 2 ] \
  || fail "the log of shard 0 does not show both attempts (it must be appended to)"
query "$slurm_dir/shard_0.sqlite" "$shard_query" "$work/log/shard_0.rerun.rows"
compare "shard 0 after its task reran" "$work/log/shard_0.rows" "$work/log/shard_0.rerun.rows"

# Merging the same shards again changes nothing.
"$bin" db merge "$merged" "$slurm_dir"/shard_{0,1,2}.sqlite >"$work/log/remerge.out" 2>&1
query "$merged" "$ids_query" "$work/log/remerged.rows"
compare "a second merge" "$work/log/merged.rows" "$work/log/remerged.rows"

[ "$mismatch" -eq 0 ] || fail "the merged database differs from the single-machine run"
runs="$(sqlite3 -readonly "$merged" 'SELECT count(*) FROM run WHERE stop_reason IS NOT NULL')"
[ "$runs" = 20 ] || fail "the merged database has $runs finished runs, not 2 networks × 5 prompts × 2 seeds = 20"
invocations="$(sqlite3 -readonly "$merged" 'SELECT count(*) FROM invocation')"
say "PASSED: 3 shards on Slurm merged into $runs runs, $invocations invocations, equal to one machine's run"
