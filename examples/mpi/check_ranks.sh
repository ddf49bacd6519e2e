#!/usr/bin/env bash
# check_ranks.sh EXE MPIRUN TAG "RANKS" ARGS... -- the determinism test of digits_mpi.cpp.
#
# Trains with `EXE ARGS...` once without mpirun (Open MPI's singleton MPI_Init: the single-process
# run), then once under `MPIRUN -np N` for each N of RANKS (e.g. "2 4"), each run writing its
# parameters with --out to TAG.single.txt, TAG.np<N>.txt in the current directory. Exits non-zero
# if a run fails (the example itself fails when its ranks disagree or the test accuracy is too low)
# or if any parameter file differs, byte for byte, from the single-process one.
#
# mpirun: shared memory and self only (no network), --oversubscribe (more ranks than cores), ranks
# that yield the processor while they wait (Open MPI's ranks busy-poll otherwise: 4 of them on 2
# cores would crawl), and permission to run as root (CI runs as root).
set -euo pipefail
if [ $# -lt 4 ]; then
  echo "usage: check_ranks.sh EXE MPIRUN TAG \"RANKS\" ARGS..." >&2
  exit 2
fi
exe=$1 mpirun=$2 tag=$3 ranks=$4
shift 4
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_mpi_yield_when_idle=1
mpi=("$mpirun" --oversubscribe --mca btl self,vader --mca mpi_yield_when_idle 1)

single=$tag.single.txt
rm -f "$tag".single.txt "$tag".np*.txt
echo "=== $tag: without mpirun"
"$exe" "$@" --out "$single"
for n in $ranks; do
  echo "=== $tag: mpirun -np $n"
  "${mpi[@]}" -np "$n" "$exe" "$@" --out "$tag.np$n.txt"
done

status=0
head -n 1 "$single" | grep -q '^etgrad-parameters 1 ' || { echo "$single is not a parameter file" >&2; status=1; }
for n in $ranks; do
  if cmp "$single" "$tag.np$n.txt"; then
    echo "$tag: $n ranks: the same parameters as the single process"
  else
    echo "$tag: $n ranks: parameters DIFFER from the single process" >&2
    status=1
  fi
done
exit $status
