// The sample app the default node serves: a shopping cart.
export { cart, MAX_CART_ITEMS, MAX_ITEM_QUANTITY } from './cart.js'
export type { CartState } from './cart.js'
