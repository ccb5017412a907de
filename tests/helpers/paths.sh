# Sourced first by the test scripts (not a test): where things are.
# Sets top (the repository, and cds there), B, bdir (absolute build dir)
# and lib (the library).  $0 is the test script, in tests/.
set -u
top=${EPHPORT_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$top" || exit 1
B=${B:-build}
case $B in /*) bdir=$B ;; *) bdir=$top/$B ;; esac
lib=$bdir/libephport.so
