import type { KeyValue } from './kv.ts';

/**
 * Which message shows an order's progress ("⏳ Sending…"), so its notices edit that message in
 * place instead of piling up new ones. Kept a week; a notice for a forgotten card is sent as a
 * new message.
 */
export interface OrderCard {
  readonly chatId: number;
  readonly messageId: number;
}

const TTL_SECONDS = 7 * 24 * 3600;

export class OrderCards {
  readonly #kv: KeyValue;
  constructor(kv: KeyValue) {
    this.#kv = kv;
  }

  async set(positionId: string, card: OrderCard): Promise<void> {
    await this.#kv.set(`card:${positionId}`, JSON.stringify(card), TTL_SECONDS);
  }

  async get(positionId: string): Promise<OrderCard | null> {
    const raw = await this.#kv.get(`card:${positionId}`);
    return raw === null ? null : (JSON.parse(raw) as OrderCard);
  }
}
