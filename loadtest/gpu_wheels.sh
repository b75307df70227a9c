#!/usr/bin/env bash
# Prepare what `python -m loadtest.gpu_check` needs on the device machine (an NVIDIA H200 whose image has
# Python 3.12, CUDA torch, transformers, tokenizers, numpy, httpx, jinja2, uvloop and prometheus-client,
# but not the service's web stack) and cannot fetch there (it reaches no registry):
#
#   .whl/  the web stack as wheels for CPython 3.12 / manylinux x86-64, versions pinned as pyproject.toml
#          pins them (their own needs named one by one: pip runs with --no-deps on both sides);
#   .gpu/  the payload: the default model (weights stored as fp16, to fit the 64 MiB a device call may
#          carry; the check computes in fp32, fp16 and bf16 from those weights) and the HH-RLHF file.
#
# Both folders are git-ignored; name both in the device call's `carry`. Run from the repository root:
#
#   PY=.venv/bin/python loadtest/gpu_wheels.sh
#
# The device command (one call, carry [".whl", ".gpu"], timeout_s 540; docs/benchmarks.md, "On a GPU"):
#
#   python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
#     .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 || exit;
#   set -o pipefail; python3 -m loadtest.gpu_check --device cuda --encoder .gpu/default-model \
#     --hh .gpu/harmless-base-test.jsonl.gz --out $OUT 2>&1 | tee $OUT/log.txt
set -euo pipefail
PY=${PY:-python3}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1
WHEELS=(
    fastapi==0.163.2 starlette==1.10.0 pydantic==2.14.4 pydantic-core==2.50.5 pydantic-settings==2.14.1
    python-dotenv==1.2.4 annotated-types==0.8.0 annotated-doc==0.0.7 typing-inspection==0.4.5
    typing-extensions==4.16.0 opentelemetry-api==1.45.2 uvicorn==0.54.0 httptools==0.9.0
)
rm -rf .whl
"$PY" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl "${WHEELS[@]}"
"$PY" -m loadtest.gpu_payload --dest .gpu
du -sh .whl .gpu
