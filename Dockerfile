# The gateway and worker image (docker-compose.yml runs it as the gateway and as each worker).
# Node.js 24 is an LTS line (security fixes until 2028-04-30); the minor is pinned: bump it on purpose.

# The dashboard and GraphQL explorer bundle (dist/web/), built with the dev dependencies (Vite,
# React, GraphiQL) that the image itself does not install.
FROM node:24.19-bookworm-slim AS web
WORKDIR /app
COPY package*.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY web ./web
RUN npm run web:build

FROM node:24.19-bookworm-slim

# git: projects clone repositories and visualizations analyse their history.
# python3: test generation reads Python files with Python's own ast module.
RUN apt-get update \
  && apt-get install -y --no-install-recommends ca-certificates git python3 \
  && rm -rf /var/lib/apt/lists/*

WORKDIR /app
ENV NODE_ENV=production

# Dependencies first, so a change to the source reuses this layer. --ignore-scripts: the project's
# own postinstall generates the Prisma client from the source, which is not here yet (it runs
# below); no dependency needs its install script (argon2 and Temporal's core bridge ship prebuilt
# binaries, and Prisma's engine download is not needed to generate or run).
COPY package*.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

COPY . .
COPY --from=web /app/dist/web ./dist/web
RUN npm run db:generate && mkdir -p .data && chown node:node .data

# The code stays root's and read-only to the server; it writes only .data and its home's cache.
USER node
EXPOSE 8080
CMD ["node", "--import", "tsx", "src/main.ts"]
