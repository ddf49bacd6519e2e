#!/usr/bin/env bash
# time_ranks.sh EXE "RANKS" REPEATS ARGS... -- the training wall time of digits_mpi.cpp (its own
# "training: ... in T s" line: MPI_Wtime from a barrier before the first step to the end of the
# last, the slowest rank) for the run without mpirun and for each rank count of RANKS, REPEATS
# times each; prints every time and the median. The figures of README.md's "Scaling out" came
# from it. mpirun options as in check_ranks.sh.
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: time_ranks.sh EXE \"RANKS\" REPEATS ARGS..." >&2
  exit 2
fi
exe=$1 ranks=$2 repeats=$3
shift 3
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_mpi_yield_when_idle=1
mpi=(mpirun --oversubscribe --mca btl self,vader --mca mpi_yield_when_idle 1)
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load:$(uptime | sed 's/.*load average://')"
for n in single $ranks; do
  times=()
  for ((i = 0; i < repeats; ++i)); do
    if [ "$n" = single ]; then
      line=$("$exe" "$@" | grep '^training:')
    else
      line=$("${mpi[@]}" -np "$n" "$exe" "$@" | grep '^training:')
    fi
    times+=("$(echo "$line" | sed 's/.* in \([0-9.]*\) s,.*/\1/')")
  done
  median=$(printf '%s\n' "${times[@]}" | sort -g | sed -n "$(((repeats + 1) / 2))p")
  echo "$n: median $median s  (${times[*]})  last: ${line#training: }"
done
echo "load after:$(uptime | sed 's/.*load average://')"
