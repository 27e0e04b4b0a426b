// yamux's flow control, made to cost one window update per half window rather than one per
// data frame. @chainsafe/libp2p-yamux 8 answers every data frame a stream receives with a
// window update (notes: trap 4), and has no option to do otherwise; on a replication
// stream that is one more frame each way for every frame sent: the origin decrypts and
// parses one for each live batch it sends a peer, and encrypts and writes one for each ack
// it reads. Go's yamux (the reference) sends an update only once the receiver has consumed
// half its window; the sender may send up to the whole window without one, so nothing stalls.
import type { Stream } from '@libp2p/interface'

/** yamux's `StreamState.Established`: no SYN or ACK flag is owed on the next frame. */
const ESTABLISHED = 3

/** The fields of a @chainsafe/libp2p-yamux 8 stream this relies on (checked before use). */
interface YamuxStreamInternals {
  state: number
  recvWindow: number
  recvWindowCapacity: number
  sendWindowUpdate(): void
}

function isYamuxStream(stream: unknown): stream is YamuxStreamInternals {
  const s = stream as Partial<YamuxStreamInternals>
  return (
    typeof s.sendWindowUpdate === 'function' &&
    typeof s.recvWindow === 'number' &&
    typeof s.recvWindowCapacity === 'number' &&
    typeof s.state === 'number'
  )
}

/**
 * Makes `stream` (a yamux stream) send a window update only once less than half its receive
 * window is left, or when a flag is owed (the stream is not established yet). Returns false,
 * changing nothing, when the stream is not a yamux stream of the shape this knows (another
 * muxer, another yamux version): flow control then stays as the muxer does it.
 */
export function thinWindowUpdates(stream: Stream): boolean {
  if (!isYamuxStream(stream)) return false
  const yamuxStream: YamuxStreamInternals = stream
  const sendWindowUpdate = yamuxStream.sendWindowUpdate.bind(yamuxStream)
  yamuxStream.sendWindowUpdate = () => {
    if (
      yamuxStream.state === ESTABLISHED &&
      yamuxStream.recvWindowCapacity > yamuxStream.recvWindow / 2
    )
      return
    sendWindowUpdate()
  }
  return true
}
