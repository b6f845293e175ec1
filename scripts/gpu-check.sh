#!/usr/bin/env bash
# The GPU check: decode tok/s of cpu, webgpu (and cuda when its provider is in the bundle) for gpt2 fp32
# and fp16 at batch 1/8/32 and context 128/512/1024, with step time, host-device bytes per step and
# device memory; writes gpu-check.md and gpu-check.json. Needs only an NVIDIA driver on the host: it
# runs from the bundle `npm run gpu-check:bundle` makes (Node, onnxruntime, the code, the Vulkan loader).
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: gpu-check.sh [BUNDLE.tar.gz | BUNDLE_DIR] [--out DIR] [--preset gpt2|tiny]
                    [--providers cpu,webgpu,cuda] [--batches 1,8,32] [--contexts 128,512,1024] [--steps 8]
Without a bundle argument it runs from the folder it sits in (the unpacked bundle), else from
bench/gpu-check-bundle.tar.gz beside the repository's scripts/. Reports go to --out (default ./gpu-check-report).
Generates the models (model:make, seeded random weights of gpt2's shape) on this host; stops after 8 minutes.
EOF
}

here="$(cd "$(dirname "$0")" && pwd)"
bundle=""
out="$PWD/gpu-check-report"
preset=gpt2
measure_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --out) out="$(mkdir -p "$2" && cd "$2" && pwd)"; shift 2 ;;
    --preset) preset="$2"; shift 2 ;;
    --providers|--batches|--contexts|--steps) measure_args+=("$1" "$2"); shift 2 ;;
    -*) echo "gpu-check.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    *) bundle="$1"; shift ;;
  esac
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
if [ -z "$bundle" ]; then
  if [ -x "$here/node/bin/node" ]; then bundle="$here"; else bundle="$here/../bench/gpu-check-bundle.tar.gz"; fi
fi
if [ -f "$bundle" ]; then
  tar -xzf "$bundle" -C "$work"
  bundle="$(find "$work" -maxdepth 4 -path '*/node/bin/node' | head -n 1 | sed 's|/node/bin/node$||')"
fi
if [ ! -x "$bundle/node/bin/node" ]; then
  echo "gpu-check.sh: no bundle at $bundle (make one with npm run gpu-check:bundle)" >&2
  exit 2
fi
node="$bundle/node/bin/node"

# Vulkan for webgpu: the host's loader if it has one, else the bundle's; NVIDIA's ICD json from the
# driver install, else the one the container toolkit mounts, else one naming libGLX_nvidia.so.0.
if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1'; then
  export LD_LIBRARY_PATH="$bundle/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
if [ -z "${VK_DRIVER_FILES:-}" ] && [ -z "${VK_ICD_FILENAMES:-}" ] \
  && ! ls /etc/vulkan/icd.d/nvidia*.json /usr/share/vulkan/icd.d/nvidia*.json >/dev/null 2>&1; then
  if [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
    export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  elif ldconfig -p 2>/dev/null | grep -q 'libGLX_nvidia\.so\.0'; then
    printf '%s\n' '{"file_format_version":"1.0.0","ICD":{"library_path":"libGLX_nvidia.so.0","api_version":"1.3.0"}}' >"$work/nvidia_icd.json"
    export VK_DRIVER_FILES="$work/nvidia_icd.json"
  fi
fi

command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || echo "gpu-check.sh: nvidia-smi not found"
echo "gpu-check.sh: generating $preset fp32 and fp16 (random weights) in $work"
"$node" "$bundle/app/scripts/model-make.js" --preset "$preset" --out "$work/$preset" >/dev/null
"$node" "$bundle/app/scripts/model-make.js" --preset "$preset" --dtype fp16 --out "$work/$preset-fp16" >/dev/null

# 8 minutes in all: the measurement stops starting cells after 7 (a cell takes at most about 5 s more).
timeout 480 "$node" "$bundle/app/scripts/gpu-check/measure.js" \
  --model "$preset=$work/$preset" --model "$preset-fp16=$work/$preset-fp16:fp16" \
  --deadline-seconds 400 --out "$out" "${measure_args[@]}"
