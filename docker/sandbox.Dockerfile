# syntax=docker/dockerfile:1.7
#
# The sandbox image: what runs inside every ECS task and (as a template) every E2B sandbox.
# Node 22, git, ripgrep, Claude Code, and the rclaude agent as the entrypoint, as non-root user
# `rclaude` (uid 1000) with HOME=/home/rclaude and the task's workspace at /workspace.
#
# The agent dials out to the proxy with RCLAUDE_PROXY_URL, RCLAUDE_SANDBOX_ID and RCLAUDE_AGENT_TOKEN,
# which the provider passes in the environment: the image needs no open port.
#
# Build from the repository root, both architectures (Fargate runs ARM64; E2B runs amd64):
#   docker buildx build --platform linux/arm64,linux/amd64 \
#     -f docker/sandbox.Dockerfile -t <registry>/rclaude-sandbox:<version> --push .

ARG NODE_IMAGE=node:22.20.0-bookworm-slim

# ---- build: compile the protocol, the client core and the agent ----------------------------------
FROM ${NODE_IMAGE} AS build
# node-pty is a native module: build it for the target architecture.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json tsconfig.base.json ./
# Every workspace manifest, so the lockfile matches; only protocol, client and agent are installed.
COPY packages/protocol/package.json packages/protocol/
COPY packages/client/package.json packages/client/
COPY packages/agent/package.json packages/agent/
COPY packages/proxy/package.json packages/proxy/
COPY packages/cli/package.json packages/cli/
COPY packages/testkit/package.json packages/testkit/
COPY packages/web/package.json packages/web/
COPY infra/package.json infra/
RUN npm ci --include-workspace-root --workspace @rclaude/protocol --workspace @rclaude/client --workspace @rclaude/agent
COPY packages/protocol/ packages/protocol/
COPY packages/client/ packages/client/
COPY packages/agent/ packages/agent/
RUN npx tsc -b packages/agent

# ---- runtime dependencies only ---------------------------------------------------------------------
FROM build AS deps
RUN rm -rf node_modules packages/*/node_modules \
 && npm ci --omit=dev --workspace @rclaude/protocol --workspace @rclaude/client --workspace @rclaude/agent \
 # node-pty ships macOS and Windows binaries (about 60 MB); on Linux it loads the one built above.
 && rm -rf node_modules/node-pty/prebuilds \
 # A package's own copy of a dependency whose version differs from the hoisted one (tar-stream) lives in its
 # node_modules; every workspace gets the folder, even empty, so the COPY below never misses one.
 && mkdir -p packages/protocol/node_modules packages/client/node_modules packages/agent/node_modules

# ---- the image ------------------------------------------------------------------------------------
FROM ${NODE_IMAGE}
ARG CLAUDE_CODE_VERSION=2.1.329
# git and ripgrep for Claude Code; tini reaps the processes the PTYs leave behind and forwards SIGTERM.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates git ripgrep openssh-client openssh-sftp-server procps less tini \
 && rm -rf /var/lib/apt/lists/*
# The base image's `node` user already holds uid 1000: rename it rather than add a second one.
RUN groupmod --new-name rclaude node \
 && usermod --login rclaude --home /home/rclaude --move-home --shell /bin/bash node \
 && mkdir -p /workspace \
 && chown 1000:1000 /workspace

WORKDIR /opt/rclaude
COPY --from=deps /src/package.json ./
COPY --from=deps /src/node_modules/ node_modules/
COPY --from=build /src/packages/protocol/package.json packages/protocol/
COPY --from=build /src/packages/protocol/dist/ packages/protocol/dist/
COPY --from=build /src/packages/client/package.json packages/client/
COPY --from=build /src/packages/client/dist/ packages/client/dist/
COPY --from=build /src/packages/agent/package.json packages/agent/
COPY --from=build /src/packages/agent/dist/ packages/agent/dist/
COPY --from=deps /src/packages/protocol/node_modules/ packages/protocol/node_modules/
COPY --from=deps /src/packages/client/node_modules/ packages/client/node_modules/
COPY --from=deps /src/packages/agent/node_modules/ packages/agent/node_modules/
# Claude Code comes pinned through the lockfile as the agent's dependency; fail the build if that drifts.
RUN test "$(node -p "require('/opt/rclaude/node_modules/@anthropic-ai/claude-code/package.json').version")" = "${CLAUDE_CODE_VERSION}" \
 && ln -s /opt/rclaude/node_modules/.bin/claude /usr/local/bin/claude \
 && printf '#!/bin/sh\nexec node /opt/rclaude/packages/agent/dist/main.js "$@"\n' > /usr/local/bin/rclaude-agent \
 && chmod 0755 /usr/local/bin/rclaude-agent

ENV HOME=/home/rclaude \
    RCLAUDE_WORKSPACE=/workspace \
    NODE_ENV=production \
    DISABLE_AUTOUPDATER=1 \
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1
# Numeric, so orchestrators that check runAsNonRoot can verify it.
USER 1000:1000
WORKDIR /workspace
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/rclaude-agent"]
