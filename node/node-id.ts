// Where a node's id (its log id, the start of its origin) comes from: kept next to its events,
// or made afresh on every start of a memory-store node.
import { randomBytes } from 'node:crypto'
import { dirname } from 'node:path'
import { StoreCorruptError } from '../core/index.js'
import { writeFileDurably } from '../support/durable-file.js'
import { makeDirectory } from '../support/make-directory.js'
import { readSmallFile } from '../support/small-file.js'

/** The node-id file is not secret: readable by every user (for tools), writable by the owner. */
const NODE_ID_FILE_MODE = 0o644

/**
 * The node id (its origin) kept next to its events: with the file store, inside the store's
 * own directory, so a log that is emptied or replaced (as the corruption error advises)
 * takes its id with it and the node writes under a fresh origin; a reused origin would
 * restart at seq 1, and peers that hold those seqs would drop the new events as known.
 * Written durably (temp file, fsync, link), so a crash on first start leaves a whole id or none.
 */
export async function persistentNodeId(file: string, geo: string): Promise<string> {
  const existing = await readNodeId(file)
  if (existing) return existing
  await makeDirectory(dirname(file))
  const id = `${geo}-${randomBytes(4).toString('hex')}`
  try {
    // Linked, not renamed, into place: fails if another start won the race (or a torn empty file is there).
    await writeFileDurably(file, id + '\n', { mode: NODE_ID_FILE_MODE, overwrite: false })
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    const winner = await readNodeId(file)
    if (winner) return winner
    await writeFileDurably(file, id + '\n', { mode: NODE_ID_FILE_MODE }) // an empty file left by a crash: replace it
  }
  return (await readNodeId(file)) ?? id
}

/**
 * What a node id may be: what `persistentNodeId` writes (`<geo>-<8 hex digits>`) and other
 * short plain names. It starts the node's origin, which peers refuse past MAX_NAME_LENGTH
 * and whose last dot sets apart the PeerId: a node id that breaks either would have this
 * node write events no other geo takes.
 */
const NODE_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/
/** Most bytes read of a node-id file (an id is a few dozen). */
const MAX_NODE_ID_FILE_BYTES = 1024

async function readNodeId(file: string): Promise<string | undefined> {
  let text: string
  try {
    const bytes = await readSmallFile(file, MAX_NODE_ID_FILE_BYTES)
    if (typeof bytes === 'string') throw notANodeId(file, bytes)
    text = bytes.toString('utf8').trim()
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
  if (text === '') return undefined // a crash on first start left it empty
  if (!NODE_ID.test(text)) throw notANodeId(file, `it holds ${JSON.stringify(text.slice(0, 40))}`)
  return text
}

function notANodeId(file: string, why: string): StoreCorruptError {
  return new StoreCorruptError(
    `the node-id file ${file} does not hold a node id (${why}). Restore it from a backup, or ` +
      `remove it: the node then writes under a new origin (the events already in its log are kept).`,
    { file, offset: 0 },
  )
}

/** A memory store forgets its events: a fresh origin per start keeps seqs from ever being reused. */
export function ephemeralNodeId(geo: string): string {
  return `${geo}-mem-${randomBytes(4).toString('hex')}`
}
