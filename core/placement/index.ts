// Placement of actors over the nodes of a geo: what core/index.ts exports of it.
export type {
  ActorFencing,
  ActorPlacement,
  RemoteActors,
  RemoteAsk,
  RemoteReply,
} from './placement.js'
export { memberSeed, rendezvousOwner } from './rendezvous.js'
