/**
 * The risk limits an order must pass before anything is signed (DESIGN.md "Risk"), as one pure
 * check used twice: by the user actor when the trader asks (so the refusal comes at once, with
 * the limit and the numbers), and by the order gateway right before signing (so nothing that
 * reaches the chain can skip it). Amounts are exact decimals, never floats.
 */
export interface RiskLimits {
  /** Highest leverage per order, e.g. 50 (×). */
  readonly maxLeverage: number;
  /** Most collateral per order, decimal USDC. */
  readonly maxCollateralUsdc: string;
  /** Most notional (collateral × leverage) per order, decimal USDC. */
  readonly maxNotionalUsdc: string;
  /** Most positions (open or on their way) a trader may hold at once. */
  readonly maxOpenPositions: number;
}

export type RiskLimit = 'leverage' | 'collateral' | 'notional' | 'open-positions' | 'order';

export interface RiskRefusal {
  readonly limit: RiskLimit;
  /** For the trader: the limit, the order's number and the allowed one. */
  readonly message: string;
}

export interface RiskedOrder {
  /** Decimal USDC. */
  readonly collateral: string;
  readonly leverage: number;
}

/** Fixed point with 1e10 scale: enough for USDC (6 decimals) times leverage (up to 4 decimals). */
const SCALE = 10n ** 10n;
const DECIMAL = /^(\d{1,15})(?:\.(\d{1,10}))?$/;

function toFixed(text: string): bigint | null {
  const match = DECIMAL.exec(text);
  if (!match) return null;
  const [, whole = '0', fraction = ''] = match;
  return BigInt(whole) * SCALE + BigInt(fraction.padEnd(10, '0'));
}

function format(fixed: bigint): string {
  const whole = fixed / SCALE;
  const fraction = (fixed % SCALE).toString().padStart(10, '0').replace(/0+$/, '').slice(0, 6);
  return fraction ? `${whole}.${fraction}` : whole.toString();
}

/** The first limit the order breaks, or null when it passes them all. */
export function checkOrderRisk(order: RiskedOrder, openPositions: number, limits: RiskLimits): RiskRefusal | null {
  const collateral = typeof order.collateral === 'string' ? toFixed(order.collateral) : null;
  const leverage = Number.isFinite(order.leverage) && order.leverage > 0 ? toFixed(String(order.leverage)) : null;
  if (collateral === null || collateral <= 0n || leverage === null || leverage <= 0n) {
    return { limit: 'order', message: 'The order needs a positive collateral in USDC and a positive leverage.' };
  }
  if (openPositions >= limits.maxOpenPositions) {
    return { limit: 'open-positions', message: `You already hold ${openPositions} positions; the limit is ${limits.maxOpenPositions}. Close one to open another.` };
  }
  if (order.leverage > limits.maxLeverage) {
    return { limit: 'leverage', message: `Leverage ${order.leverage}x is above the limit of ${limits.maxLeverage}x.` };
  }
  const maxCollateral = toFixed(limits.maxCollateralUsdc);
  const maxNotional = toFixed(limits.maxNotionalUsdc);
  // A limit that does not read as a number must stop trading, never silently stop limiting.
  if (maxCollateral === null || maxNotional === null) return { limit: 'order', message: 'Trading is stopped: a risk limit is misconfigured. An operator must fix it.' };
  if (collateral > maxCollateral) {
    return { limit: 'collateral', message: `Collateral ${format(collateral)} USDC is above the limit of ${format(maxCollateral)} USDC per order.` };
  }
  const notional = (collateral * leverage) / SCALE;
  if (notional > maxNotional) {
    return {
      limit: 'notional',
      message: `Position size ${format(notional)} USDC (${format(collateral)} USDC × ${order.leverage}x) is above the limit of ${format(maxNotional)} USDC per order.`,
    };
  }
  return null;
}
