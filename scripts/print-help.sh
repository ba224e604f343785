#!/usr/bin/env bash
# The --help of the project's scripts: a script's header comment (from its second line up
# to its first `set -` line) without the comment marks.
sed -n '2,/^set -/{/^set -/d;s/^# \{0,1\}//;p}' "$1"
