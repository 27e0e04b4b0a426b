#!/usr/bin/env node
// `npx anywhere-node`: the compiled CLI (dist/, built by `npm run build`, which `npm ci`
// and `npm pack` run) on plain node. ANYWHERE_NODE_FROM_SOURCE=1 runs the TypeScript
// sources through tsx instead: the test suite sets it, so a test never runs a stale build.
// libp2p needs Promise.withResolvers (Node 22+): the polyfill is imported first.
let main
if (process.env.ANYWHERE_NODE_FROM_SOURCE === '1') {
  const { register } = await import('tsx/esm/api')
  register()
  await import('../transports/libp2p/polyfill.ts')
  ;({ main } = await import('./cli.ts'))
} else {
  await import('../dist/transports/libp2p/polyfill.js')
  ;({ main } = await import('../dist/bin/cli.js'))
}
process.exitCode = await main(process.argv)
