# syntax=docker/dockerfile:1.7
#
# The proxy image: `rclaude server` (REST, Socket.io, the web app) for ECS or docker compose.
# Build from the repository root:
#   docker buildx build --platform linux/arm64,linux/amd64 \
#     -f docker/proxy.Dockerfile -t <registry>/rclaude-proxy:<version> --push .

ARG NODE_IMAGE=node:22.20.0-bookworm-slim

# ---- build: everything the server needs, compiled -------------------------------------------------
FROM ${NODE_IMAGE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json tsconfig.base.json turbo.json ./
COPY packages/protocol/package.json packages/protocol/
COPY packages/client/package.json packages/client/
COPY packages/agent/package.json packages/agent/
COPY packages/proxy/package.json packages/proxy/
COPY packages/cli/package.json packages/cli/
COPY packages/testkit/package.json packages/testkit/
COPY packages/web/package.json packages/web/
COPY infra/package.json infra/
RUN npm ci
COPY packages/ packages/
RUN TURBO_TELEMETRY_DISABLED=1 npx turbo run build --filter=rclaude... --filter=@rclaude/web --output-logs=errors-only \
 # Test scaffolding that lives next to the sources compiles into dist/; the image ships none of it.
 && find packages/*/dist \( -name '*.test.*' -o -name 'test-*' -o -name 'provider-contract.*' \) -delete
# RDS presents certificates of Amazon's RDS CA, which Node does not trust by default. `optional` (for builds
# without internet, e.g. docker/build.sh in CI) leaves an empty bundle when the download fails.
ARG RDS_CA_BUNDLE=required
RUN curl --fail --silent --show-error --location --max-time 60 --output /rds-global-bundle.pem \
      https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem \
 || { [ "${RDS_CA_BUNDLE}" = optional ] && echo "RDS CA bundle not downloaded (RDS_CA_BUNDLE=optional)" && : > /rds-global-bundle.pem; }

# ---- prune: production dependencies of the server's workspaces only -------------------------------
FROM build AS deps
RUN rm -rf node_modules packages/*/node_modules \
 && npm ci --omit=dev --workspace rclaude --workspace @rclaude/proxy --workspace @rclaude/agent --workspace @rclaude/client --workspace @rclaude/protocol \
 && ln -sfn ../../packages/web node_modules/@rclaude/web \
 # The server image runs no sandbox itself (the local provider needs bubblewrap, which it lacks): Claude Code
 # (~360 MB), a dependency of the agent package, and node-pty's macOS/Windows binaries are not needed here.
 && rm -rf node_modules/@anthropic-ai node_modules/.bin/claude node_modules/node-pty/prebuilds \
 # A package's own copy of a dependency whose version differs from the hoisted one (tar-stream) lives in its
 # node_modules; every workspace gets the folder, even empty, so the COPY below never misses one.
 && mkdir -p packages/protocol/node_modules packages/client/node_modules packages/agent/node_modules \
      packages/proxy/node_modules packages/cli/node_modules

# ---- the image ------------------------------------------------------------------------------------
FROM ${NODE_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates tini \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/rclaude
COPY --from=deps /src/package.json ./
COPY --from=deps /src/node_modules/ node_modules/
COPY --from=build /rds-global-bundle.pem /etc/ssl/certs/rds-global-bundle.pem
COPY --from=build /src/packages/protocol/package.json packages/protocol/
COPY --from=build /src/packages/protocol/dist/ packages/protocol/dist/
COPY --from=build /src/packages/client/package.json packages/client/
COPY --from=build /src/packages/client/dist/ packages/client/dist/
COPY --from=build /src/packages/agent/package.json packages/agent/
COPY --from=build /src/packages/agent/dist/ packages/agent/dist/
COPY --from=build /src/packages/proxy/package.json packages/proxy/
COPY --from=build /src/packages/proxy/dist/ packages/proxy/dist/
COPY --from=build /src/packages/cli/package.json packages/cli/
COPY --from=build /src/packages/cli/dist/ packages/cli/dist/
COPY --from=build /src/packages/web/package.json packages/web/
COPY --from=build /src/packages/web/dist/ packages/web/dist/
COPY --from=deps /src/packages/protocol/node_modules/ packages/protocol/node_modules/
COPY --from=deps /src/packages/client/node_modules/ packages/client/node_modules/
COPY --from=deps /src/packages/agent/node_modules/ packages/agent/node_modules/
COPY --from=deps /src/packages/proxy/node_modules/ packages/proxy/node_modules/
COPY --from=deps /src/packages/cli/node_modules/ packages/cli/node_modules/
RUN printf '#!/bin/sh\nexec node /opt/rclaude/packages/cli/dist/main.js "$@"\n' > /usr/local/bin/rclaude \
 && chmod 0755 /usr/local/bin/rclaude \
 && mkdir -p /var/lib/rclaude \
 && chown 1000:1000 /var/lib/rclaude

ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=7878 \
    RCLAUDE_DATA_DIR=/var/lib/rclaude \
    NODE_EXTRA_CA_CERTS=/etc/ssl/certs/rds-global-bundle.pem
# The base image's unprivileged `node` user (uid 1000), numeric for runAsNonRoot checks.
USER 1000:1000
EXPOSE 7878
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:7878/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["rclaude", "server"]
