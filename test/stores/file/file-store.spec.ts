import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { systemClock } from '../../../core/clock.js'
import { silentLogger } from '../../../core/logger.js'
import { Taps } from '../../../core/taps.js'
import { fileStore, type FileStoreInit } from '../../../stores/file/index.js'
import { eventStoreConformance } from '../../conformance/event-store.js'

function fixture(init: Omit<FileStoreInit, 'dir'>) {
  return async () => {
    const dir = await mkdtemp(join(tmpdir(), 'anywhere-file-store-'))
    const open = fileStore({ dir, ...init })
    const components = {
      clock: systemClock(),
      logger: silentLogger(),
      taps: new Taps(),
      nodeId: 'node-a',
    }
    let store = open(components)
    await store.start()
    return {
      store,
      async reopen() {
        await store.stop()
        store = open(components)
        await store.start()
        return store
      },
      async cleanup() {
        await store.stop()
        await rm(dir, { recursive: true, force: true })
      },
    }
  }
}

eventStoreConformance('file store', fixture({}))

// Every read from disk, a segment roll every few records, a checkpoint after every commit,
// and write + fdatasync instead of O_DSYNC writes.
eventStoreConformance(
  'file store (no cache, tiny segments, checkpoint per commit, fdatasync)',
  fixture({ cacheEvents: 0, segmentBytes: 1024, checkpointEvery: 1, sync: 'fdatasync' }),
)
