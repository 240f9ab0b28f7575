# One image for both roles: `npm run gateway` and `npm run worker` (see docker-compose.yml).
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
EXPOSE 8080 11112
CMD ["npm", "run", "gateway"]
