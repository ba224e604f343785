#!/usr/bin/env bash
# On a GPU: a kernel that faults in the middle of a run costs only its own case. The
# fault is real (DSA_BENCH_INJECT_FAULT=b:gpu_fault launches a kernel that traps before
# case b, leaving the sticky error a faulty kernel leaves), so this checks what the CPU
# tests can only simulate: the worker sees its context lost, records b as an error, and
# case c runs on the GPU in a new worker; in one process (--in-process) c fails, naming b.
# Exit 77 (skipped) without a CUDA device.
# usage: gpu_fault_isolation_test.sh DSA_BENCH WORK_DIR
set -u
bin=$1; work=$2
suite=$(cd "$(dirname "$0")" && pwd)/three_topk_cases.json
mkdir -p "$work"; cd "$work" || exit 1
cp "$suite" fault.json
rm -f fault-results.json
DSA_BENCH_INJECT_FAULT=b:gpu_fault "$bin" run fault.json --backend cuda --out fault-results.json > fault.log 2>&1
rc=$?
cat fault.log
/usr/bin/python3 - <<'PY'
import json, sys
d = json.load(open('fault-results.json'))
st = {c['name']: c['status'] for c in d['cases']}
if all(s == 'skipped' for s in st.values()):
    print('skipped: no CUDA device')
    sys.exit(77)
assert st == {'a': 'passed', 'b': 'error', 'c': 'passed'}, st
b = [c for c in d['cases'] if c['name'] == 'b'][0]
assert 'the GPU context was lost during this case' in b['reason'], b['reason']
c = [c for c in d['cases'] if c['name'] == 'c'][0]
assert c['backend'] == 'cuda', c.get('backend')
r = d['provenance']['resumed']
assert len(r) == 1 and r[0]['reason'] == 'the GPU context was lost' and r[0]['kept_cases'] == 2, r
assert d['run_status'] == 'complete', d['run_status']
print('ok: the faulting case is an error, the next one passed on the GPU in a new worker')
PY
py=$?
[ "$py" -eq 77 ] && exit 77
[ "$py" -eq 0 ] || exit 1
[ "$rc" -eq 1 ] || { echo "FAIL: dsa-bench exited $rc, expected 1 (a case errored)"; exit 1; }

# In one process (--in-process, for a debugger) the context stays lost: the later case
# fails too, and its reason names the case that lost it, not itself.
rm -f inproc-results.json
DSA_BENCH_INJECT_FAULT=b:gpu_fault "$bin" run fault.json --backend cuda --in-process --out inproc-results.json > inproc.log 2>&1
rc=$?
[ "$rc" -eq 1 ] || { cat inproc.log; echo "FAIL: dsa-bench --in-process exited $rc, expected 1"; exit 1; }
/usr/bin/python3 - <<'PY' || { cat inproc.log; exit 1; }
import json
d = json.load(open('inproc-results.json'))
c = {x['name']: x for x in d['cases']}
assert {k: v['status'] for k, v in c.items()} == {'a': 'passed', 'b': 'error', 'c': 'error'}, c
assert 'the GPU context was lost during this case' in c['b']['reason'], c['b']['reason']
assert 'the later GPU cases of this process fail (--in-process)' in c['b']['reason'], c['b']['reason']
assert 'the GPU context was lost before this case, during b (' in c['c']['reason'], c['c']['reason']
assert 'lost during this case' not in c['c']['reason'], c['c']['reason']
print('ok: in one process the case after the fault fails too, naming the case that lost the context')
PY
