import { cart } from './shopping-cart/index.js'

export { cart } from './shopping-cart/index.js'

/** The actors of the sample apps, served by a node started with no config. */
export const sampleActors = [cart] as const
