#!/usr/bin/env bash
# The seesaw MQA kernel's hand-offs (tests/models/seesaw_handoffs.pml), first compared
# with the kernel's source (the same sequence per warpgroup), then checked by spin over
# every interleaving of the warps: the cp.async and the TMA forms must hold every
# assertion and never hang; the model with warpgroup 0's barrier before P_A taken out
# must fail (the race the eighth session fixed), which shows the check can see a race.
# usage: model_check_test.sh SOURCE_DIR WORK_DIR   (needs spin and a C compiler)
set -u
src=$1; work=$2
command -v spin >/dev/null || { echo "FAIL: spin not found (scripts/setup.sh installs it)"; exit 1; }
rm -rf "$work"; mkdir -p "$work"
cp "$src/tests/models/seesaw_handoffs.pml" "$work/"
cd "$work" || exit 1
fails=0
# The model must follow the kernel: the same hand-offs in the same order, per warpgroup.
/usr/bin/python3 "$src/tests/models/handoff_sequence.py" "$src/kernels/cuda/attention_mqa_seesaw.cu" \
  seesaw_handoffs.pml || fails=$((fails + 1))
check() {  # check EXPECT(pass|fail) SPIN_DEFINES...
  local expect=$1; shift
  local name="seesaw_handoffs $*"
  rm -f pan pan.* ./*.trail
  if ! spin "$@" -a seesaw_handoffs.pml > spin.log 2>&1 || ! cc -O2 -DSAFETY -o pan pan.c > cc.log 2>&1; then
    echo "FAIL $name: the model does not build"; cat spin.log cc.log; fails=$((fails + 1)); return
  fi
  ./pan -m2000000 > pan.log 2>&1
  if grep -q "max search depth too small" pan.log; then
    echo "FAIL $name: the search was cut by its depth limit"; fails=$((fails + 1)); return
  fi
  local errors
  errors=$(grep -oE 'errors: [0-9]+' pan.log | grep -oE '[0-9]+$')
  case "$expect:$errors" in
    pass:0) echo "ok   $name: $(grep -oE '[0-9.e+]+ states, stored' pan.log), no assertion failed, no hang" ;;
    fail:0) echo "FAIL $name: expected a violation, found none"; fails=$((fails + 1)) ;;
    pass:*) echo "FAIL $name:"; grep -E "violated|invalid end|errors" pan.log; spin -t -p "$@" seesaw_handoffs.pml 2>/dev/null | tail -30
            fails=$((fails + 1)) ;;
    fail:*) echo "ok   $name: fails as it must ($(grep -oE 'assertion violated.*' pan.log | head -1))" ;;
  esac
}
check pass
check pass -DTMA
check pass -DR=4
check fail -DNO_P_BARRIER
[ "$fails" -eq 0 ] || { echo "$fails model check(s) failed (work in $work)"; exit 1; }
