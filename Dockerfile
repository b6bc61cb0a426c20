# The hub as a container. Debian-based on purpose: uWebSockets.js ships glibc
# binaries (on Alpine's musl it would fall back to its slow `ws` shim).
FROM node:20-bookworm-slim

WORKDIR /app
# Dependencies first, so code changes don't reinstall them. No install scripts:
# none is needed (esbuild runs from its platform package, bufferutil and
# utf-8-validate are optional), and older npm versions would otherwise run them.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund

COPY . .
RUN mkdir -p data && chown node:node data
USER node

ENV HUB_PORT=3000
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s \
  CMD node -e "fetch('http://127.0.0.1:' + process.env.HUB_PORT + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"
# What `npm start` runs, without npm in between: SIGTERM must reach the hub
# so it closes sockets (4503, clients resume elsewhere) and flushes ack cursors.
CMD ["node", "--import", "tsx", "hub/main.ts"]
