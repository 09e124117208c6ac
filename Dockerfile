# The gateway and worker image (docker-compose.yml runs it with different commands).
FROM node:20-bookworm-slim
WORKDIR /app
# git analyses repositories for visualizations (POST /v1/visualize/repository).
RUN apt-get update && apt-get install -y --no-install-recommends git ca-certificates && rm -rf /var/lib/apt/lists/*
COPY . .
# postinstall generates the Prisma client (src/db/generate.ts).
RUN npm ci --omit=dev
ENV NODE_ENV=production
EXPOSE 8080
CMD ["npm", "start"]
