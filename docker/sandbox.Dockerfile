# The CPU roles: `sandbox` (bubblewrap-isolated Python executions) and `reward` (the
# math-verify grader pool). Python packages are exactly python/uv.lock's, less the torch/CUDA
# stack that only the trainer needs (several GB that no sandboxed program or grader imports).
# Build from the repository root: docker build -f docker/sandbox.Dockerfile .
FROM ghcr.io/astral-sh/uv:0.13.9 AS uv

FROM node:20.19.5-bookworm-slim AS node-deps
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM node:20.19.5-bookworm-slim
# Debian bookworm's python3 is 3.11, the version python/uv.lock is resolved for (==3.11.*).
# The sandbox runs the venv's base interpreter from /usr, read-only, inside bwrap.
RUN apt-get update \
  && apt-get install -y --no-install-recommends bubblewrap=0.8.0-2+deb12u1 python3=3.11.2-1+b1 \
  && rm -rf /var/lib/apt/lists/*
COPY --from=uv /uv /usr/local/bin/uv
WORKDIR /app
ENV NODE_ENV=production \
    UV_PYTHON=/usr/bin/python3.11 \
    UV_PYTHON_DOWNLOADS=never \
    UV_LINK_MODE=copy \
    UV_COMPILE_BYTECODE=1
COPY python/pyproject.toml python/uv.lock ./python/
COPY python/tirflow_py ./python/tirflow_py
RUN cd python \
  && skip=$(grep -E '^name = "(torch|triton|nvidia-[^"]*|cuda-[^"]*)"$' uv.lock | cut -d'"' -f2 \
            | sed 's/^/--no-install-package /' | tr '\n' ' ') \
  && uv sync --frozen --no-dev --no-cache $skip
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
# Root on purpose: bwrap runs privileged and drops every execution to an unprivileged uid
# (activities/sandbox/isolation.ts); compose grants the namespace capabilities it needs.
ENTRYPOINT ["node", "bin/tirflow.js"]
CMD ["worker", "--role", "sandbox"]
