# syntax=docker/dockerfile:1
# The one image for both variants (VARIANT=inference|proxy), in two final targets:
#   cpu  docker build --target cpu -t gpt2-openai-toolkit:cpu .
#   gpu  docker build --target gpu -t gpt2-openai-toolkit:gpu .   (CUDA 12 + cuDNN 9, onnxruntime's CUDA EP;
#        Vulkan for EXECUTION_PROVIDER=webgpu)
# The two targets differ only in their base, the CUDA execution provider and Vulkan (test/containers checks it).
# Model: baked in with --build-arg MODEL_ID=gpt2 (fetched into /models at build time; MODEL_DTYPE or
# MODEL_FILE picks the graph; the gpt2-openai-toolkit.model.* labels record what), or mounted at run time:
# -v /path/to/model:/model:ro -e MODEL_DIR=/model. Both targets run the compiled service
# (node dist/service/main.js). See README "Local development with containers".

ARG NODE_IMAGE=docker.io/library/node:24-bookworm-slim
ARG CUDA_IMAGE=docker.io/nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04

# Node 24 and npm for the build stages; the gpu target copies its node binary from here.
FROM ${NODE_IMAGE} AS node

# Production dependencies only. .npmrc skips onnxruntime-node's CUDA download; its CPU build is bundled.
# onnxruntime-node ships native builds for every OS and CPU (about 290 MB); the image keeps its own.
FROM node AS deps
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force \
 && keep="$(node -p 'process.platform + "/" + process.arch')" \
 && find node_modules/onnxruntime-node/bin/napi-v6 -mindepth 2 -maxdepth 2 -type d ! -path "*/$keep" -exec rm -rf {} + \
 && test -d "node_modules/onnxruntime-node/bin/napi-v6/$keep"

# The same dependencies plus onnxruntime-node's CUDA 12 execution provider, downloaded from nuget.
# The install script is run directly (not as an npm postinstall) so that neither .npmrc's skip nor
# npm's install-script policy (allowScripts) can silently turn it into a no-op; the test -f proves it ran.
FROM deps AS deps-cuda
RUN ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js \
 && test -f node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so

# The service compiled to JavaScript (npm run build: tsc, then the non-TypeScript files it reads at run time),
# so the image starts node on dist/ instead of transpiling with tsx at every start. The compiler comes in at
# the lock file's versions and only here: the final targets copy node_modules from deps, never from this stage.
FROM deps AS build
RUN npm install --prefix /tmp/build-tools --no-save --no-audit --no-fund \
      "typescript@$(node -p "require('./package-lock.json').packages['node_modules/typescript'].version")" \
      "@types/node@$(node -p "require('./package-lock.json').packages['node_modules/@types/node'].version")" \
 && rm /tmp/build-tools/node_modules/.package-lock.json \
 && cp -a /tmp/build-tools/node_modules/. node_modules/ \
 && rm -rf /tmp/build-tools
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY service ./service
RUN npm run build

# The model, fetched with the project's fetcher when MODEL_ID is set (gpt2 = onnx-community/gpt2-ONNX),
# only the graph MODEL_DTYPE (or MODEL_FILE) picks; /models stays empty otherwise. MODEL_REVISION should be
# a commit id (the deploy pipeline resolves a branch first), so the image holds exactly the weights it was
# tested with. HF_ENDPOINT may name a mirror of the hub; a token for a private repository comes in as a
# build secret (--secret id=hf_token,src=FILE), so no layer keeps it.
FROM deps AS model
ARG MODEL_ID=""
ARG MODEL_REVISION=main
ARG MODEL_DTYPE=fp32
ARG MODEL_FILE=""
ARG HF_ENDPOINT=""
COPY --from=build /app/dist ./dist
RUN --mount=type=secret,id=hf_token \
    mkdir -p /models \
 && if [ -n "$MODEL_ID" ]; then \
      HF_TOKEN="$(cat /run/secrets/hf_token 2>/dev/null || true)" \
      node dist/scripts/model-fetch.js --id "$MODEL_ID" --revision "$MODEL_REVISION" --dtype "$MODEL_DTYPE" \
        ${MODEL_FILE:+--file "$MODEL_FILE"} --cache /models; \
    fi

# The Vulkan loader and NVIDIA's Vulkan ICD json for EXECUTION_PROVIDER=webgpu (onnxruntime's WebGPU EP
# runs on Vulkan). The json names libGLX_nvidia.so.0, which the NVIDIA container toolkit mounts from the
# host driver only when NVIDIA_DRIVER_CAPABILITIES includes graphics ("required for running OpenGL and
# Vulkan applications", docs.nvidia.com/datacenter/cloud-native/container-toolkit, docker-specialized).
# Installed here and copied, so the final target installs no packages.
FROM ${CUDA_IMAGE} AS vulkan
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libvulkan1 \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /vulkan/lib /vulkan/icd.d \
 && cp -a /usr/lib/x86_64-linux-gnu/libvulkan.so.1* /vulkan/lib/ \
 && printf '%s\n' '{"file_format_version":"1.0.0","ICD":{"library_path":"libGLX_nvidia.so.0","api_version":"1.3.0"}}' >/vulkan/icd.d/nvidia_icd.json

# ---- final targets: identical but for the base, the node binary, the CUDA execution provider and Vulkan ----

FROM ${NODE_IMAGE} AS cpu
# A model baked in with MODEL_ID is found in /models under the same id; empty means the service default.
ARG MODEL_ID=""
ARG MODEL_REVISION=main
ARG MODEL_DTYPE=fp32
ARG MODEL_FILE=""
# Which weights the image carries: the stacks pass MODEL_REVISION as the commit the branch resolved to.
LABEL gpt2-openai-toolkit.model.id="${MODEL_ID}" gpt2-openai-toolkit.model.revision="${MODEL_REVISION}" gpt2-openai-toolkit.model.dtype="${MODEL_DTYPE}" gpt2-openai-toolkit.model.file="${MODEL_FILE}"
ENV NODE_ENV=production HOST=0.0.0.0 PORT=8080 VARIANT=inference \
    MODEL_CACHE_DIR=/models MODEL_ID=${MODEL_ID} MODEL_REVISION=${MODEL_REVISION} \
    MODEL_DTYPE=${MODEL_DTYPE} MODEL_FILE=${MODEL_FILE}
RUN groupadd --gid 10001 app \
 && useradd --uid 10001 --gid app --no-log-init --home-dir /app --no-create-home --shell /usr/sbin/nologin app
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY --from=build /app/dist ./dist
COPY --from=model --chown=app:app /models /models
USER app
EXPOSE 8080
# /health answers once the HTTP server listens; HTTPS when TLS_CERT_FILE is set (self-signed allowed).
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 \
  CMD ["node", "-e", "const s=!!process.env.TLS_CERT_FILE;require(s?'https':'http').get({host:'127.0.0.1',port:process.env.PORT||8080,path:'/health',rejectUnauthorized:false,timeout:4000},r=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1))"]
# Node is PID 1 and the service handles SIGTERM itself (stops accepting, drains, exits).
CMD ["node", "dist/service/main.js"]

FROM ${CUDA_IMAGE} AS gpu
COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=vulkan /vulkan/lib/ /usr/lib/x86_64-linux-gnu/
COPY --from=vulkan /vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json
# A model baked in with MODEL_ID is found in /models under the same id; empty means the service default.
ARG MODEL_ID=""
ARG MODEL_REVISION=main
ARG MODEL_DTYPE=fp32
ARG MODEL_FILE=""
# Which weights the image carries: the stacks pass MODEL_REVISION as the commit the branch resolved to.
LABEL gpt2-openai-toolkit.model.id="${MODEL_ID}" gpt2-openai-toolkit.model.revision="${MODEL_REVISION}" gpt2-openai-toolkit.model.dtype="${MODEL_DTYPE}" gpt2-openai-toolkit.model.file="${MODEL_FILE}"
ENV NODE_ENV=production HOST=0.0.0.0 PORT=8080 VARIANT=inference \
    MODEL_CACHE_DIR=/models MODEL_ID=${MODEL_ID} MODEL_REVISION=${MODEL_REVISION} \
    MODEL_DTYPE=${MODEL_DTYPE} MODEL_FILE=${MODEL_FILE}
# cuda stays the default until a GPU measurement says webgpu is faster (README "GPU"); webgpu is one
# variable away. graphics mounts the driver's Vulkan library for it.
ENV EXECUTION_PROVIDER=cuda NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics
RUN groupadd --gid 10001 app \
 && useradd --uid 10001 --gid app --no-log-init --home-dir /app --no-create-home --shell /usr/sbin/nologin app
WORKDIR /app
COPY --from=deps-cuda /app/node_modules ./node_modules
COPY package.json ./
COPY --from=build /app/dist ./dist
COPY --from=model --chown=app:app /models /models
USER app
EXPOSE 8080
# /health answers once the HTTP server listens; HTTPS when TLS_CERT_FILE is set (self-signed allowed).
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 \
  CMD ["node", "-e", "const s=!!process.env.TLS_CERT_FILE;require(s?'https':'http').get({host:'127.0.0.1',port:process.env.PORT||8080,path:'/health',rejectUnauthorized:false,timeout:4000},r=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1))"]
# Node is PID 1 and the service handles SIGTERM itself (stops accepting, drains, exits).
CMD ["node", "dist/service/main.js"]
