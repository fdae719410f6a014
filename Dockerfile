# One image for every p2p-live program; the command is the argument:
#
#   docker build -t p2p-live .
#   docker run --rm -p 8080:8080 p2p-live origin --port 8080
#   docker run --rm -p 9000:9000 p2p-live peer --tracker ws://<origin>:8080/tracker --port 9000 --advertise-host <this host>
#   docker run --rm p2p-live peer --help
#
# The first stage packs the package as `npm pack` does anywhere (its prepack
# bundles the programs with their npm dependencies, bin/build.ts); the second
# installs that tarball with no registry, and Debian's ffmpeg for the origin.
# test/unit/dockerfile.test.ts checks this file offline.

FROM node:20-bookworm-slim AS pack
WORKDIR /src
COPY package.json package-lock.json ./
# No scripts yet: `prepare` builds from sources copied only below (npm pack runs it).
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN npm pack --pack-destination /tmp && mv /tmp/p2p-live-*.tgz /tmp/p2p-live.tgz

FROM node:20-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg \
 && rm -rf /var/lib/apt/lists/*
COPY --from=pack /tmp/p2p-live.tgz /tmp/p2p-live.tgz
RUN npm install --global --offline --no-audit --no-fund /tmp/p2p-live.tgz \
 && rm /tmp/p2p-live.tgz \
 && npm cache clean --force
# For the origin's --signing-key: a named volume mounted here starts as this directory, owned by node
# (docker-compose.yml keeps the key there, so an origin restart does not change the key peers pinned).
RUN mkdir -p /var/lib/p2p-live && chown node:node /var/lib/p2p-live
# In a container, loopback would be unreachable from anywhere else; `-p` decides what is published.
ENV ORIGIN_HOST=0.0.0.0 PEER_HOST=0.0.0.0
USER node
EXPOSE 8080
ENTRYPOINT ["p2p-live"]
CMD ["--help"]
