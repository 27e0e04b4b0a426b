// The file store's init: parsed once, defaults filled in, a bad field refused by name.
import assert from 'node:assert/strict'
import { ConfigError } from '../../../core/index.js'
import {
  FILE_STORE_DEFAULTS,
  fileStore,
  fileStoreInitSchema,
  MIN_SEGMENT_BYTES,
  parseFileStoreInit,
} from '../../../stores/file/index.js'

describe('file store: init', () => {
  it('fills in every default, also for a field given as undefined', () => {
    assert.deepEqual(parseFileStoreInit({ dir: '/d', segmentBytes: undefined }), {
      dir: '/d',
      ...FILE_STORE_DEFAULTS,
    })
  })

  it('keeps the fields it is given', () => {
    const init = {
      dir: '/d',
      segmentBytes: MIN_SEGMENT_BYTES,
      maxCommitBytes: 1,
      checkpointEvery: 7,
      cacheEvents: 0,
      verify: 'tail',
      sync: 'fdatasync',
    } as const
    assert.deepEqual(parseFileStoreInit(init), init)
    assert.deepEqual(fileStoreInitSchema.parse(init), init)
  })

  it('refuses a bad field with a ConfigError that names it, when the factory is called', () => {
    const refused = (init: unknown, field: string) =>
      assert.throws(
        () => fileStore(init as Parameters<typeof fileStore>[0]),
        (error: unknown) =>
          error instanceof ConfigError && error.message.includes(`file store options: ${field}:`),
      )
    refused({ dir: '/d', segmentBytes: MIN_SEGMENT_BYTES - 1 }, 'segmentBytes')
    refused({ dir: '/d', checkpointEvery: 0 }, 'checkpointEvery')
    refused({ dir: '/d', cacheEvents: 1.5 }, 'cacheEvents')
    refused({ dir: '/d', verify: 'some' }, 'verify')
    refused({ dir: '' }, 'dir')
  })
})
