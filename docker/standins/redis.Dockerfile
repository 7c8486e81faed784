# A stand-in for the official redis image, for tests and CI where no registry image can be pulled: Debian's
# redis-server on the offline Debian base, run as `redis` in /data, reachable from other containers (the
# official image turns protected mode off the same way). docker/build.sh standins builds it; never for production.
ARG DEBIAN_IMAGE
FROM ${DEBIAN_IMAGE}
RUN apt-get update -qq \
  && apt-get install -y -qq --no-install-recommends redis-server \
  && rm -rf /var/lib/apt/lists/* \
  && mkdir -p /data && chown redis:redis /data
COPY redis-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
VOLUME /data
WORKDIR /data
EXPOSE 6379
LABEL org.rclaude.standin=redis
ENTRYPOINT ["/bin/sh", "/usr/local/bin/docker-entrypoint.sh"]
CMD ["redis-server"]
