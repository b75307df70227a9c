# syntax=docker/dockerfile:1
#
# rmserve images. docs/deployment.md has the full story; in short:
#
#   docker build -t rmserve:0.1.0 .                                     # CPU, ONNX, default model baked in
#   docker build -t rmserve:0.1.0 --build-arg MODEL_SOURCE=context \
#                --build-context model=./my-rm .                         # CPU, your model folder baked in
#   docker build -t rmserve:0.1.0-cuda --build-arg VARIANT=cuda .       # NVIDIA GPU (onnxruntime-gpu)
#   docker run --rm -p 8000:8000 rmserve:0.1.0
#
# Stages: `export-tools` (torch, CPU build) -> `model-default` or `model-context` (picked by
# MODEL_SOURCE: build the default model, or take yours from the `model` context) exports ONNX ->
# `venv-cpu`/`venv-cuda` (the [serve]/[gpu] install, no torch) -> `runtime` (picked by VARIANT).
# The CPU image carries onnxruntime and OpenVINO: the server picks between them, and bf16 where the CPU
# has AMX or AVX512-BF16, at start-up (backend and dtype auto; RMSERVE_BACKEND/RMSERVE_DTYPE pin them).
# The final image has no torch, no compilers and no build tools; the model sits at /models/rmserve,
# where a volume may also be mounted instead.

# Must be the Python that CI tests on (tests/deploy/test_dockerfile.py checks it).
ARG PYTHON_VERSION=3.11
ARG DEBIAN_RELEASE=trixie
# onnxruntime-gpu 1.31 on PyPI is built for CUDA 13 and cuDNN 9.
ARG CUDA_IMAGE=nvidia/cuda:13.0.1-cudnn-runtime-ubuntu24.04
# cpu | cuda
ARG VARIANT=cpu
# default (build the embedded default model) | context (your folder: --build-context model=DIR)
ARG MODEL_SOURCE=default
# Empty, or int8 for dynamic int8 quantization of the exported ONNX model.
ARG QUANTIZE=""
# Pinned like pyproject.toml's [gpu] extra (the test checks the two agree).
ARG ONNXRUNTIME_GPU_VERSION=1.31.1

# ---------------------------------------------------------------------------------------------------
# Your model folder, with MODEL_SOURCE=context: `--build-context model=DIR` replaces this empty stage
# with DIR, a Hugging Face folder (safetensors + tokenizer) or an already exported ONNX folder.
FROM scratch AS model

# ---------------------------------------------------------------------------------------------------
FROM python:${PYTHON_VERSION}-slim-${DEBIAN_RELEASE} AS base-cpu
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1

# ---------------------------------------------------------------------------------------------------
# torch builds or reads the model and exports it to ONNX; none of it reaches the final image.
FROM base-cpu AS export-tools
# torch==2.13.0 from pyproject.toml resolves to the CPU build here (2.13.0+cpu), as on the build machines.
ENV PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu \
    HOME=/tmp/build-home
WORKDIR /src
COPY pyproject.toml README.md ./
COPY service ./service
COPY models ./models
COPY rmserve ./rmserve
RUN python -m venv /opt/build-venv \
    && /opt/build-venv/bin/pip install --no-cache-dir ".[torch]"
ENV PATH="/opt/build-venv/bin:${PATH}"

# The default model trains on the data packaged with rmserve (a few minutes on two cores), offline.
FROM export-tools AS model-default
ARG QUANTIZE
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN set -eux; \
    src="$(rmserve default-model --quiet --cache-dir /tmp/rmserve-cache | tail -n 1)"; \
    rmserve export --model "${src}" --out /model ${QUANTIZE:+--quantize "${QUANTIZE}"}; \
    test -f /model/model.onnx; \
    chmod -R a+rX,go-w /model

FROM export-tools AS model-context
ARG QUANTIZE
COPY --from=model . /src/model-in/
RUN set -eux; \
    if [ -f /src/model-in/model.onnx ]; then \
        cp -R /src/model-in /model; \
    elif [ -f /src/model-in/config.json ]; then \
        rmserve export --model /src/model-in --out /model ${QUANTIZE:+--quantize "${QUANTIZE}"}; \
    else \
        echo "MODEL_SOURCE=context needs --build-context model=DIR with a model folder" >&2; exit 1; \
    fi; \
    test -f /model/model.onnx; \
    chmod -R a+rX,go-w /model

# A stage picked by MODEL_SOURCE, not an image, so it has no tag.
# hadolint ignore=DL3006
FROM model-${MODEL_SOURCE} AS model-onnx

# ---------------------------------------------------------------------------------------------------
FROM base-cpu AS venv-cpu
WORKDIR /src
COPY pyproject.toml README.md ./
COPY service ./service
COPY models ./models
COPY rmserve ./rmserve
RUN python -m venv /opt/rmserve \
    && /opt/rmserve/bin/pip install --no-cache-dir ".[serve]"

FROM base-cpu AS runtime-cpu
ENV RMSERVE_DEVICE=cpu
COPY --from=venv-cpu /opt/rmserve /opt/rmserve

# ---------------------------------------------------------------------------------------------------
FROM ${CUDA_IMAGE} AS base-cuda
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    DEBIAN_FRONTEND=noninteractive
# The distribution's Python (3.12 on Ubuntu 24.04, within requires-python). Its apt version is not
# pinned: it moves with the CUDA image's Ubuntu release, which CUDA_IMAGE pins.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 \
    && rm -rf /var/lib/apt/lists/*

FROM base-cuda AS venv-cuda
ARG ONNXRUNTIME_GPU_VERSION
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3-venv \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY service ./service
COPY models ./models
COPY rmserve ./rmserve
# [gpu] brings onnxruntime-gpu next to [serve]'s onnxruntime; both install the `onnxruntime` module,
# so the CPU one is removed and the GPU one reinstalled over it (same pin as the [gpu] extra).
RUN python3 -m venv /opt/rmserve \
    && /opt/rmserve/bin/pip install --no-cache-dir ".[gpu]" \
    && /opt/rmserve/bin/pip uninstall -y onnxruntime onnxruntime-gpu \
    && /opt/rmserve/bin/pip install --no-cache-dir --no-deps "onnxruntime-gpu==${ONNXRUNTIME_GPU_VERSION}"

FROM base-cuda AS runtime-cuda
ENV RMSERVE_DEVICE=cuda
COPY --from=venv-cuda /opt/rmserve /opt/rmserve

# ---------------------------------------------------------------------------------------------------
# A stage picked by VARIANT, not an image, so it has no tag.
# hadolint ignore=DL3006
FROM runtime-${VARIANT} AS runtime
# A fixed numeric user, so Kubernetes' runAsNonRoot can verify it (the Helm chart runs as 10001 too).
RUN useradd --uid 10001 --gid 0 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin rmserve
COPY --from=model-onnx --chown=0:0 /model /models/rmserve
ENV PATH="/opt/rmserve/bin:${PATH}" \
    HOME=/tmp \
    HF_HOME=/tmp/huggingface \
    RMSERVE_MODEL=/models/rmserve \
    RMSERVE_HOST=0.0.0.0 \
    RMSERVE_PORT=8000
USER 10001
WORKDIR /tmp
EXPOSE 8000
# /health answers as soon as the process is up, without waiting behind model work.
HEALTHCHECK --interval=15s --timeout=3s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('RMSERVE_PORT', '8000'), timeout=2)"]
ENTRYPOINT ["rmserve"]
CMD ["serve"]
