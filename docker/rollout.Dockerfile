# The rollout worker: Node only. Generation runs on an OpenAI-compatible server (vLLM or
# SGLang, `engine.kind: openai` in the run config) on the same GPU host; this process turns
# trajectories into requests, applies the tool protocol and tells the server to load each new
# policy. It can also run the in-process `onnx` engine for small models.
# Build from the repository root: docker build -f docker/rollout.Dockerfile .
FROM node:20.19.5-bookworm-slim AS node-deps
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM node:20.19.5-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=node-deps /app/node_modules ./node_modules
COPY package.json tsconfig.json ./
COPY bin ./bin
COPY cli ./cli
COPY common ./common
COPY activities ./activities
COPY workers ./workers
COPY workflows ./workflows
COPY configs ./configs
# The tiny base and its tasks, so `tirflow train` with configs/zerotir-tiny.yaml works in the
# stack as it does on a laptop; real models and datasets come from the shared volumes.
COPY models ./models
COPY data ./data
# Root: the artifact volume is shared by every role's container and written by all of them.
ENTRYPOINT ["node", "bin/tirflow.js"]
CMD ["worker", "--role", "rollout"]
