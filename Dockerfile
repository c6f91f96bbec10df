# syntax=docker/dockerfile:1
# cdb2cos container image: `docker build -t cdb2cos .` from a clean checkout.
#
# Three stages:
#   build   Node 22 with the dev dependencies: compiles the product (npm run build = tsc -b) and packs it
#           with `npm pack`, so the image holds exactly the production package's files (package.json
#           "files": dist/src without the emulator and the demo, README.md, config.example.ini).
#   deps    installs the production dependencies of that package only (--omit=dev --workspaces=false:
#           without --workspaces=false npm links the emulator workspace even with --omit=dev).
#   runtime distroless Node 22, user nonroot (65532), no shell, no npm: node runs the CLI as PID 1.
#
# Signals: node is PID 1 and the CLI installs its own SIGTERM/SIGINT handlers for the run (src/cli.ts),
# so `docker stop` and Kubernetes' SIGTERM abort the transfers, write each item's resume state, log
# `interrupted` and exit 143; requests still in flight after 5 s are abandoned. Give the container a stop
# timeout above that (docker stop -t 30, terminationGracePeriodSeconds: 60). PID 1 ignores signals it has
# no handler for: a SIGTERM in the few milliseconds before the run starts (while the config is read) is
# ignored, and the runtime's SIGKILL after the grace period ends the process; nothing is staged by then.

ARG NODE_MAJOR=22

FROM node:${NODE_MAJOR}-bookworm-slim AS build
WORKDIR /src
# The manifests first, so the dependency layer is cached while only the sources change. The emulator's
# package.json is needed: it is a workspace of the lockfile, and the build compiles it (tests use it).
COPY package.json package-lock.json ./
COPY packages/emulator/package.json packages/emulator/
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build \
 && mkdir /out \
 && npm pack --ignore-scripts --pack-destination /out \
 && tar -xzf /out/cdb2cos-*.tgz -C /out \
 && rm /out/cdb2cos-*.tgz

FROM node:${NODE_MAJOR}-bookworm-slim AS deps
WORKDIR /app
# /out/package is what `npm install cdb2cos-<version>.tgz` would unpack: no emulator, no demo, no tests.
COPY --from=build /out/package/ ./
COPY package-lock.json ./
# No install scripts: none of the production dependencies needs one (no native module).
RUN npm ci --omit=dev --workspaces=false --ignore-scripts --no-audit --no-fund \
 && test ! -e node_modules/@cdb2cos \
 && node dist/src/cli.js --help >/dev/null \
 && mkdir -p /rootfs/var/lib/cdb2cos/staging /rootfs/var/log/cdb2cos /rootfs/etc/cdb2cos

FROM gcr.io/distroless/nodejs${NODE_MAJOR}-debian12:nonroot AS runtime
# Owned by root and read-only to the process: the code cannot be changed by the job that runs it.
COPY --from=deps /app /app
# Writable by the nonroot user: a named volume or a bind mount starts from these owners and modes.
COPY --from=deps --chown=65532:65532 /rootfs/var/lib/cdb2cos /var/lib/cdb2cos
COPY --from=deps --chown=65532:65532 /rootfs/var/log/cdb2cos /var/log/cdb2cos
COPY --from=deps /rootfs/etc/cdb2cos /etc/cdb2cos
USER 65532:65532
WORKDIR /var/lib/cdb2cos
# In the config: [transfer] staging_dir = /var/lib/cdb2cos/staging and [log] dir = /var/log/cdb2cos.
VOLUME ["/var/lib/cdb2cos", "/var/log/cdb2cos"]
# The V8 flags and malloc settings of bin/cdb2cos (that sh script cannot run here: distroless has no
# shell), which keep the heap small and the GC off other cores (see README, Installing). Distroless has
# node at /nodejs/bin/node, not on PATH. Exec form: node itself is PID 1 and receives the signals.
ENV MALLOC_ARENA_MAX=1 MALLOC_MMAP_THRESHOLD_=131072 MALLOC_TRIM_THRESHOLD_=131072
ENTRYPOINT ["/nodejs/bin/node", "--single-threaded-gc", "--max-semi-space-size=1", "--expose-gc", "/app/dist/src/cli.js"]
CMD ["run", "--config", "/etc/cdb2cos/cos.ini"]
