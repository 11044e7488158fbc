# The trainer worker: Node (the worker) + the long-lived torch process it spawns. torch comes
# from python/uv.lock as PyPI's CUDA 13 build (torch 2.15 with the cu13 runtime wheels); the
# host needs an NVIDIA driver for CUDA 13 (>= 580) and the NVIDIA container toolkit.
# Build from the repository root: docker build -f docker/trainer.Dockerfile .
FROM ghcr.io/astral-sh/uv:0.13.9 AS uv

FROM node:20.19.5-bookworm-slim AS node-deps
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM nvidia/cuda:13.0.1-base-ubuntu24.04
COPY --from=node-deps /usr/local/bin/node /usr/local/bin/node
COPY --from=uv /uv /usr/local/bin/uv
# Ubuntu 24.04 ships Python 3.12; the lock wants 3.11: a pinned uv-managed CPython.
ENV UV_PYTHON_INSTALL_DIR=/opt/python \
    UV_PYTHON=3.11.13 \
    UV_LINK_MODE=copy \
    UV_COMPILE_BYTECODE=1 \
    NODE_ENV=production
RUN uv python install 3.11.13
WORKDIR /app
COPY python/pyproject.toml python/uv.lock ./python/
COPY python/tirflow_py ./python/tirflow_py
RUN cd python && uv sync --frozen --no-dev --no-cache
COPY --from=node-deps /app/node_modules ./node_modules
COPY package.json tsconfig.json ./
COPY bin ./bin
COPY cli ./cli
COPY common ./common
COPY activities ./activities
COPY workers ./workers
COPY workflows ./workflows
COPY configs ./configs
COPY models ./models
COPY data ./data
ENTRYPOINT ["node", "bin/tirflow.js"]
CMD ["worker", "--role", "trainer"]
