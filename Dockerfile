# One image for both roles, gateway and worker (see docker-compose.yml).
# The viewer is built in a first stage with the development dependencies (Vite, Cornerstone3D);
# the runtime image has production dependencies only and the built viewer.
FROM node:20-bookworm-slim AS viewer
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY . .
RUN npm run build

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would build the viewer, which the first stage has done.
RUN npm ci --no-audit --no-fund --omit=dev --ignore-scripts
COPY . .
COPY --from=viewer /build/viewer/dist ./viewer/dist
EXPOSE 8080 11112
CMD ["node", "--import", "tsx", "gateway/main.ts", "--role=gateway"]
