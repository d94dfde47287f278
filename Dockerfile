# LogSentinel container image.
#
#   docker build -t logsentinel .                 # the runtime image (the last stage)
#   docker build --target test -t logsentinel-test . && docker run --rm logsentinel-test
#
# Every stage uses the same Node major, so better-sqlite3's native module, compiled in `deps`,
# matches the Node that loads it in `runtime`. scripts/verify-docker.ts reproduces the runtime
# stage without a Docker engine by reading this file: a stage the runtime copies from, other than
# the one holding the whole context (`COPY . .`), may only COPY from the context and run npm.

ARG NODE_IMAGE=node:24-bookworm-slim

# Compilers for better-sqlite3 when no prebuilt binary can be fetched.
FROM ${NODE_IMAGE} AS toolchain
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app

# Production dependencies only: what the runtime stage copies as node_modules.
FROM toolchain AS deps
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

# Dev dependencies and the whole project; compiles the server to dist/server and the page to web/dist.
FROM toolchain AS build
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build

# The test suite with the system packages it drives: `docker compose run --rm tests`.
FROM build AS test
RUN apt-get update \
 && apt-get install -y --no-install-recommends chromium syslog-ng-core syslog-ng-mod-http \
 && rm -rf /var/lib/apt/lists/*
CMD ["npm", "test"]

# What runs in production. Must stay the last stage so a plain `docker build` produces it.
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production CONFIG_PATH=/app/config.yaml STORAGE_PATH=/data/logs.db PORT=5000
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/schemas ./schemas
COPY --from=build /app/config.yaml ./config.yaml
COPY --from=build /app/dist/server ./dist/server
COPY --from=build /app/web/dist ./web/dist
# The application files stay root-owned (read-only to the server); only /data is writable.
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME /data
EXPOSE 5000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 CMD ["node", "dist/server/healthcheck.js"]
CMD ["node", "--max-semi-space-size=32", "dist/server/main.js"]
