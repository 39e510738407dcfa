# syntax=docker/dockerfile:1
#
# Warden container image.
#
# The image has no embedded database: set MONGODB_URI to a MongoDB (or a
# MongoDB-compatible server such as FerretDB). Without it the container exits
# at start with "No MongoDB available: ...". See docker-compose.yml for a
# complete stack and README.md ("Running with Docker").
#
# scripts/docker-recipe-check.sh runs the same steps without Docker.

# --- build: compile the TypeScript sources to dist/ -------------------------
FROM node:20-bookworm-slim AS build
WORKDIR /app

COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

COPY . .
RUN npm run build

# --- runtime: production dependencies and dist/ only -----------------------
FROM node:20-bookworm-slim AS runtime
ENV HOST=0.0.0.0 \
    PORT=3000 \
    NODE_ENV=production
WORKDIR /app

# argon2 ships prebuilt binaries (glibc and musl), so no compiler, python or
# make is needed here. Optional dependencies are left out on purpose: they only
# serve to download a local mongod for development, and the image uses MONGODB_URI.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --omit=optional --no-audit --no-fund \
 && npm cache clean --force \
 && mkdir -p /app/.data \
 && chown node:node /app/.data

COPY --from=build /app/dist ./dist

USER node
EXPOSE 3000

# Ready means the database answers; node's built-in fetch, as the slim image has no curl.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/health/ready', { signal: AbortSignal.timeout(4000) }).then((res) => process.exit(res.status === 200 ? 0 : 1), () => process.exit(1))"]

CMD ["node", "dist/src/server.js"]
