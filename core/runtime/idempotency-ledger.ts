import { decode, encode } from '@msgpack/msgpack'
import { createHash } from 'node:crypto'
import { z } from 'zod'
import type { EventRecord } from '../event.js'

/**
 * Durable idempotency keys. A command sent with a key is recorded in the actor's own log: a
 * `$keyed` event, stamped before the command's events and appended with them, holds the
 * key, a fingerprint of the command, its reply and how many events the command emitted.
 * Every geo that folds the actor's events rebuilds the same ledger of keys from them, so a
 * retry on another geo, or on the same node after a crash, gets the first reply instead of
 * running the command again. When two geos ran one key during a partition, the fold keeps
 * the run whose `$keyed` event sorts first in merge order and passes over the other run's
 * events: every geo shows one effect after the heal.
 */
export const KEYED_EVENT = '$keyed'

/** Longest idempotency key (as given, with its scope) recorded. */
export const MAX_IDEMPOTENCY_KEY_LENGTH = 1024
/** How long a key is remembered, by default: measured between the stamps of its events. */
export const DEFAULT_IDEMPOTENCY_RETENTION_MS = 24 * 60 * 60 * 1000
/** How many keys one actor remembers, by default; its oldest are forgotten first. */
export const DEFAULT_IDEMPOTENCY_KEYS_PER_ACTOR = 1000
/** Most events a `$keyed` event may claim for its command (an append never carries more). */
const MAX_KEYED_EVENTS = 100_000

/** The payload of a `$keyed` event. `reply` is absent when the command replied undefined. */
export const keyedPayloadSchema = z
  .object({
    key: z.string().min(1).max(MAX_IDEMPOTENCY_KEY_LENGTH),
    fingerprint: z.string().min(1).max(64),
    events: z.number().int().nonnegative().max(MAX_KEYED_EVENTS),
    reply: z.unknown().optional(),
  })
  .strict()
export type KeyedPayload = z.infer<typeof keyedPayloadSchema>

/** What a command carries when it is sent with a key; `replayed` is set when its first reply is returned. */
export interface KeyedCommand {
  readonly key: string
  readonly fingerprint: string
  replayed: boolean
}

/** A digest of a command and its input: the same key with another one names another operation. */
export function commandFingerprint(command: string, input: unknown): string {
  return createHash('sha256')
    .update(command)
    .update('\u0000')
    .update(JSON.stringify(input) ?? '')
    .digest('base64url')
}

/** One remembered key: who ran it first in merge order, when, and its reply. */
export interface LedgerEntry {
  readonly origin: string
  /** The wall time (ms) of its `$keyed` event's stamp. */
  readonly at: number
  readonly fingerprint: string
  readonly reply: unknown
}

export interface LedgerSettings {
  readonly retentionMs: number
  readonly keysPerActor: number
}

/** What the fold does with one event, given the ledger. */
export type LedgerStep = 'apply' | 'recorded' | 'duplicate' | 'passed-over' | 'invalid'

/**
 * The keys an actor's events record, folded in merge order along with its state (pure and
 * deterministic: the same events give the same ledger in every geo with the same settings).
 */
export class IdempotencyLedger {
  /** By key, in the merge order of their first `$keyed` event (so the oldest is first). */
  private readonly entries: Map<string, LedgerEntry>
  /** Per origin: how many more of its events belong to a duplicate run and are passed over. */
  private readonly passing: Map<string, number>

  constructor(
    readonly settings: LedgerSettings,
    entries?: Iterable<[string, LedgerEntry]>,
    passing?: Iterable<[string, number]>,
  ) {
    this.entries = new Map(entries)
    this.passing = new Map(passing)
  }

  /**
   * Folds one event into the ledger: `apply` for an event the actor's state takes as usual;
   * every other step leaves the state as it is.
   */
  step(event: EventRecord): LedgerStep {
    if (event.type !== KEYED_EVENT) {
      const left = this.passing.get(event.origin)
      if (left === undefined) return 'apply'
      if (left <= 1) this.passing.delete(event.origin)
      else this.passing.set(event.origin, left - 1)
      return 'passed-over'
    }
    const parsed = keyedPayloadSchema.safeParse(event.payload)
    if (!parsed.success) return 'invalid'
    const { key, fingerprint, events, reply } = parsed.data
    const at = event.hlc.wall
    this.forgetBefore(at - this.settings.retentionMs)
    const known = this.entries.get(key)
    if (known && known.origin !== event.origin) {
      // Another geo ran this key first: this run's events are passed over.
      if (events > 0) this.passing.set(event.origin, events)
      return 'duplicate'
    }
    if (known) this.entries.delete(key)
    this.entries.set(key, { origin: event.origin, at, fingerprint, reply })
    while (this.entries.size > this.settings.keysPerActor)
      this.entries.delete(this.entries.keys().next().value as string)
    return 'recorded'
  }

  /** The entry of `key`, if it is still remembered at wall time `now`. */
  find(key: string, now: number): LedgerEntry | undefined {
    const entry = this.entries.get(key)
    return entry && entry.at >= now - this.settings.retentionMs ? entry : undefined
  }

  get size(): number {
    return this.entries.size
  }

  /** A copy that later steps of this one do not change (for checkpoints). */
  clone(): IdempotencyLedger {
    return new IdempotencyLedger(this.settings, this.entries, this.passing)
  }

  /** The bytes a snapshot keeps (msgpack). */
  toSnapshot(): Uint8Array {
    return encode([
      [...this.entries].map(([key, e]) =>
        // A reply of undefined is left out (msgpack would bring it back as null).
        e.reply === undefined
          ? [key, e.origin, e.at, e.fingerprint]
          : [key, e.origin, e.at, e.fingerprint, e.reply],
      ),
      [...this.passing],
    ])
  }

  /** The ledger a snapshot's bytes hold; throws on bytes `toSnapshot` did not write. */
  static fromSnapshot(settings: LedgerSettings, bytes: Uint8Array): IdempotencyLedger {
    const [entries, passing] = ledgerSnapshotSchema.parse(decode(bytes))
    return new IdempotencyLedger(
      settings,
      entries.map(([key, origin, at, fingerprint, reply]) => [
        key,
        { origin, at, fingerprint, reply },
      ]),
      passing,
    )
  }

  private forgetBefore(wall: number): void {
    for (const [key, entry] of this.entries) {
      if (entry.at >= wall) break
      this.entries.delete(key)
    }
  }
}

const ledgerSnapshotSchema = z.tuple([
  z.array(
    z.union([
      z.tuple([z.string(), z.string(), z.number(), z.string()]),
      z.tuple([z.string(), z.string(), z.number(), z.string(), z.unknown()]),
    ]),
  ),
  z.array(z.tuple([z.string(), z.number().int().positive()])),
])
