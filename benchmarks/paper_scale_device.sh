#!/usr/bin/env bash
# Paper-scale configs on an accelerator: XLA's FLOPs and memory and the measured step time of each
# paper config at its paper batch (benchmarks/paper_scale.py), one JSON per group under $OUT. Configs
# that point at a published dataset run on offline stand-in data of the same shapes (no download).
#   WHEELS=DIR (extra wheels, installed with --no-deps)  TIMEOUT=seconds per config  OUT=folder
#   STEPS=timed steps per config (0: the dry-run figures only, e.g. on a CPU)
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-benchmarks/results/paper_scale}
PY=${PYTHON:-python3}
T=${TIMEOUT:-150}
mkdir -p "$OUT"
if [ -n "${WHEELS:-}" ]; then "$PY" -m pip install -q --no-deps "$WHEELS"/*.whl || exit 1; fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
group() { local name=$1; shift; "$PY" benchmarks/paper_scale.py --steps "${STEPS:-5}" --timeout "$T" --out "$OUT/$name.json" "$@"; }
group mesh --only meshformer/paper_mgn_cylinder.yaml meshformer/paper_transformer_cylinder.yaml \
  --set task.data=synthetic task.synthetic_nodes=1900 task.num_train=2 task.num_test=1 task.num_frames=10
group pfgmpp --only pfgmpp/paper_cifar10.yaml --set "task.path=$PWD/tests/data/fixtures/cifar10_tiny"
group particles --only giorom/paper_gns_waterdrop.yaml giorom/paper_giorom_waterdrop.yaml \
  --set task.data=mpm task.num_particles=1000 task.num_train=1 task.num_test=1 "task.materials=[water]"
group fim --only fim/paper_pretrain.yaml --set task.num_processes=64 task.cache=false
group small --only probconserv/paper_heat.yaml gde/paper_normal_d5.yaml mfm/paper_letters.yaml
group organoids --only mfm/paper_organoids.yaml \
  --set task.data=patients task.patient_dim=43 task.num_treatments=11
