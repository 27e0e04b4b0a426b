#!/usr/bin/env node
// `npx anywhere-node`: runs the TypeScript CLI through tsx's loader, so a clean clone
// needs no build step. libp2p needs Promise.withResolvers (Node 22+): polyfilled first.
import { register } from 'tsx/esm/api'

register()
await import('../transports/libp2p/polyfill.ts')
const { main } = await import('./cli.ts')
process.exitCode = await main(process.argv)
