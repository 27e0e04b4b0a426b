// Compile-time checks of defineConfig (run by `npm run typecheck`).
import { counter } from '../../actors/index.js'
import { defineConfig } from '../../node/index.js'

export const good = defineConfig({
  geo: 'eu-west',
  store: { kind: 'file', cacheEvents: 1024 },
  http: { port: 0, requestTimeoutMs: 5_000 },
  fabric: { listen: ['/ip4/127.0.0.1/tcp/7400'], peers: [], heartbeatMs: 500 },
  actors: [counter],
})

export const badStore = defineConfig({
  // @ts-expect-error: no such store kind
  store: { kind: 'mongo' },
})

export const badField = defineConfig({
  // @ts-expect-error: the file store has no field 'segmentSize'
  store: { kind: 'file', segmentSize: 10 },
})

export const badType = defineConfig({
  // @ts-expect-error: a port is a number
  http: { port: '8080' },
})
