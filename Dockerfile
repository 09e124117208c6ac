# The gateway and worker image (docker-compose.yml runs it with different commands).
FROM node:20-bookworm-slim
WORKDIR /app
COPY . .
# postinstall generates the Prisma client (src/db/generate.ts).
RUN npm ci --omit=dev
ENV NODE_ENV=production
EXPOSE 8080
CMD ["npm", "start"]
