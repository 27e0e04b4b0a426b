import { z } from 'zod'
import { defineActor } from '../../core/actor.js'

/** Most distinct items in one cart and most of one item. */
export const MAX_CART_ITEMS = 200
export const MAX_ITEM_QUANTITY = 1_000

export interface CartState {
  readonly items: Readonly<Record<string, number>>
  readonly checkedOut: boolean
  /** Items added in another geo after the checkout (in the merge order): kept out of the order, recorded here. */
  readonly late: readonly string[]
}

const sku = z
  .string()
  .min(1)
  .max(64)
  .refine((s) => s !== '__proto__', "'__proto__' cannot be a SKU")

/**
 * A shopping cart. Its `apply` is deliberately order-dependent: once `checkedOut` sorts
 * before an `itemAdded`, that add is left out of the order and recorded as late. Every
 * geo folds the same events in the same order, so all geos agree on what was late.
 */
const emptyCart: CartState = { items: {}, checkedOut: false, late: [] }

export const cart = defineActor({
  type: 'cart',
  initialState: emptyCart,
  events: {
    itemAdded: z.object({ sku, quantity: z.number().int().positive() }),
    itemRemoved: z.object({ sku }),
    checkedOut: z.object({}),
  },
  apply: (state, event): CartState => {
    switch (event.type) {
      case 'itemAdded': {
        if (state.checkedOut) return { ...state, late: [...state.late, event.payload.sku] }
        const quantity = Math.min(
          MAX_ITEM_QUANTITY,
          (Object.hasOwn(state.items, event.payload.sku) ? state.items[event.payload.sku]! : 0) +
            event.payload.quantity,
        )
        return { ...state, items: { ...state.items, [event.payload.sku]: quantity } }
      }
      case 'itemRemoved': {
        if (state.checkedOut || !Object.hasOwn(state.items, event.payload.sku)) return state
        const items = { ...state.items }
        delete items[event.payload.sku]
        return { ...state, items }
      }
      case 'checkedOut':
        return { ...state, checkedOut: true }
    }
  },
  commands: (command) => ({
    add: command(
      z.strictObject({
        sku,
        quantity: z.number().int().positive().max(MAX_ITEM_QUANTITY).default(1),
      }),
      (ctx, input) => {
        if (ctx.state.checkedOut)
          return { accepted: false, reason: 'the cart is checked out', cart: ctx.state }
        if (
          !Object.hasOwn(ctx.state.items, input.sku) &&
          Object.keys(ctx.state.items).length >= MAX_CART_ITEMS
        )
          return {
            accepted: false,
            reason: `a cart holds at most ${MAX_CART_ITEMS} items`,
            cart: ctx.state,
          }
        ctx.emit('itemAdded', input)
        return { accepted: true, cart: ctx.state }
      },
    ),
    remove: command(z.strictObject({ sku }), (ctx, input) => {
      if (Object.hasOwn(ctx.state.items, input.sku) && !ctx.state.checkedOut)
        ctx.emit('itemRemoved', input)
      return { accepted: true, cart: ctx.state }
    }),
    checkout: command(z.strictObject({}), (ctx) => {
      if (ctx.state.checkedOut)
        return { accepted: false, reason: 'already checked out', cart: ctx.state }
      if (Object.keys(ctx.state.items).length === 0)
        return { accepted: false, reason: 'the cart is empty', cart: ctx.state }
      ctx.emit('checkedOut', {})
      return { accepted: true, cart: ctx.state }
    }),
  }),
})
