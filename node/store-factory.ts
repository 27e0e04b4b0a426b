// The store a node's config names, and where its node id lives beside it.
import { join, resolve } from 'node:path'
import type { EventStoreFactory } from '../core/index.js'
import { memoryStore } from '../stores/memory/index.js'
import type { StoreConfig } from './config.js'

/** Where the node id lives: with the file store, in the store's own directory (see persistentNodeId). */
export function nodeIdDir(store: StoreConfig, dataDir: string): string {
  return store.kind === 'file' ? fileStoreDir(store, dataDir) : dataDir
}

function fileStoreDir(store: Extract<StoreConfig, { kind: 'file' }>, dataDir: string): string {
  return resolve(store.dir ?? join(dataDir, 'events'))
}

/**
 * The store a config names. Its backend is loaded only now, when it is configured: a node
 * on the file store never loads ioredis. `members`: the node is one of a geo of several nodes
 * (else a Redis store holds its prefix for this node alone).
 */
export async function storeFactory(
  store: StoreConfig,
  dataDir: string,
  members = false,
): Promise<EventStoreFactory> {
  switch (store.kind) {
    case 'memory':
      return memoryStore()
    case 'file': {
      const { fileStore } = await import('../stores/file/index.js')
      const { kind: _kind, dir: _dir, ...tuning } = store
      return fileStore({ dir: fileStoreDir(store, dataDir), ...tuning })
    }
    case 'redis': {
      const { redisStore } = await import('../stores/redis/index.js')
      const { kind: _kind, ...init } = store
      // A node alone on its prefix holds it; a geo's nodes coordinate through membership.
      return redisStore(init, { soleNode: !members })
    }
  }
}
