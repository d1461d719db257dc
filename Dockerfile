# syntax=docker/dockerfile:1
# Vanta production image. Node runs the TypeScript sources directly (type stripping),
# so there is no build output: the image holds src/ and the runtime dependencies only.
ARG NODE_IMAGE=node:24-bookworm-slim

# ---- check: the image is built only from code that type-checks and lints --------------
FROM ${NODE_IMAGE} AS check
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run check && touch /app/.checked

# ---- runtime ---------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    OPS_HOST=0.0.0.0 \
    OPS_PORT=8080 \
    DATA_DIR=/app/data
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
# Runtime dependencies only. The pinned `node` package comes along but the image's own Node 24 runs the app.
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
# Depending on the check stage's marker makes BuildKit run that stage instead of skipping it.
COPY --from=check /app/.checked /tmp/.checked
COPY src ./src
# Operator commands run inside the container: npm run keys:rotate, npm run actors -- …
COPY scripts ./scripts
# Files stay root-owned and read-only for the app; only the data directory (PGlite, local keystore) is writable.
RUN mkdir -p /app/data && chown node:node /app/data
USER node
VOLUME ["/app/data"]
# 8080: /healthz, /readyz, /metrics. 8081: the inspector (needs INSPECTOR_HOST=0.0.0.0 and INSPECTOR_TOKEN to be reachable).
# 8082: the Telegram webhook (TELEGRAM_TRANSPORT=webhook). 8090: the sandbox's chat page.
EXPOSE 8080 8081 8082 8090
# main.ts closes every resource on SIGTERM within SHUTDOWN_GRACE_MS; give compose/k8s a longer grace period than that.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.OPS_PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "src/main.ts"]
